"""pipeline("surgical-skill") within its budgets: clips a batch at a time (memory flat in the clip count, the same
scores), a clip count over the budget refused before decoding, and only local files unless URLs are asked for."""

import functools
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import torch
from transformers import AutoModelForVideoClassification, pipeline

from surgical_skill import limits
from surgical_skill.data import ClipSampling, ClipTransforms
from surgical_skill.errors import UsageError
from surgical_skill.models import build_model, build_video_processor
from surgical_skill.models.inputs import clip_logits, scores_from_logits
from surgical_skill.testing_utils import make_test_video
from surgical_skill.video import FramesLostError, VideoDecodeError, decode_frames, probe
from tests.helpers import run_cli, save_tiny_model
from tests.video.test_decode import damage_middle


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    torch.manual_seed(0)
    return save_tiny_model(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def skill(folder):
    return pipeline("surgical-skill", model=str(folder))


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    """3 s at 30 fps, 40x48: decoded at full size, as the reference below decodes it."""
    return str(make_test_video(tmp_path_factory.mktemp("video") / "trial.mp4", 90, height=40, width=48))


def all_at_once(skill, path, num_clips, batch_size):
    """What the pipeline computed before it went batch by batch: every clip's frames decoded in one call, every
    clip preprocessed and stacked, then the model ``batch_size`` clips at a time. (clips, classes) probabilities."""
    sampling = ClipSampling.from_video_processor(skill.video_processor)
    transforms = ClipTransforms.from_video_processor(skill.video_processor, training=False)
    meta = probe(path)
    windows = sampling.windows(meta.total_num_frames, meta.fps, num_clips=num_clips)
    unique, inverse = np.unique(windows.reshape(-1), return_inverse=True)
    clips = decode_frames(path, unique)[torch.from_numpy(inverse.reshape(windows.shape))]
    pixel_values = torch.stack([transforms(clip) for clip in clips])
    with torch.no_grad():
        logits = clip_logits(skill.model, pixel_values, batch_size=batch_size, device="cpu")
    return scores_from_logits(logits, skill.model.config).numpy()


def test_clips_scored_a_batch_at_a_time_equal_all_clips_decoded_at_once(skill, video, monkeypatch):
    """7 clips in batches of 3 (3 + 3 + 1, each decoded on its own): every clip's probabilities and the video's
    are exactly those of one decode of all clips' frames, and a budget of 2 clips at a time decodes 2 at a time."""
    with limits.limited(clip_batch_size=64):
        result = skill(video, num_clips=7, batch_size=3)
    expected = all_at_once(skill, video, 7, batch_size=3)
    names = [skill.model.config.id2label[i] for i in range(expected.shape[1])]
    assert [[clip["probabilities"][n] for n in names] for clip in result["clips"]] == expected.tolist()
    video_probabilities = expected.mean(0) / expected.mean(0).sum()
    assert [result["probabilities"][n] for n in names] == video_probabilities.tolist()
    assert result["metadata"]["clips"] == 7 and result["metadata"]["frames_used"] == len(
        {f for clip in ClipSampling.from_video_processor(skill.video_processor).windows(90, 30.0, num_clips=7)
         for f in clip.tolist()}
    )  # fmt: skip

    decodes = []  # the real decoder, its calls counted

    def counted(path, indices, *args, **kwargs):
        decodes.append(len(indices))
        return decode_frames(path, indices, *args, **kwargs)

    monkeypatch.setattr("surgical_skill.pipeline.decode_frames", counted)
    with limits.limited(clip_batch_size=2):
        small = skill(video, num_clips=7, batch_size=2)
    assert len(decodes) == 4  # 2 + 2 + 2 + 1 clips, each batch decoded on its own
    assert [[clip["probabilities"][n] for n in names] for clip in small["clips"]] == (
        all_at_once(skill, video, 7, batch_size=2).tolist()
    )
    assert [(c["start"], c["end"]) for c in small["clips"]] == [(c["start"], c["end"]) for c in result["clips"]]


def test_a_damaged_stretch_met_by_several_batches_is_reported_as_one_decode_would(folder, tmp_path):
    """Clips over the damage are dropped batch by batch; the warning and metadata name the lost frames and
    stretches exactly as the error of one decode of every clip's frames does."""
    damaged = damage_middle(make_test_video(tmp_path / "source.mp4", 48, keyframe_interval=12), tmp_path / "d.mp4")
    skill = pipeline("surgical-skill", model=str(folder))
    result = skill(str(damaged), num_clips=9, batch_size=2)
    windows = ClipSampling.from_video_processor(skill.video_processor).windows(48, probe(damaged).fps, num_clips=9)
    with pytest.raises(FramesLostError) as whole:
        decode_frames(damaged, np.unique(windows))
    info = result["metadata"]
    assert info["lost_frames"] == whole.value.lost and info["lost_seconds"] == [
        [round(a, 3), round(b, 3)] for a, b in whole.value.lost_seconds
    ]
    kept = ~np.isin(windows, whole.value.lost).any(axis=1)
    assert 0 < kept.sum() < 9 and info["clips"] == kept.sum() and info["clips_dropped"] == 9 - kept.sum()
    assert info["warnings"][-1] == f"{damaged}: scored on {kept.sum()} of 9 clips: {whole.value.reason}"


# --------------------------------------------------------------------------------------- the clip budget


@pytest.mark.parametrize("strategy", ["uniform", "clip"])
def test_a_clip_count_over_the_budget_is_refused_before_anything_is_decoded(video, tmp_path, strategy):
    folder = save_tiny_model(tmp_path / "model")
    build_video_processor(
        "small3d", num_frames=4, size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32},
        sampling_strategy=strategy,
    ).save_pretrained(folder)  # fmt: skip
    skill = pipeline("surgical-skill", model=str(folder))
    start = time.perf_counter()
    # a million clips: refused before the file is even looked at (it does not exist)
    with pytest.raises(limits.ResourceLimitError) as refused:
        skill(str(tmp_path / "absent.mp4"), num_clips=10**6)
    message = str(refused.value)
    assert "1,000,000 clips" in message and "max_clips_per_call budget (50,000)" in message
    assert "absent.mp4" in message and "set_limits(max_clips_per_call=" in message and "\n" not in message
    # a stride of a microsecond: refused after the (cheap) probe, before a window is sampled. Uniform clips
    # each span the video, so 3 s ask for 3 million; "clip" clips start a frame apart at least, as many as the
    # video has frames (here 87, over a budget of 20; a 9-hour video has 2 million)
    budget = 50_000 if strategy == "uniform" else 20
    refused = pytest.raises(limits.ResourceLimitError, match=r"clips \(one every 1e-06 s; a larger clip_stride_sec")
    with limits.limited(max_clips_per_call=budget), refused:
        skill(video, clip_stride_seconds=1e-6)
    with pytest.raises(limits.ResourceLimitError, match="max_clips_per_call"):  # decoded frames too
        skill(np.zeros((90, 40, 48, 3), np.uint8), fps=30.0, num_clips=10**6)
    assert time.perf_counter() - start < 2.0

    # the budget is the rule, both ways, and the count a stride implies is the count sampled
    for stride in (0.05, 0.1, 0.33, 1.0, 10.0):
        windows = skill._windows(90, 30.0, 8, stride)
        assert skill._clips_asked(90, 30.0, 8, stride) == len(windows), stride
        with limits.limited(max_clips_per_call=len(windows)):
            assert skill(video, clip_stride_seconds=stride)["metadata"]["clips"] <= len(windows)
        if len(windows) > 1:
            with limits.limited(max_clips_per_call=len(windows) - 1), pytest.raises(limits.ResourceLimitError):
                skill(video, clip_stride_seconds=stride)


