"""Evaluate a trained model on a split of a skill dataset: metrics with confidence intervals, plots, report.md.

    python recipes/evaluate.py runs/demo --output_dir runs/demo/eval-again

The same as `surgical-skill evaluate` (one definition of the options: `--help` lists them), spelled as the
recipes spell keys.
"""

from __future__ import annotations

import sys

from surgical_skill.cli import main

if __name__ == "__main__":
    sys.exit(main(["evaluate", *sys.argv[1:]]))
