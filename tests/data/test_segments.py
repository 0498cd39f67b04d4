"""Rows that cover a segment of their video (``segment_start``/``segment_end``: a phase rated on its own): every
sampler, in training, evaluation and the static baselines, draws that row's frames inside the segment only.

The videos draw their own frame index into each frame (``testing_utils.textured_frames``), so every test reads
back which frames a clip really holds.
"""

import csv

import numpy as np
import pytest
import torch
from datasets import Dataset
from transformers import PretrainedConfig
from transformers.modeling_outputs import ImageClassifierOutput

from surgical_skill.data import (
    ClipDecoder,
    ClipSampling,
    ClipTransforms,
    clip_input_warnings,
    expand_clips,
    load_skill_dataset,
    use_proxies,
)
from surgical_skill.data.clips import check_segments, segment_bounds
from surgical_skill.data.splits import SkillDatasetError
from surgical_skill.evaluation.baselines import frame_pixels, scalar_features, static_baselines
from surgical_skill.evaluation.compare import compare_reports
from surgical_skill.evaluation.evaluate import evaluate_model
from surgical_skill.evaluation.inference import predict_videos
from surgical_skill.evaluation.report import load_report, read_report
from surgical_skill.models import build_video_processor
from surgical_skill.testing_utils import make_test_video, read_frame_index
from surgical_skill.video import ProxySettings, decode_frames, prepare_proxies, probe

FPS = 30
LENGTH = 60


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("segments")
    return [
        make_test_video(root / f"op_{i}.mp4", LENGTH, height=48, width=64, fps=FPS, seed=i, keyframe_interval=8)
        for i in range(3)
    ]


def rows(videos, segments, labels=None):
    """A probed-looking dataset: one row per ``(video, segment)``; ``segment`` is ``(start, end)`` or None."""
    return Dataset.from_dict(
        {
            "video": [str(v) for v, _ in zip(videos, segments)],
            "labels": labels or [float(i) for i in range(len(segments))],
            "video_id": list(range(len(segments))),
            "subject": [f"S{i}" for i in range(len(segments))],
            "total_num_frames": [LENGTH] * len(segments),
            "fps": [float(FPS)] * len(segments),
            "height": [48] * len(segments),
            "width": [64] * len(segments),
            "duration": [LENGTH / FPS] * len(segments),
            "segment_start": [s[0] if s else None for s in segments],
            "segment_end": [s[1] if s else None for s in segments],
        }
    )


def frame_indices(clip: torch.Tensor) -> list[int]:
    """The indices drawn into the frames of a raw (T, C, H, W) uint8 clip."""
    return [read_frame_index(frame.permute(1, 2, 0).numpy()) for frame in clip]


# ------------------------------------------------------------------------------------------- the bounds


def test_segment_bounds_read_ints_and_csv_strings_and_empty_means_the_whole_video():
    assert segment_bounds(None, None, 60, "row 1") is None
    assert segment_bounds("", "", 60, "row 1") is None
    assert segment_bounds(float("nan"), None, 60, "row 1") is None
    assert segment_bounds(10, 30, 60, "row 1") == (10, 30)
    assert segment_bounds("10", " 30 ", 60, "row 1") == (10, 30)  # a CSV manifest's cells
    assert segment_bounds(10.0, "30.0", 60, "row 1") == (10, 30)
    assert segment_bounds("", 30, 60, "row 1") == (0, 30)  # an open start is the first frame
    assert segment_bounds(10, "", 60, "row 1") == (10, 60)  # an open end is the video's end
    assert segment_bounds(10, None, None, "row 1") == (10, None)  # ... unknown until probed
    assert segment_bounds(0, 60, 60, "row 1") == (0, 60)