def test_a_clip_count_must_be_a_positive_whole_number(skill, video):
    for bad in ({"num_clips": 0}, {"num_clips": 2.5}, {"clip_stride_seconds": 0}, {"clip_stride_seconds": -1}):
        with pytest.raises(UsageError):
            skill(video, **bad)


MEASURE = """
import json, resource, sys
import surgical_skill
from transformers import pipeline

folder, video = sys.argv[1:3]
skill = pipeline("surgical-skill", model=folder, batch_size=4)
peaks = []
for num_clips in (8, 40):
    result = skill(video, num_clips=num_clips)
    assert result["metadata"]["clips"] == num_clips
    peaks.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)  # Linux: kilobytes
print(json.dumps(peaks))
"""


def test_peak_memory_stays_flat_in_the_clip_count(tmp_path):
    """The done-when of item 6, in a fresh process (its own peak RSS): 8 clips of 16 frames at 224x224, then 40,
    at clip_batch_size=4. One batch is 4 x 16 x 3 x 224 x 224 float32 = 38.5 MB preprocessed, 48 MB with its uint8
    frames; the 40-clip run may raise the peak by two batches at most. Holding every clip at once, as the pipeline
    did before, raised it by about 1 GB here (976-1,050 MB; batch by batch: 27 MB)."""
    size, frames = 224, 16
    torch.manual_seed(0)
    build_model("small3d", small3d_channels=[1]).save_pretrained(tmp_path / "model")  # the cheapest forward
    build_video_processor(
        "small3d", num_frames=frames, size={"shortest_edge": size}, crop_size={"height": size, "width": size},
        sampling_strategy="clip",
    ).save_pretrained(tmp_path / "model")  # fmt: skip
    video = make_test_video(tmp_path / "long.mp4", 64, height=size, width=size)  # 49 distinct 16-frame clips
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, str(tmp_path / "model"), str(video)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "SURGICAL_SKILL_CLIP_BATCH_SIZE": "4", "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    peak_8, peak_40 = json.loads(done.stdout.strip().splitlines()[-1])
    one_batch = 4 * frames * 3 * size * size * (4 + 1)
    assert peak_40 - peak_8 < 2 * one_batch, f"peak grew {(peak_40 - peak_8) / 2**20:.0f} MB from 8 to 40 clips"


