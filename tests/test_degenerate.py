"""Degenerate inputs, end to end: a video too short for a model's clips is refused in one line; one shorter than a
clip is used with a warning that names it; a video at another frame rate than training's gets a warning; and each
of these reaches the user (pipeline metadata, the `predict` command, the dataset transform, training's log and the
evaluation report). The policy itself is tested in tests/video/test_sampling.py."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from surgical_skill.data import ClipDecoder, ClipSampling, ClipTransforms, clip_input_warnings, load_skill_dataset
from surgical_skill.evaluation.evaluate import evaluate_model
from surgical_skill.models import build_model, build_video_processor, record_training_fps
from surgical_skill.pipeline import run_inference
from surgical_skill.testing_utils import make_test_video
from surgical_skill.training import DataArguments, apply_data_overrides, clip_datasets
from surgical_skill.video import VideoDecodeError, VideoTooShortError
from tests.helpers import TINY_SMALL3D, run_cli, write_manifest

LABELS = {0: "lower-skilled", 1: "higher-skilled"}


@pytest.fixture(scope="module")
def short_videos(tmp_path_factory):
    """Tiny h264 files: 1, 3 and 5 frames at 15 fps, 30 frames at 15 and at 30 fps."""
    root = tmp_path_factory.mktemp("degenerate")
    sizes = {"one_frame": (1, 15), "three_frames": (3, 15), "five_frames": (5, 15), "ok": (30, 15), "fast": (30, 30)}
    return {
        name: make_test_video(root / f"{name}.mp4", frames, fps=fps, height=48, width=64, seed=i)
        for i, (name, (frames, fps)) in enumerate(sizes.items())
    }


@pytest.fixture(scope="module")
def eight_frame_model(tmp_path_factory):
    """A random-init small3d on 8-frame clips, saved as training saves one but without the training frame rates
    (as in folders saved before they were recorded)."""
    folder = tmp_path_factory.mktemp("eight_frames")
    model = build_model("small3d", num_labels=2, id2label=LABELS, **TINY_SMALL3D)
    args = DataArguments(num_frames=8, sampling_strategy="clip", image_size=32, crop_size=32)
    processor = apply_data_overrides(build_video_processor("small3d", config=model.config), args)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


@pytest.mark.parametrize(("name", "frames"), [("one_frame", 1), ("three_frames", 3)])
def test_very_few_frames_are_refused_in_one_line_naming_file_frames_and_clip(
    eight_frame_model, short_videos, name, frames
):
    with pytest.raises(VideoTooShortError) as caught:
        run_inference(eight_frame_model, short_videos[name])
    message = str(caught.value)
    assert "\n" not in message and f"{name}.mp4" in message
    assert f"{frames} frame" in message and "8-frame clips" in message and "at least 4" in message
    assert isinstance(caught.value, VideoDecodeError)  # skipped and reported like an unreadable file


def test_a_video_shorter_than_a_clip_is_scored_from_one_clip_with_warnings(eight_frame_model, short_videos, caplog):
    with caplog.at_level(logging.WARNING, logger="surgical_skill.pipeline"):
        result = run_inference(eight_frame_model, short_videos["five_frames"], num_clips=8)
    warnings = result["metadata"]["warnings"]
    assert result["metadata"]["clips"] == len(result["clips"]) == 1  # not "8 clips" that are all the same
    assert any("5 frames, shorter than one clip (8 frames" in w and "5 distinct of 8" in w for w in warnings)
    assert any("8 clips asked, 1 distinct" in w for w in warnings)
    assert all(w in caplog.text for w in warnings)
    assert all("five_frames.mp4" in w for w in warnings)
    # a model folder without the training frame rates (older releases) warns about no frame rate
    assert not any("fps" in w for w in run_inference(eight_frame_model, short_videos["fast"])["metadata"]["warnings"])


def test_a_list_skips_a_too_short_video_as_an_error_record(eight_frame_model, short_videos):
    from transformers import pipeline

    skill = pipeline("surgical-skill", model=str(eight_frame_model))
    results = skill([str(short_videos["one_frame"]), str(short_videos["ok"])], num_clips=2, errors="skip")
    assert set(results[0]) == {"video", "error"} and "1 frame, too few" in results[0]["error"]
    assert results[1]["label"] and results[1]["metadata"]["warnings"] == []


def test_training_records_its_frame_rate_and_a_faster_video_is_warned_about(tiny_run, short_videos):
    model_dir = Path(tiny_run[0])
    saved = json.loads((model_dir / "video_preprocessor_config.json").read_text())
    assert saved["training_fps"] == 15.0 and saved["training_fps_range"] == [15.0, 15.0]  # the synthetic videos
    fast = run_inference(model_dir, short_videos["fast"], num_clips=2)["metadata"]["warnings"]
    assert len(fast) == 1 and "30 fps, but the model was trained on 15 fps videos" in fast[0]
    assert "fast.mp4" in fast[0] and "0.13 s here against 0.27 s" in fast[0]  # 4 frames at 30 vs 15 fps
    assert run_inference(model_dir, short_videos["ok"], num_clips=2)["metadata"]["warnings"] == []


def test_predict_command_refuses_warns_and_records(tiny_run, short_videos, tmp_path):
    model_dir = Path(tiny_run[0])
    videos = [short_videos[name] for name in ("one_frame", "three_frames", "fast", "ok")]
    out = tmp_path / "results.json"
    result = run_cli("predict", *videos, "--model", model_dir, "--num-clips", "4", "--json", out)
    assert result.returncode == 1, result.stderr  # one video refused, the others scored
    lines = result.stdout.splitlines()
    refused = next(line for line in lines if line.startswith("one_frame.mp4"))
    assert "ERROR 1 frame, too few for its 4-frame clips" in refused
    assert any("warning: " in line and "three_frames.mp4: 3 frames, shorter than one clip" in line for line in lines)
    assert any(
        "warning: " in line and "fast.mp4: 30 fps, but the model was trained on 15 fps" in line for line in lines
    )
    assert "WARNING" not in result.stderr  # printed once, with the results, not logged again
    results = json.loads(out.read_text())
    assert [bool(r["metadata"]["warnings"]) for r in results[1:]] == [True, True, False]
    assert results[1]["metadata"]["clips"] == 1  # a 3-frame video gives one distinct 4-frame clip


@pytest.fixture(scope="module")
def degenerate_data(short_videos, tmp_path_factory):
    rows = [
        {"video": str(short_videos[name]), "label": label, "subject": f"s{i}"}
        for i, (name, label) in enumerate(
            [
                ("one_frame", "lower-skilled"),
                ("three_frames", "higher-skilled"),
                ("ok", "lower-skilled"),
                ("fast", "higher-skilled"),
            ]
        )
    ]
    manifest = write_manifest(tmp_path_factory.mktemp("manifest") / "ratings.csv", rows)
    return load_skill_dataset(manifest, split_ratios=None, label_names=list(LABELS.values()))["train"]


def test_dataset_transform_leaves_out_a_too_short_video_and_repeats_a_short_ones_frames(tiny_run, degenerate_data):
    from transformers import AutoVideoProcessor

    processor = AutoVideoProcessor.from_pretrained(tiny_run[0])
    sampling = ClipSampling.from_video_processor(processor)
    decoder = ClipDecoder(sampling, ClipTransforms.from_video_processor(processor, training=True), training=True)
    rows = degenerate_data.with_transform(decoder)
    by_name = {row["video"].rsplit("/", 1)[-1]: row for row in rows}
    assert by_name["one_frame.mp4"]["pixel_values"] is None
    assert "1 frame, too few for its 4-frame clips" in by_name["one_frame.mp4"]["decode_error"]
    assert by_name["three_frames.mp4"]["pixel_values"].shape == (4, 3, 32, 32)
    warnings = clip_input_warnings(degenerate_data, sampling)
    assert len(warnings) == 3
    assert (
        warnings[0].startswith("1 of 4 videos are too short for 4-frame clips")
        and "one_frame.mp4 (1 frames)" in warnings[0]
    )
    assert (
        warnings[1].startswith("1 of 4 videos are shorter than one clip")
        and "three_frames.mp4 (3 frames)" in warnings[1]
    )
    assert warnings[2].startswith("1 of 4 videos have another frame rate than the training videos' 15 fps")
    assert "fast.mp4 (30 fps)" in warnings[2]


def test_training_logs_the_degenerate_videos_once_per_split(tiny_run, degenerate_data, caplog):
    from datasets import DatasetDict
    from transformers import AutoVideoProcessor

    processor = AutoVideoProcessor.from_pretrained(tiny_run[0])
    with caplog.at_level(logging.WARNING, logger="surgical_skill.training"):
        clip_datasets(DatasetDict(train=degenerate_data), processor, DataArguments(), seed=0)
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("surgical_skill.training")]
    assert len(messages) == 3 and all(m.startswith("train split: 1 of 4 videos") for m in messages)


def test_evaluation_leaves_out_too_short_videos_and_says_so_in_the_report(tiny_run, degenerate_data, tmp_path):
    from transformers import AutoVideoProcessor

    processor = AutoVideoProcessor.from_pretrained(tiny_run[0])  # as evaluate_run loads it
    result = evaluate_model(
        tiny_run[0],
        degenerate_data,
        tmp_path / "report",
        processor=processor,
        bootstrap_samples=0,
        num_workers=0,
        clips_per_video=2,
    )
    assert sorted(p.video.rsplit("/", 1)[-1] for p in result.predictions) == [
        "fast.mp4",
        "ok.mp4",
        "three_frames.mp4",
    ]
    report = (tmp_path / "report" / "report.md").read_text()
    for expected in ("too short for 4-frame clips", "shorter than one clip", "another frame rate"):
        assert any(expected in note for note in result.notes) and expected in report


def test_record_training_fps_keeps_median_and_range_and_skips_unknown_rates(tmp_path):
    from transformers import AutoVideoProcessor

    processor = build_video_processor("small3d")
    assert record_training_fps(processor, [None, 0.0, float("nan")]).training_fps is None  # nothing known
    record_training_fps(processor, [30.0, 25.0, None, 29.97, 15.0])
    processor.save_pretrained(tmp_path)
    sampling = ClipSampling.from_video_processor(AutoVideoProcessor.from_pretrained(tmp_path))
    assert sampling.training_fps == pytest.approx(27.485) and sampling.training_fps_range == (15.0, 30.0)


def test_a_legacy_model_folder_gets_the_length_policy_but_no_frame_rate_warning(short_videos):
    legacy = Path(__file__).parent / "fixtures" / "legacy-0.1" / "run-cls" / "model"  # clip sampling, no rates
    assert run_inference(legacy, short_videos["fast"], num_clips=2)["metadata"]["warnings"] == []
    with pytest.raises(VideoTooShortError, match="1 frame, too few for its 4-frame clips"):
        run_inference(legacy, short_videos["one_frame"])
