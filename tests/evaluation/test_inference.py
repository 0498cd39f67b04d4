"""One model-input path and one meaning of "a score model", for training, evaluation and the pipeline."""

import json

import pytest
import torch
from transformers import PretrainedConfig
from transformers.modeling_outputs import ImageClassifierOutput

from surgical_skill.evaluation.report import read_report, report_task
from surgical_skill.models.inputs import (
    accepts_frame_mask,
    clip_logits,
    is_regression_model,
    model_inputs,
    scores_from_logits,
)
from tests.evaluation.test_compare import write_report


class _Clips(torch.nn.Module):
    """Logits from the mean of each clip's real frames (all frames when no mask is given)."""

    main_input_name = "pixel_values"

    def __init__(self, outputs: int = 2):
        super().__init__()
        self.head = torch.nn.Linear(1, outputs)

    def forward(self, pixel_values, frame_mask=None):
        per_frame = pixel_values.flatten(2).mean(-1)  # (B, T)
        if frame_mask is not None:
            per_frame = (per_frame * frame_mask).sum(1) / frame_mask.sum(1)
        else:
            per_frame = per_frame.mean(1)
        return ImageClassifierOutput(logits=self.head(per_frame[:, None]))


class _NoMask(_Clips):
    def forward(self, pixel_values):
        return super().forward(pixel_values)


@pytest.mark.parametrize(
    ("settings", "regression"),
    [
        ({"num_labels": 1}, True),  # a folder saved before problem_type was written
        ({"num_labels": 3}, False),
        ({"num_labels": 1, "problem_type": "regression"}, True),
        ({"num_labels": 3, "problem_type": "regression"}, True),  # several named scores
        ({"num_labels": 2, "problem_type": "single_label_classification"}, False),
    ],
)
def test_a_score_model_is_told_by_its_problem_type(settings, regression):
    config = PretrainedConfig(**settings)
    if "problem_type" not in settings:
        config.problem_type = None
    assert is_regression_model(config) is regression
    assert is_regression_model(config.to_dict()) is regression  # config.json as read from a model folder


def test_frame_mask_goes_only_to_models_that_take_it():
    clips = torch.rand(2, 4, 3, 8, 8)
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]], dtype=torch.bool)
    assert set(model_inputs(_Clips(), clips, mask)) == {"pixel_values", "frame_mask"}
    assert set(model_inputs(_NoMask(), clips, mask)) == {"pixel_values"}
    assert set(model_inputs(_Clips(), clips)) == {"pixel_values"}
    wrapped = torch.nn.DataParallel(_Clips())  # a wrapper's forward is (*inputs, **kwargs): look inside
    assert accepts_frame_mask(wrapped) and set(model_inputs(wrapped, clips, mask)) == {"pixel_values", "frame_mask"}


def test_clips_are_cast_to_the_model_dtype():
    model = _Clips().to(torch.bfloat16)
    model.dtype = torch.bfloat16  # as PreTrainedModel.dtype says
    inputs = model_inputs(model, torch.rand(1, 2, 3, 4, 4), torch.ones(1, 2, dtype=torch.bool))
    assert inputs["pixel_values"].dtype == torch.bfloat16 and inputs["frame_mask"].dtype == torch.bool


def test_clip_logits_in_batches_equal_one_pass_and_honour_the_mask():
    torch.manual_seed(0)
    model = _Clips().eval()
    clips = torch.rand(5, 4, 3, 8, 8)
    mask = torch.ones(5, 4, dtype=torch.bool)
    mask[0, 2:] = False
    whole = clip_logits(model, clips, mask)
    assert whole.dtype == torch.float32 and whole.shape == (5, 2) and not whole.requires_grad
    torch.testing.assert_close(clip_logits(model, clips, mask, batch_size=2), whole)
    torch.testing.assert_close(whole[0], model(clips[:1, :2]).logits[0].float())  # padding frames ignored


def test_scores_from_logits_follow_the_task():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    probabilities = scores_from_logits(logits, PretrainedConfig(num_labels=2))
    torch.testing.assert_close(probabilities.sum(-1), torch.ones(2))
    scores = scores_from_logits(
        torch.tensor([[3.5], [1.0]]), PretrainedConfig(num_labels=1, problem_type="regression")
    )
    assert scores.tolist() == [[3.5], [1.0]]


def test_a_report_says_its_task_and_old_reports_still_read(tmp_path):
    assert report_task(["score"]) == "regression" and report_task(["lo", "hi"]) == "classification"
    old = write_report(tmp_path / "old", ["a.mp4", "b.mp4"], ["s1", "s2"], [1.0, 2.0], [1.5, 2.5], names=["score"])
    assert read_report(old).regression  # written before metrics.json said "task"
    named = write_report(tmp_path / "grs", ["a.mp4"], ["s1"], [1.0], [1.5], names=["score"])
    meta = json.loads((named / "metrics.json").read_text())
    meta["task"], meta["labels"] = "regression", ["GRS"]  # the recorded task decides, not the label's name
    (named / "metrics.json").write_text(json.dumps(meta))
    assert read_report(named).regression
    meta["task"] = "ranking"
    (named / "metrics.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="task must be 'classification' or 'regression'"):
        read_report(named)
