import importlib
import subprocess
import sys

import pytest

PACKAGES = [
    "surgical_skill",
    "surgical_skill.video",
    "surgical_skill.data",
    "surgical_skill.models",
    "surgical_skill.training",
    "surgical_skill.evaluation",
]


@pytest.mark.parametrize("package", PACKAGES)
def test_every_export_resolves(package):
    module = importlib.import_module(package)
    assert len(set(module.__all__)) == len(module.__all__), f"{package}.__all__ repeats a name"
    for name in module.__all__:
        assert getattr(module, name) is not None, f"{package}.{name}"
    assert set(module.__all__) <= set(dir(module))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        module.nope  # noqa: B018


def run_python(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_importing_the_package_registers_with_transformers_and_does_nothing_else():
    # Registration is the import's one side effect, the same however the process was started (the command's own
    # name once skipped it); no logging set-up, no warnings, and register() again is harmless.
    code = (
        "import sys, logging, warnings; sys.argv[0] = '/usr/bin/surgical-skill'\n"
        "warnings.simplefilter('error')\n"
        "import surgical_skill\n"
        "surgical_skill.register()\n"
        "from transformers import AutoConfig, AutoModelForVideoClassification\n"
        "from transformers.pipelines import PIPELINE_REGISTRY\n"
        "config = AutoConfig.for_model('surgical_3d_cnn', backbone='small3d', small3d_channels=[4])\n"
        "print(type(AutoModelForVideoClassification.from_config(config)).__name__,"
        " 'surgical-skill' in PIPELINE_REGISTRY.get_supported_tasks(),"
        " logging.getLogger().handlers, logging.getLogger().level == logging.WARNING)"
    )
    assert run_python(code) == "Video3DCNNForVideoClassification True [] True"
