"""One model-input path and one meaning of "a score model", for training, evaluation and the pipeline."""

import json
from pathlib import Path

import pytest
import torch
from transformers import PretrainedConfig, pipeline
from transformers.modeling_outputs import ImageClassifierOutput

from surgical_skill.data import ClipSampling
from surgical_skill.evaluation.evaluate import evaluate_model
from surgical_skill.evaluation.report import read_report, report_task
from surgical_skill.markup import markdown_inline
from surgical_skill.models import load_trained_video_processor
from surgical_skill.models.inputs import (
    accepts_frame_mask,
    clip_logits,
    is_regression_model,
    model_inputs,
    scores_from_logits,
)
from surgical_skill.testing_utils import make_test_video
from surgical_skill.video import FramesLostError, decode_frames, probe
from tests.evaluation.test_compare import write_report
from tests.video.test_decode import damage_middle


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


# ------------------------------------------------------------------------------------- damaged videos


@pytest.fixture(scope="module")
def damaged_video(tmp_path_factory):
    root = tmp_path_factory.mktemp("damaged_video")
    return damage_middle(make_test_video(root / "source.mp4", 48, keyframe_interval=12), root / "damaged.mp4")


def test_a_partly_damaged_video_is_scored_on_the_clips_that_decode_and_the_report_says_so(
    tiny_run, damaged_video, tmp_path
):
    model_dir, data = tiny_run
    unreadable = tmp_path / "unreadable.mp4"
    unreadable.write_bytes(Path(data["test"][1]["video"]).read_bytes()[:300])
    meta = probe(damaged_video)
    replaced = {0: {"video": str(damaged_video), "total_num_frames": 48, "fps": meta.fps, "height": 96,
                    "width": 128, "duration": meta.duration}, 1: {"video": str(unreadable)}}  # fmt: skip

    def swap(row, i):
        return {k: v for k, v in replaced.get(i, {}).items() if k in row}

    test = data["test"].map(swap, with_indices=True)
    processor = load_trained_video_processor(model_dir)  # the clips evaluate_model takes: the saved processor's
    windows = ClipSampling.from_video_processor(processor).windows(48, meta.fps, num_clips=6)
    clean = []
    for i, window in enumerate(windows):
        try:
            decode_frames(damaged_video, window)
            clean.append(i)
        except FramesLostError:
            pass
    assert 0 < len(clean) < 6  # the test needs both kinds of clip

    result = evaluate_model(
        model_dir, test, tmp_path / "report", clips_per_video=6, num_workers=0, bootstrap_samples=0
    )
    by_video = {p.video: p for p in result.predictions}
    assert str(unreadable) not in by_video and len(by_video) == len(test) - 1  # left out, and not scored
    partial = by_video[str(damaged_video)]
    assert (partial.clips_scored, partial.clips_asked) == (len(clean), 6) and partial.partly_scored
    assert partial.clip_seconds == [(windows[i][0] / meta.fps, (windows[i][-1] + 1) / meta.fps) for i in clean]
    assert all("could not be decoded: the file is damaged around" in e for e in partial.clip_errors)
    assert all(not p.partly_scored and p.clips_scored == 6 for v, p in by_video.items() if v != str(damaged_video))
    report = (tmp_path / "report" / "report.md").read_text()
    for text in (f"left out of every figure: {unreadable}", f"damaged.mp4: scored on {len(clean)} of 6 clips"):
        # the notes name files: report.md shows them as literal text (Markdown punctuation escaped)
        assert any(text in note for note in result.notes) and markdown_inline(text) in report


def test_the_pipeline_scores_the_clips_clear_of_a_damaged_stretch_and_says_so(tiny_run, damaged_video):
    model_dir, _ = tiny_run
    skill = pipeline("surgical-skill", model=str(model_dir))
    result = skill(str(damaged_video), num_clips=6)
    info = result["metadata"]
    assert info["clips"] == 6 - info["clips_dropped"] and 0 < info["clips_dropped"] < 6
    assert len(result["clips"]) == info["clips"] and info["lost_frames"] == sorted(info["lost_frames"])
    assert f"damaged.mp4: scored on {info['clips']} of 6 clips: frames " in info["warnings"][-1]
    (start, end), *_ = info["lost_seconds"]
    assert all(clip["end"] <= start or clip["start"] >= end for clip in result["clips"])  # no clip over the damage
    healthy = skill(str(damaged_video.parent / "source.mp4"), num_clips=6)["metadata"]
    assert healthy["clips"] == 6 and "lost_frames" not in healthy
