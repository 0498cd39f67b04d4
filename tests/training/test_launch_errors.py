"""A recipe mistake under `accelerate launch`: one message from the first process, named again as the root cause
of the launcher's summary, instead of one line per process and "To enable traceback see ..."."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.helpers import ROOT


def test_two_processes_print_a_recipe_mistake_once_and_the_launcher_names_it(tmp_path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        f"model_name_or_path: small3d\ndataset: data.csv\nnum_epochz: 2\noutput_dir: {tmp_path / 'run'}\n"
    )
    accelerate = Path(sys.executable).with_name("accelerate")
    result = subprocess.run(  # fails while parsing the recipe: the cost is the launcher's and processes' startup
        [
            str(accelerate),
            "launch",
            "--config_file",
            str(ROOT / "accelerate_configs" / "cpu_ddp.yaml"),
            str(ROOT / "recipes" / "train.py"),
            str(recipe),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "ACCELERATE_USE_CPU": "1", "PYTHONWARNINGS": "ignore"},
        cwd=ROOT,
    )
    assert result.returncode != 0
    printed = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(printed) == 1 and "unknown keys: 'num_epochz'" in printed[0], result.stderr[-3000:]
    root_cause = result.stderr.split("Root Cause")[-1]
    assert f"traceback : {printed[0]}" in root_cause, result.stderr[-3000:]
    assert "To enable traceback see" not in result.stderr
    assert not (tmp_path / "run").exists()
