"""Evaluation: metrics (also as the ``skill_metrics`` evaluate module), statistics, inference, reports and plots."""

from pathlib import Path

from .agreement import icc_2_1, krippendorff_alpha, metrics_against_raters, pairwise_spearman, rater_agreement
from .baselines import StaticBaselines, static_baselines
from .compare import ComparisonResult, compare_reports, mcnemar_test, paired_bootstrap
from .metrics import (
    HEADLINE_CLASSIFICATION,
    HEADLINE_REGRESSION,
    absolute_class_costs,
    aggregate_by_video,
    bootstrap_intervals,
    brier_score,
    classification_metrics,
    expected_calibration_error,
    expected_cost,
    fisher_z_mean,
    headline_classification,
    headline_intervals,
    multi_target_intervals,
    multi_target_regression_metrics,
    ordinal_metrics,
    predict_labels,
    proportion_interval,
    regression_metrics,
    resample_indices,
    youden_threshold,
)
from .report import EvaluationResult, SavedReport, load_report, read_report

SKILL_METRICS_PATH = str(Path(__file__).parent / "skill_metrics")


def load_skill_metrics(**kwargs):
    """``evaluate.load`` of the package's ``skill_metrics`` module (a local path, so it never touches the Hub)."""
    # imported here: at module level the name `evaluate` would be rebound to this package's evaluate submodule
    import evaluate

    return evaluate.load(SKILL_METRICS_PATH, **kwargs)


__all__ = [
    "HEADLINE_CLASSIFICATION",
    "HEADLINE_REGRESSION",
    "SKILL_METRICS_PATH",
    "ComparisonResult",
    "EvaluationResult",
    "SavedReport",
    "StaticBaselines",
    "absolute_class_costs",
    "aggregate_by_video",
    "bootstrap_intervals",
    "brier_score",
    "classification_metrics",
    "compare_reports",
    "expected_calibration_error",
    "expected_cost",
    "fisher_z_mean",
    "headline_classification",
    "headline_intervals",
    "icc_2_1",
    "krippendorff_alpha",
    "load_report",
    "load_skill_metrics",
    "mcnemar_test",
    "metrics_against_raters",
    "multi_target_intervals",
    "multi_target_regression_metrics",
    "ordinal_metrics",
    "paired_bootstrap",
    "pairwise_spearman",
    "predict_labels",
    "proportion_interval",
    "rater_agreement",
    "read_report",
    "regression_metrics",
    "resample_indices",
    "static_baselines",
    "youden_threshold",
]
