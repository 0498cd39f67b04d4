import importlib
import subprocess
import sys

import pytest

PACKAGES = ["surgical_skill", "surgical_skill.video", "surgical_skill.data"]


@pytest.mark.parametrize("package", PACKAGES)
def test_every_lazy_export_resolves(package):
    module = importlib.import_module(package)
    for name in module.__all__:
        assert getattr(module, name) is not None, f"{package}.{name}"
    assert set(module.__all__) <= set(dir(module))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        module.nope  # noqa: B018


def run_python(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_importing_the_package_registers_the_models_with_transformers():
    code = (
        "import surgical_skill\n"
        "from transformers import AutoConfig, AutoModelForVideoClassification\n"
        "config = AutoConfig.for_model('surgical_3d_cnn', backbone='small3d', small3d_channels=[4])\n"
        "print(type(AutoModelForVideoClassification.from_config(config)).__name__)"
    )
    assert run_python(code) == "Video3DCNNForVideoClassification"


def test_the_command_line_starts_without_torch():
    # `surgical-skill --help`, `probe`, `synth` and `prepare` do not need torch or transformers: the command
    # skips the registration at import and does it in the commands that use models.
    code = (
        "import sys; sys.argv[0] = '/usr/bin/surgical-skill'\n"
        "import surgical_skill.cli; surgical_skill.cli.build_parser(); print('torch' in sys.modules)"
    )
    assert run_python(code) == "False"
