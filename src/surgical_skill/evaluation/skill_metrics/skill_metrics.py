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
Pearson, Spearman. ``add_batch`` accumulates; with ``num_process``/``process_id`` it gathers across processes.
"""

import datasets
import evaluate
import numpy as np

from surgical_skill.evaluation.metrics import classification_metrics, regression_metrics

_CITATION = ""
_DESCRIPTION = __doc__
_KWARGS_DESCRIPTION = """
Args:
    predictions: (N, num_classes) probabilities for classification, or N scores for regression.
    references: N class ids, or N true scores.
    threshold: for two classes, decide class 1 when p(class 1) >= threshold (default: argmax).
    per_class: include per-class precision, recall, specificity, F1 and support.
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
            ],
            reference_urls=["https://scikit-learn.org/stable/modules/model_evaluation.html"],
        )

    def _compute(self, predictions, references, threshold=None, per_class=False):
        predictions = np.asarray(predictions, dtype=np.float64)
        if predictions.ndim == 2:
            return classification_metrics(np.asarray(references, dtype=np.int64), predictions, threshold, per_class)
        return regression_metrics(references, predictions)