@pytest.mark.parametrize(
    ("start", "end", "what"),
    [
        (30, 30, "is not a stretch of the video of 60 frames"),
        (40, 30, "is not a stretch of the video of 60 frames"),
        (50, 61, "is not a stretch of the video of 60 frames"),
        (-1, 10, "is not a stretch of the video of 60 frames"),
        (60, None, "is not a stretch of the video of 60 frames"),
        ("ten", 30, "segment_start='ten' is not a frame index"),
        (10, 30.5, "segment_end=30.5 is not a frame index"),
        (True, 30, "segment_start=True is not a frame index"),
    ],
)
def test_a_segment_outside_the_video_is_a_one_line_error_naming_the_row(start, end, what):
    with pytest.raises(SkillDatasetError, match=r"^row 7: ") as caught:
        segment_bounds(start, end, 60, "row 7")
    assert what in str(caught.value) and "\n" not in str(caught.value)


# ------------------------------------------------------------------------------------------- training


@pytest.mark.parametrize("strategy", ["uniform", "clip"])
def test_training_clips_are_drawn_inside_the_segment_only(videos, strategy):
    segments = [(20, 36), None, (0, 12)]
    data = expand_clips(rows(videos, segments), 4)
    decoder = ClipDecoder(ClipSampling(num_frames=6, strategy=strategy), None, training=True, seed=3)
    seen = {i: set() for i in range(3)}
    for epoch in range(3):
        decoder.set_epoch(epoch)
        batch = data.with_transform(decoder)[:]
        assert batch["decode_error"] == [None] * len(data)
        for video_id, clip in zip(batch["video_id"], batch["pixel_values"]):
            seen[video_id].update(frame_indices(clip))
    assert seen[0] <= set(range(20, 36)) and len(seen[0]) > 8  # random, inside frames 20..35
    assert seen[2] <= set(range(12)) and len(seen[2]) > 6
    assert max(seen[1]) > 36  # a row without a segment still spans the whole video


def test_evaluation_windows_are_spread_over_the_segment(videos):
    sampling = ClipSampling(num_frames=4, strategy="clip")
    data = expand_clips(rows(videos, [(24, 48), None]), 3)
    batch = data.with_transform(ClipDecoder(sampling, None, training=False, clips_per_video=3))[:]
    segment_windows = sampling.windows(24, FPS, num_clips=3) + 24
    whole_windows = sampling.windows(LENGTH, FPS, num_clips=3)
    for i, clip in enumerate(batch["pixel_values"]):
        expected = segment_windows if batch["video_id"][i] == 0 else whole_windows
        assert frame_indices(clip) == expected[batch["clip_index"][i]].tolist()
    assert frame_indices(batch["pixel_values"][0])[0] == 24 and frame_indices(batch["pixel_values"][2])[-1] == 47


def test_a_segment_shorter_than_a_clip_is_judged_like_a_short_video(videos):
    sampling = ClipSampling(num_frames=8, strategy="clip")
    data = rows(videos, [(10, 12), (40, 45), (0, 60)])
    warnings = clip_input_warnings(data, sampling)
    assert warnings[0].startswith("1 of 3 videos are too short")
    assert f"{videos[0]} [frames 10-11] (2 frames)" in warnings[0]
    assert (
        warnings[1].startswith("1 of 3 videos are shorter than one clip")
        and "[frames 40-44] (5 frames)" in warnings[1]
    )
    batch = data.with_transform(ClipDecoder(sampling, None, training=False))[:]
    assert batch["pixel_values"][0] is None
    assert batch["decode_error"][0].startswith("its segment [frames 10-11] has 2 frames, too few for its 8-frame")
    assert frame_indices(batch["pixel_values"][1]) == [40, 41, 42, 43, 44, 44, 44, 44]  # repeated, never past 44
    assert batch["decode_error"][2] is None


