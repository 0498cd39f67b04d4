"""``skill_metrics``: surgical-skill's evaluation metrics as an ``evaluate`` module that ships in the package.

    >>> import evaluate
    >>> from surgical_skill.evaluation import SKILL_METRICS_PATH
    >>> metric = evaluate.load(SKILL_METRICS_PATH)          # a local path: no network, ever
    >>> metric.compute(predictions=[[0.2, 0.8], [0.9, 0.1]], references=[1, 0])["accuracy"]
    1.0

Classification: ``predictions`` are per-class probabilities (N, num_classes), ``references`` class ids;
accuracy, balanced accuracy, precision/recall(sensitivity)/specificity/F1 (binary, macro, weighted, per
class), ROC-AUC (binary, one-vs-rest), average precision, Cohen's kappa (plain and quadratic), MCC, log loss,
Brier score, expected calibration error. Regression: ``predictions`` and ``references`` are scores; MAE, RMSE,
Pearson, Spearman. Several score targets (e.g. the OSATS items): ``predictions`` and ``references`` are (N, K)
scores, named with ``target_names=``; each target's metrics as ``"<name>/<metric>"``, their means and the
Fisher-z mean of the correlations. Ordered classes (skill levels): ``ordinal=True`` adds the Expected Cost and
the mean absolute class error to the classification metrics. ``add_batch`` accumulates; with
``num_process``/``process_id`` it gathers across processes.
"""

import datasets
import evaluate
import numpy as np

from surgical_skill.evaluation.metrics import (
    classification_metrics,
    multi_target_regression_metrics,
    ordinal_metrics,
    predict_labels,
    regression_metrics,
)

_CITATION = ""
_DESCRIPTION = __doc__
_KWARGS_DESCRIPTION = """
Args:
    predictions: (N, num_classes) probabilities for classification, N scores for regression, or (N, K) scores for
        K score targets.
    references: N class ids, N true scores, or (N, K) true scores (NaN: a missing rating, left out of its target).
    threshold: for two classes, decide class 1 when p(class 1) >= threshold (default: argmax).
    per_class: include per-class precision, recall, specificity, F1 and support.
    ordinal: the classes are ordered (skill levels): add expected_cost and mean_absolute_class_error.
    target_names: the K score targets' names (default target_0, ...).
Returns:
    A dict of metric name -> value (per-class metrics are lists).
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class SkillMetrics(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=[
                datasets.Features(
                    {
                        "predictions": datasets.Sequence(datasets.Value("float64")),
                        "references": datasets.Value("int64"),
                    }
                ),
                datasets.Features({"predictions": datasets.Value("float64"), "references": datasets.Value("float64")}),
                datasets.Features(
                    {
                        "predictions": datasets.Sequence(datasets.Value("float64")),
                        "references": datasets.Sequence(datasets.Value("float64")),
                    }
                ),
            ],
            reference_urls=["https://scikit-learn.org/stable/modules/model_evaluation.html"],
        )

    def _compute(self, predictions, references, threshold=None, per_class=False, ordinal=False, target_names=None):
        predictions = np.asarray(predictions, dtype=np.float64)
        references = np.asarray(references, dtype=np.float64)
        if references.ndim == 2:
            return multi_target_regression_metrics(references, predictions, target_names)
        if predictions.ndim == 2:
            labels = references.astype(np.int64)
            out = classification_metrics(labels, predictions, threshold, per_class)
            if ordinal:  # the same decisions as the classification metrics (argmax, or the threshold)
                decided = predict_labels(predictions, threshold)
                out.update(ordinal_metrics(labels, decided, num_classes=predictions.shape[1]))
            return out
        return regression_metrics(references, predictions)
