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


def test_importing_the_package_and_the_cli_does_not_load_torch():
    # `surgical-skill --help` and `surgical-skill probe` start fast because nothing heavy loads until used
    code = "import sys, surgical_skill.cli; surgical_skill.cli.build_parser(); print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "False", result.stderr
