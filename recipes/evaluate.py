"""Evaluate a trained model on a split of a skill dataset: metrics with confidence intervals, plots, report.md.

python recipes/evaluate.py --model runs/demo/model --dataset data/demo/metadata.csv --output_dir runs/demo/eval
"""

from __future__ import annotations

import argparse
import sys

import surgical_skill  # noqa: F401 - registers the model families with transformers
from surgical_skill.evaluation.evaluate import evaluate_run
from surgical_skill.training import DataArguments, load_data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a saved model folder (with its video processor) or Hub id")
    parser.add_argument("--dataset", required=True, help="manifest, folder or Hub dataset (as in training)")
    parser.add_argument("--split", default="test", help="which split to evaluate")
    parser.add_argument(
        "--split_ratios",
        type=float,
        nargs=3,
        default=[0.7, 0.15, 0.15],
        help="the training run's split ratios (same seed: same split)",
    )
    parser.add_argument("--split_seed", type=int, default=0)
    parser.add_argument("--eval_clips_per_video", type=int, default=8)
    parser.add_argument("--num_workers", type=int, default=2)
    parser.add_argument("--output_dir", required=True, help="report folder")
    args = parser.parse_args(argv)
    data_args = DataArguments(
        dataset=args.dataset,
        split_ratios=args.split_ratios,
        split_seed=args.split_seed,
        eval_clips_per_video=args.eval_clips_per_video,
        num_workers=args.num_workers,
    )
    evaluate_run(args.model, load_data(data_args), data_args, args.output_dir, split=args.split)
    return 0


if __name__ == "__main__":
    sys.exit(main())
