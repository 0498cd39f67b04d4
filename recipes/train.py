"""Train a skill model from a recipe.

    accelerate launch recipes/train.py recipes/<model>/config_<variant>.yaml [--key value ...]

Reads top to bottom: recipe, seed and logging, data, model, video processor, train, evaluate, push.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import transformers
from accelerate.utils import set_seed

import surgical_skill
from surgical_skill.evaluation.evaluate import evaluate_run
from surgical_skill.models import build_model, build_video_processor
from surgical_skill.training import (
    apply_data_overrides,
    class_weights_for,
    clip_datasets,
    fit,
    label_info,
    load_data,
    make_accelerator,
    parse_recipe,
    save_recipe,
)

logger = logging.getLogger("train")


def main(argv: list[str] | None = None) -> int:
    # Recipe: YAML, then command-line overrides
    model_args, data_args, training_args = parse_recipe(argv)

    # Seed, logging, run folder
    set_seed(training_args.seed)  # weights, data order, augmentation and dropout all follow from it
    accelerator = make_accelerator(training_args)
    logging.basicConfig(
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        level=logging.INFO if accelerator.is_main_process else logging.WARNING,
    )
    transformers.utils.logging.set_verbosity_warning()
    logging.getLogger("accelerate").setLevel(logging.WARNING)  # one line per checkpoint file otherwise
    run_dir = Path(training_args.output_dir)
    if accelerator.is_main_process:
        run_dir.mkdir(parents=True, exist_ok=True)
        save_recipe(run_dir / "recipe.yaml", model_args, data_args, training_args)
    logger.info(
        "surgical-skill %s, %d process(es) on %s, mixed precision %s",
        surgical_skill.__version__,
        accelerator.num_processes,
        accelerator.device,
        accelerator.mixed_precision,
    )

    # Data: rows are paths and labels; frames are decoded only for the clips a batch needs
    data = load_data(data_args)
    labels = label_info(data)
    logger.info("data: %s", {name: len(split) for name, split in data.items()})

    # Model
    overrides = dict(model_args.model_config)
    for key in ("freeze_backbone", "backbone_pretrained", "dropout", "label_smoothing"):
        if getattr(model_args, key) not in (None, False, 0.0):
            overrides[key] = getattr(model_args, key)
    if model_args.class_weights == "auto":
        overrides["class_weights"] = class_weights_for(data["train"], labels["num_labels"])
    elif model_args.class_weights:
        overrides["class_weights"] = model_args.class_weights
    model = build_model(model_args.model_name_or_path, **labels, **overrides)
    logger.info("model: %s, %.2f M parameters", type(model).__name__, model.num_parameters() / 1e6)

    # Video processor: one definition of frames and sampling for training, evaluation and the pipeline
    processor = apply_data_overrides(
        build_video_processor(model_args.model_name_or_path, config=model.config), data_args
    )
    train, evaluation, clip_loader = clip_datasets(data, processor, data_args, seed=training_args.seed)

    # Train: the best model (by metric_for_best_model on validation) lands in <output_dir>/model
    result = fit(
        accelerator,
        model,
        processor,
        train,
        evaluation.get("validation"),
        training_args,
        clip_loader=clip_loader,
        num_workers=data_args.num_workers,
        max_decode_failure_share=data_args.max_decode_failure_share,
    )
    logger.info(
        "best %s %s at epoch %s; model in %s",
        training_args.metric_for_best_model,
        result.best_metric,
        result.best_epoch,
        result.model_dir,
    )

    # Evaluate the best model on the held-out test split: metrics with confidence intervals, plots, report.md
    if accelerator.is_main_process and "test" in data:
        report = evaluate_run(result.model_dir, data, data_args, run_dir / "eval")
        logger.info("test report: %s", report)

    # Push the model, its video processor and a model card
    if training_args.push_to_hub and accelerator.is_main_process:
        from surgical_skill.hub import push_run

        logger.info("pushed to %s", push_run(run_dir, training_args.hub_model_id))
    return 0


if __name__ == "__main__":
    sys.exit(main())
