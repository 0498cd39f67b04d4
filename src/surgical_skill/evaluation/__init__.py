"""Evaluation: metrics (also as the ``skill_metrics`` evaluate module), statistics, reports and plots."""

from pathlib import Path

from .metrics import (
    HEADLINE_CLASSIFICATION,
    HEADLINE_REGRESSION,
    aggregate_by_video,
    bootstrap_intervals,
    brier_score,
    classification_metrics,
    expected_calibration_error,
    headline_classification,
    predict_labels,
    regression_metrics,
    youden_threshold,
)

SKILL_METRICS_PATH = str(Path(__file__).parent / "skill_metrics")


def load_skill_metrics(**kwargs):
    """``evaluate.load`` of the package's ``skill_metrics`` module (a local path, so it never touches the Hub)."""
    import evaluate

    return evaluate.load(SKILL_METRICS_PATH, **kwargs)


__all__ = [
    "HEADLINE_CLASSIFICATION",
    "HEADLINE_REGRESSION",
    "SKILL_METRICS_PATH",
    "aggregate_by_video",
    "bootstrap_intervals",
    "brier_score",
    "classification_metrics",
    "expected_calibration_error",
    "headline_classification",
    "load_skill_metrics",
    "predict_labels",
    "regression_metrics",
    "youden_threshold",
]