def test_a_bad_segment_is_refused_before_and_while_decoding(videos):
    data = rows(videos, [(10, 20), (50, 70), (30, 30)])
    with pytest.raises(SkillDatasetError) as caught:
        clip_input_warnings(data, ClipSampling(num_frames=4))
    message = str(caught.value)
    assert f"{videos[1]} (video_id 1): segment_start=50, segment_end=70 is not a stretch" in message
    assert f"{videos[2]} (video_id 2): segment_start=30, segment_end=30" in message
    assert str(videos[0]) not in message and "\n" not in message
    with pytest.raises(SkillDatasetError, match="video_id 1"):
        check_segments(data)
    check_segments(data.select([0]))
    decoder = ClipDecoder(ClipSampling(num_frames=4), None, training=True)
    with pytest.raises(SkillDatasetError, match=r"video_id 1\): segment_start=50, segment_end=70"):
        data.select([1]).with_transform(decoder)[0]


def test_a_csv_manifest_with_segment_columns_reaches_the_decoder(videos, tmp_path):
    manifest = tmp_path / "phases.csv"
    with manifest.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["video", "score", "subject", "segment_start", "segment_end"])
        writer.writerow([str(videos[0]), 12, "A", 20, 40])
        writer.writerow([str(videos[1]), 15, "B", "", ""])
        writer.writerow([str(videos[2]), 18, "C", 5, 17])
    data = load_skill_dataset(manifest, split_ratios=None)["train"]
    assert data["segment_start"] == ["20", "", "5"]  # CSV cells stay strings; the samplers read them
    decoder = ClipDecoder(ClipSampling(num_frames=6), None, training=True)
    seen = {}
    for clip_index in range(4):
        batch = expand_clips(data, 4).select(range(clip_index, 12, 4)).with_transform(decoder)[:]
        for video, clip in zip(batch["video"], batch["pixel_values"]):
            seen.setdefault(video, set()).update(frame_indices(clip))
    assert seen[str(videos[0])] <= set(range(20, 40)) and seen[str(videos[2])] <= set(range(5, 17))
    assert max(seen[str(videos[1])]) >= 40
    check_segments(data)


# ------------------------------------------------------------------------------------------- evaluation


class _Recorder(torch.nn.Module):
    """A score model that keeps every clip it is shown."""

    main_input_name = "pixel_values"

    def __init__(self):
        super().__init__()
        self.config = PretrainedConfig(num_labels=1, problem_type="regression")
        self.weight = torch.nn.Parameter(torch.ones(1))
        self.seen = []

    def forward(self, pixel_values):
        self.seen.append(pixel_values.clone())
        return ImageClassifierOutput(logits=pixel_values.flatten(1).mean(1, keepdim=True) * self.weight)


@pytest.fixture(scope="module")
def processor():
    return build_video_processor(
        "small3d", num_frames=4, size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
    )


def test_a_model_is_scored_on_clips_of_the_segment_only(videos, processor, tmp_path):
    data = rows(videos, [(30, 54), None, (6, 18)])
    model = _Recorder()
    predictions = predict_videos(model, processor, data, clips_per_video=2, batch_size=6, num_workers=0)
    shown = torch.cat(model.seen)  # clips in dataset order, two per row
    sampling = ClipSampling.from_video_processor(processor)
    transforms = ClipTransforms.from_video_processor(processor, training=False)
    for row, (segment, prediction) in enumerate(zip([(30, 54), (0, LENGTH), (6, 18)], predictions)):
        windows = sampling.windows(segment[1] - segment[0], FPS, num_clips=2) + segment[0]
        for k, window in enumerate(windows):
            assert torch.allclose(shown[2 * row + k], transforms(decode_frames(str(videos[row]), window)))
        assert prediction.clip_seconds == [(w[0] / FPS, (w[-1] + 1) / FPS) for w in windows]  # times in the video
        assert all(segment[0] / FPS <= a < b <= segment[1] / FPS for a, b in prediction.clip_seconds)