# ------------------------------------------------------------------------------------------------ URLs


@pytest.mark.parametrize(
    "source",
    [
        "file:///etc/passwd",
        "concat:file:///etc/passwd|file:///etc/passwd",
        "subfile,,start,0,end,0,,:file:///etc/passwd",
        "tcp://127.0.0.1:1",
        "http://127.0.0.1:1/trial.mp4",  # allowed only when asked for
    ],
)
def test_other_protocols_and_unasked_urls_are_refused_with_one_line(skill, source):
    with pytest.raises(VideoDecodeError) as refused:
        skill(source, num_clips=2)
    assert source in str(refused.value) and "\n" not in str(refused.value)
    assert "allow_urls=True" in str(refused.value)
    assert skill([source], num_clips=2, errors="skip")[0]["error"] == refused.value.reason


def test_a_listening_tcp_server_is_never_contacted(skill):
    """FFmpeg would connect (and wait forever); the pipeline refuses before probing, so no connection arrives."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(0.3)
    port = server.getsockname()[1]
    try:
        for source in (f"tcp://127.0.0.1:{port}", f"tcp://127.0.0.1:{port}?listen=1"):
            with pytest.raises(VideoDecodeError, match="'tcp' protocol is not allowed"):
                skill(source, num_clips=2, allow_urls=True)  # not even with URLs allowed: http(s) only
        with pytest.raises(TimeoutError):
            server.accept()
    finally:
        server.close()


@pytest.fixture
def served(video, tmp_path):
    """``video`` served over http on 127.0.0.1: its URL."""
    shutil.copy(video, tmp_path / "trial.mp4")
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/trial.mp4"
    server.shutdown()


def test_an_http_url_is_scored_when_asked_for_on_the_pipeline_or_the_call(folder, video, served):
    by_call = pipeline("surgical-skill", model=str(folder))(served, num_clips=3, allow_urls=True)
    by_pipeline = pipeline("surgical-skill", model=str(folder), allow_urls=True)(served, num_clips=3)
    from_file = pipeline("surgical-skill", model=str(folder))(video, num_clips=3)
    assert by_call["metadata"]["video"] == served
    assert by_call["probabilities"] == by_pipeline["probabilities"] == from_file["probabilities"]


def test_predict_reads_urls_only_with_allow_urls(folder, served, tmp_path):
    refused = run_cli("predict", served, "--model", folder, "--num-clips", "2")
    assert refused.returncode == 1 and "ERROR is a URL; URLs are opened only when asked for" in refused.stdout
    scored = run_cli("predict", served, "--model", folder, "--num-clips", "2", "--allow-urls")
    assert scored.returncode == 0, scored.stdout + scored.stderr
    assert "ERROR" not in scored.stdout and "2 clips" in scored.stdout


# ------------------------------------------------------------------------------------------------ inputs


def test_what_is_not_a_video_is_refused_with_one_line(skill, video, tmp_path):
    """A folder is not opened as a video (nothing in it is read); a dict, bytes or a number is not a video."""
    with pytest.raises(VideoDecodeError, match="is a directory, not a video file"):
        skill(str(tmp_path), num_clips=2)
    for bad in ({"video": video}, video.encode(), 3):
        with pytest.raises(UsageError, match=f"cannot score an input of type {type(bad).__name__}: give a video"):
            skill(bad, num_clips=2)


def test_streams_of_videos_are_scored_one_video_at_a_time(skill, video):
    """Generators and datasets (transformers' streaming inputs) still work, lazily, with errors="skip"."""
    from datasets import Dataset
    from transformers.pipelines.pt_utils import KeyDataset

    results = skill((v for v in [video, "tcp://127.0.0.1:1"]), num_clips=2, errors="skip")
    assert not isinstance(results, list)
    first, second = list(results)
    assert first["label"] and "not allowed" in second["error"]
    dataset = KeyDataset(Dataset.from_dict({"video": [video, video]}), "video")
    assert [r["probabilities"] for r in skill(dataset, num_clips=2)] == [first["probabilities"]] * 2


def test_predict_videos_refuses_a_clip_count_over_the_budget(folder):
    from datasets import Dataset

    from surgical_skill.evaluation.inference import predict_videos

    model = AutoModelForVideoClassification.from_pretrained(folder)
    with limits.limited(max_clips_per_call=10), pytest.raises(limits.ResourceLimitError, match="11 clips per video"):
        predict_videos(model, None, Dataset.from_dict({"video": []}), clips_per_video=11)
