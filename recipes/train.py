"""Train a skill model from a recipe.

    accelerate launch recipes/train.py recipes/<model>/config_<variant>.yaml [--key value ...]

Reads top to bottom: recipe, seed and logging, data, then for the run (or for each cross-validation fold):
model, video processor, train, evaluate; then the cross-validation summary and the push to the Hub.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys
import time
from pathlib import Path

import transformers
from accelerate import PartialState
from accelerate.utils import set_seed
from torch.distributed.elastic.multiprocessing.errors import record

import surgical_skill
from surgical_skill.errors import (
    INTERRUPTED_EXIT_CODE,
    USAGE_EXIT_CODE,
    SurgicalSkillError,
    debug_enabled,
    run_reporting_errors,
)
from surgical_skill.evaluation.evaluate import evaluate_run, load_report
from surgical_skill.hub import push_run
from surgical_skill.training import (
    RecipeError,
    TrainingInterrupted,
    check_resume,
    check_resumed_data,
    check_run_is_free,
    checkpoints_in,
    claim_output_dir,
    cross_validation_folds,
    cross_validation_headline,
    hold_run,
    load_data,
    make_accelerator,
    parse_recipe,
    protocol_description,
    record_fold,
    resolve_checkpoint,
    resume_command,
    save_recipe,
    summarize_cross_validation,
    train,
    write_split_record,
)
from surgical_skill.training.data_setup import video_sources

logger = logging.getLogger("train")


def train_and_evaluate(accelerator, model_args, data_args, training_args, data, protocol=""):
    """Model, video processor, training and (for a ``test`` split) the evaluation report of one run or fold."""
    if accelerator.is_main_process:  # which surgeons went where: `surgical-skill evaluate` holds the run to it
        write_split_record(training_args.output_dir, data, data_args)

    # Model, video processor (one definition of frames and sampling for training, evaluation and the pipeline),
    # clips, and training: the best model (by metric_for_best_model on validation) lands in <output_dir>/model
    result = train(model_args, data_args, training_args, data=data, accelerator=accelerator).result
    logger.info(
        "best %s %s at epoch %s; model in %s",
        training_args.metric_for_best_model,
        result.best_metric,
        result.best_epoch,
        result.model_dir,
    )

    # Decision threshold chosen on validation and saved with the model; then the held-out test split: metrics
    # with confidence intervals beside the static baselines (duration, file size, single frames), plots, report.md
    if accelerator.is_main_process and "test" in data:
        return evaluate_run(
            result.model_dir,
            data,
            Path(training_args.output_dir) / "eval",
            clips_per_video=data_args.eval_clips_per_video,
            num_workers=data_args.num_workers,
            baselines=data_args.static_baselines,
            protocol=protocol,
            **video_sources(data_args),  # the evaluation opens the videos under the rules training did
        )
    return None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        return train_recipe(argv)
    except TrainingInterrupted as stop:  # Ctrl-C: a checkpoint is saved; say how to go on from it
        state = PartialState()
        script = sys.argv[0] if Path(sys.argv[0]).name == "train.py" else "recipes/train.py"
        if state.is_main_process:
            print(
                f"interrupted at step {stop.step}; checkpoint saved in {stop.checkpoint}. Continue with:\n"
                f"  {resume_command(argv, state.num_processes, script)}",
                file=sys.stderr,
            )
        return INTERRUPTED_EXIT_CODE


def train_recipe(argv: list[str]) -> int:
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
    check_run_is_free(run_dir)  # another live process writing this run (e.g. one not coordinated with this one)
    claim_output_dir(  # an earlier run is never replaced unasked (every process checks, one deletes)
        run_dir,
        overwrite=training_args.overwrite_output_dir,
        resume=bool(training_args.resume_from_checkpoint),
        remove=accelerator.is_main_process,
    )
    resume = training_args.resume_from_checkpoint
    if resume:  # the same run, or refused before anything in it is written
        if not data_args.cv:
            resolve_checkpoint(run_dir, resume)  # one to resume from
        for change in check_resume(run_dir, model_args, data_args, training_args):
            logger.info("resuming with %s", change)
    accelerator.wait_for_everyone()
    with hold_run(run_dir, active=accelerator.is_main_process):  # a second process writing this run is refused
        logger.info(
            "surgical-skill %s, %d process(es) on %s, mixed precision %s",
            surgical_skill.__version__,
            accelerator.num_processes,
            accelerator.device,
            accelerator.mixed_precision,
        )

        # Data: rows are paths and labels; frames are decoded only for the clips a batch needs
        data = load_data(data_args)
        logger.info("data: %s", {name: len(split) for name, split in data.items()})
        folds = [(run_dir / f, d) for f, d in cross_validation_folds(data, data_args)] if data_args.cv else []
        if resume:  # refused if the data changed; the splits the run began with if this version splits otherwise
            folds = check_resumed_data(folds or [(run_dir, data)], data_args)
            if not data_args.cv:
                data = folds[0][1]
        if accelerator.is_main_process:  # only now: data a mistake refuses leaves no run behind to be refused again
            save_recipe(run_dir / "recipe.yaml", model_args, data_args, training_args)
        if not data_args.cv:
            train_and_evaluate(accelerator, model_args, data_args, training_args, data)
        else:
            # Cross-validation: one model per fold in <output_dir>/<fold>, then a summary in <output_dir>/cv
            results = {}
            if resume not in (None, "latest"):
                raise RecipeError(
                    "with cross-validation, resume_from_checkpoint can only be 'latest' (every fold resumes)"
                )
            protocol = protocol_description(data_args)
            for fold_dir, fold_data in folds:
                fold = fold_dir.name
                logger.info("cross-validation %s: %s", fold, {name: len(split) for name, split in fold_data.items()})
                sentence = record_fold(protocol, fold, fold_data, data_args)  # the protocol, as its report states it
                if resume and (fold_dir / "eval" / "metrics.json").exists():  # finished before the stop
                    results[fold] = load_report(fold_dir / "eval")
                    continue
                fold_args = dataclasses.replace(
                    training_args,
                    output_dir=str(fold_dir),
                    resume_from_checkpoint=resume if checkpoints_in(fold_dir) else None,
                )
                accelerator.free_memory()
                accelerator = make_accelerator(fold_args)  # fresh trackers and checkpoint registry per fold
                results[fold] = train_and_evaluate(accelerator, model_args, data_args, fold_args, fold_data, sentence)
            if accelerator.is_main_process:
                summary = summarize_cross_validation(
                    results, run_dir / "cv", seed=training_args.seed, protocol=protocol
                )
                print(cross_validation_headline(summary, run_dir / "cv"))

        # Push the model, its video processor and a model card
        if training_args.push_to_hub and data_args.cv:
            logger.warning("push_to_hub skipped: cross-validation trains one model per fold; push a run without cv")
        elif training_args.push_to_hub and accelerator.is_main_process:
            try:
                logger.info("pushed to %s", push_run(run_dir, training_args.hub_model_id))
            except Exception as err:  # the model and report are saved: say why, and how to push them later
                logger.error(
                    "%s: %s (push later with `surgical-skill push %s --repo-id ...`)", type(err).__name__, err, run_dir
                )
                return 1
        return 0


LET_FIRST_PROCESS_PRINT_S = 5.0


def told_once(main):
    """``main`` as the launcher's processes should report a user's mistake: every process leaves the one-line
    message in torch elastic's error file (TORCHELASTIC_ERROR_FILE), so the failure summary of `accelerate launch`
    shows it as the root cause, and only the first process prints it."""

    def run():
        try:
            return main()
        except SurgicalSkillError as err:
            if os.environ.get("TORCHELASTIC_ERROR_FILE"):
                Path(os.environ["TORCHELASTIC_ERROR_FILE"]).write_text(
                    json.dumps({"message": f"error: {err}", "timestamp": int(time.time())})
                )
            if int(os.environ.get("RANK", "0")) > 0 and not debug_enabled():
                # the launcher stops every process as soon as one exits with an error: leave the first process
                # (which meets the same mistake) time to print the line before this exit gets it killed
                time.sleep(LET_FIRST_PROCESS_PRINT_S)
                return USAGE_EXIT_CODE
            raise

    return run


if __name__ == "__main__":
    # A mistake the user can fix (a recipe key, a data file, a run folder) is one line and exit code 2;
    # SURGICAL_SKILL_DEBUG=1 shows its traceback. A bug keeps its traceback, which `record` also leaves in the
    # error file the launcher's summary shows.
    sys.exit(record(run_reporting_errors)(told_once(main)))