def test_evaluate_model_scores_segments_and_refuses_a_bad_one(videos, processor, tmp_path):
    # two phases of one operation and a third video: the report tells the two rows of op_0 apart by their frames
    data = rows([videos[0], videos[0], videos[1]], [(30, 54), (0, 30), (6, 18)], labels=[10.0, 20.0, 30.0])
    result = evaluate_model(_Recorder(), data, tmp_path / "report", processor=processor, clips_per_video=2,
                            num_workers=0, bootstrap_samples=0)  # fmt: skip
    assert [p.clips_scored for p in result.predictions] == [2, 2, 2]
    assert [p.segment for p in result.predictions] == [(30, 54), (0, 30), (6, 18)]
    assert all(6 / FPS <= a < b <= 18 / FPS for a, b in result.predictions[2].clip_seconds)
    with (tmp_path / "report" / "predictions.csv").open() as handle:
        written = list(csv.DictReader(handle))
    assert [(r["video"], r["segment_start"], r["segment_end"]) for r in written] == [
        (str(videos[0]), "30", "54"),
        (str(videos[0]), "0", "30"),
        (str(videos[1]), "6", "18"),
    ]
    report = read_report(tmp_path / "report")
    assert report.keys == [f"{videos[0]} [frames 30-53]", f"{videos[0]} [frames 0-29]", f"{videos[1]} [frames 6-17]"]
    assert [p.segment for p in load_report(tmp_path / "report").predictions] == [(30, 54), (0, 30), (6, 18)]
    assert compare_reports(tmp_path / "report", tmp_path / "report", samples=10).videos == 3  # paired by segment
    bad = rows(videos, [(30, 54), (0, 61), (6, 18)])
    with pytest.raises(SkillDatasetError, match=r"\(video_id 1\): segment_start=0, segment_end=61"):
        evaluate_model(_Recorder(), bad, processor=processor, clips_per_video=2, num_workers=0, bootstrap_samples=0)


def test_static_baselines_see_the_segment(videos):
    data = rows(videos, [(10, 30), None])
    # a row of the same video whose whole length puts its middle (20) and last frame (29) where the segment's are
    reference = rows(videos, [None]).map(lambda row: {"total_num_frames": 41})
    last_reference = rows(videos, [None]).map(lambda row: {"total_num_frames": 30})
    assert torch.equal(frame_pixels(data, "middle")[0][0], frame_pixels(reference, "middle")[0][0])
    assert torch.equal(frame_pixels(data, "last")[0][0], frame_pixels(last_reference, "last")[0][0])
    assert not torch.equal(frame_pixels(data, "middle")[0][0], frame_pixels(data, "middle")[0][1])
    durations = scalar_features(data)["duration"]
    assert durations[0] == pytest.approx(20 / FPS) and durations[1] == pytest.approx(LENGTH / FPS)


def test_static_baselines_name_each_segment_and_fit_its_duration(videos):
    segments = [(0, 20), (20, 60), (0, 30), (30, 60), (0, 50), (50, 60)]
    data = rows([v for v in videos for _ in range(2)], segments, labels=[2.0, 4.0, 3.0, 3.0, 5.0, 1.0])
    audit = static_baselines(data, folds=3, baselines=("duration",), bootstrap_samples=10)
    twice = [v for v in videos for _ in range(2)]
    assert audit.videos == [f"{v} [frames {a}-{b - 1}]" for v, (a, b) in zip(twice, segments)]


def test_proxies_keep_the_segment_in_time(videos, tmp_path):
    settings = ProxySettings(short_side=48, fps=10)  # 30 fps originals: proxy frame k shows original frame 3k
    prepare_proxies([str(videos[0])], tmp_path / "proxies", settings, progress=False)
    data = rows(videos, [(30, 45)])
    proxied = use_proxies(data, tmp_path / "proxies", settings)
    assert (proxied[0]["segment_start"], proxied[0]["segment_end"]) == (10, 15)
    assert proxied[0]["total_num_frames"] == probe(proxied[0]["video"]).total_num_frames
    batch = proxied.with_transform(ClipDecoder(ClipSampling(num_frames=5), None, training=False))[:]
    assert frame_indices(batch["pixel_values"][0]) == [30, 33, 36, 39, 42]
    assert np.all(np.asarray(frame_indices(batch["pixel_values"][0])) < 45)
