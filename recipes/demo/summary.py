"""Print where the demo's results are and whether the model reached the demo's bar (85 % video-level accuracy
on held-out surgeons). Exits non-zero when it did not: then the data or the model is wrong, not the bar."""

from __future__ import annotations

import json
import sys
from pathlib import Path

GOAL = 0.85


def main(run_dir: str = "runs/demo") -> int:
    run = Path(run_dir)
    report = json.loads((run / "eval" / "metrics.json").read_text())
    accuracy = report["metrics"]["accuracy"]
    low, high = report["confidence_intervals_95"]["accuracy"]
    print()
    print(f"model:          {run / 'model'}  (load with pipeline('surgical-skill', model=...))")
    print(f"report:         {run / 'eval' / 'report.md'}  (plots beside it)")
    print(f"training log:   {run / 'training_history.json'}, TensorBoard in {run}")
    print(f"new videos:     {run / 'predictions'}  (timelines and predictions.json)")
    print(f"test accuracy:  {accuracy:.1%} on {report['videos']} held-out videos (95 % CI {low:.1%} to {high:.1%})")
    met = accuracy >= GOAL
    print(f"demo goal:      {GOAL:.0%} video-level accuracy: {'met' if met else 'NOT met'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
