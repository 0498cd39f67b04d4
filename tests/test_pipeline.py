"""pipeline("surgical-skill"): whole-video scores, a timeline, clear errors; the same as the model by hand."""

import json

import numpy as np
import pytest
import torch
from transformers import AutoModelForVideoClassification, pipeline

from surgical_skill.data import ClipSampling, ClipTransforms
from surgical_skill.models.heads import ordinal_probabilities
from surgical_skill.pipeline import run_inference
from surgical_skill.testing_utils import make_test_video
from surgical_skill.video import VideoDecodeError, decode_frames, probe
from tests.helpers import ORDERED_CLASSES, THREE_SCORES, run_cli, save_tiny_model


@pytest.fixture(scope="module")
def skill(tiny_run):
    return pipeline("surgical-skill", model=str(tiny_run[0]))


def check(result, num_clips):
    json.dumps(result)  # plain data
    assert result["label"] in ("lower-skilled", "higher-skilled")
    assert sum(result["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    assert result["score"] == max(result["probabilities"].values())
    assert len(result["clips"]) == num_clips == result["metadata"]["clips"]
    duration = result["metadata"]["duration"]
    for clip in result["clips"]:
        assert 0 <= clip["start"] < clip["end"] <= duration + 1e-3  # times are rounded to milliseconds
    assert set(result["spread"]) == set(result["probabilities"])


def test_generated_and_real_videos(skill, tiny_run, sample_videos):
    _, data = tiny_run
    check(skill(data["test"][0]["video"], num_clips=5), 5)
    check(skill(str(sample_videos["bigbuckbunny.mp4"]), num_clips=3), 3)  # 1280x720, audio, a real encoder


def test_matches_the_model_called_by_hand(skill, tiny_run):
    model_dir, data = tiny_run
    path = data["test"][1]["video"]
    result = skill(path, num_clips=4)
    model = AutoModelForVideoClassification.from_pretrained(model_dir).eval()
    sampling = ClipSampling.from_video_processor(skill.video_processor)
    transforms = ClipTransforms.from_video_processor(skill.video_processor, training=False)
    windows = sampling.windows(probe(path).total_num_frames, probe(path).fps, num_clips=4)
    clips = torch.stack([transforms(decode_frames(path, w)) for w in windows])
    with torch.no_grad():
        expected = model(pixel_values=clips).logits.softmax(-1).mean(0)
    names = [model.config.id2label[i] for i in range(2)]
    assert [result["probabilities"][n] for n in names] == pytest.approx(expected.tolist(), abs=1e-5)


def test_a_list_with_a_broken_file(skill, tiny_run, tmp_path):
    _, data = tiny_run
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 1000)
    videos = [data["test"][0]["video"], str(broken), data["test"][2]["video"]]
    results = skill(videos, num_clips=2, errors="skip")
    assert "label" in results[0] and "label" in results[2]
    assert (
        results[1] == {"video": str(broken), "error": results[1]["error"]} and "not a readable" in results[1]["error"]
    )
    with pytest.raises(VideoDecodeError, match=r"broken\.mp4"):
        skill(videos, num_clips=2)


def test_decoded_video_array(skill, tiny_run):
    _, data = tiny_run
    path = data["test"][0]["video"]
    meta = probe(path)
    frames = decode_frames(path, range(meta.total_num_frames)).permute(0, 2, 3, 1).numpy()
    result = skill(frames, fps=meta.fps, num_clips=3)
    check(result, 3)
    from_path = skill(path, num_clips=3)
    assert result["probabilities"] == pytest.approx(from_path["probabilities"], abs=1e-5)


def test_run_inference_and_stride_in_seconds(tiny_run):
    model_dir, data = tiny_run
    path = data["test"][0]["video"]
    result = run_inference(model_dir, path, clip_stride_seconds=0.5)
    assert result["metadata"]["clips"] >= 2 and result["label"]


def test_predict_command(tiny_run, tmp_path):
    model_dir, data = tiny_run
    result = run_cli(  # the installed script, end to end
        "predict",
        data["test"][0]["video"],
        str(tmp_path / "missing.mp4"),
        "--model",
        model_dir,
        "--num-clips",
        "2",
        "--json",
        tmp_path / "out" / "results.json",
        "--plot",
        tmp_path / "plots",
        installed=True,
    )
    assert result.returncode == 1  # one video failed (and was reported)
    assert "ERROR file not found" in result.stdout
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results[0]["label"] and results[1]["error"] == "file not found"
    assert len(list((tmp_path / "plots").glob("*_timeline.png"))) == 1


PLAIN = """
import json, sys
sys.modules["surgical_skill"] = None  # transformers alone: the package is not importable
from transformers import pipeline

video, folders = sys.argv[1], sys.argv[2:]
results = {}
for folder in folders:
    classify = pipeline("video-classification", model=folder)
    results[folder] = classify(video, top_k=2)
# the first folder also carries surgical-skill's code (as pushed to the Hub): the skill pipeline runs too
skill = pipeline("surgical-skill", model=folders[0], trust_remote_code=True)
results["skill"] = skill(video, num_clips=2)
print(json.dumps(results))
"""


def test_transformers_families_trained_here_work_in_the_plain_video_classification_pipeline(
    tiny_run, tmp_path, needs_torchcodec
):
    """VideoMAE, TimeSformer and ViViT folders saved as training saves them (model + video processor) load in
    transformers' own `pipeline("video-classification")` where surgical-skill is not installed.

    transformers reads the video with torchcodec (its fallback, torchvision.io.read_video, is gone from
    torchvision 0.29): skipped, saying why, where torchcodec cannot load; CI makes it present."""
    import os
    import subprocess
    import sys

    from surgical_skill.models import build_model, build_video_processor
    from surgical_skill.remote_code import save_remote_code
    from surgical_skill.training import DataArguments, apply_data_overrides
    from tests.models.test_models import TINY

    data_args = DataArguments(num_frames=4, image_size=32, crop_size=32)
    folders = []
    for name in ("videomae", "timesformer", "vivit"):
        model = build_model(name, num_labels=2, id2label={0: "lower-skilled", 1: "higher-skilled"}, **TINY[name][0])
        processor = apply_data_overrides(build_video_processor(name, config=model.config), data_args)
        model.save_pretrained(tmp_path / name)
        processor.save_pretrained(tmp_path / name)
        folders.append(str(tmp_path / name))
    save_remote_code(tmp_path / "videomae")  # what `surgical-skill push` adds: no auto_map for a transformers model
    video = tiny_run[1]["test"][0]["video"]
    done = subprocess.run(
        [sys.executable, "-c", PLAIN, video, *folders],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    for folder in folders:
        assert {r["label"] for r in results[folder]} == {"lower-skilled", "higher-skilled"}, folder
        assert sum(r["score"] for r in results[folder]) == pytest.approx(1.0, abs=1e-4)
    assert results["skill"]["label"] in ("lower-skilled", "higher-skilled") and len(results["skill"]["clips"]) == 2


def test_a_url_scores_like_the_file(skill, tiny_run, tmp_path):
    """An http URL (here a local server), asked for, is read by FFmpeg directly and gives the file's result."""
    import functools
    import shutil
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    path = tiny_run[1]["test"][0]["video"]
    shutil.copy(path, tmp_path / "trial.mp4")
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/trial.mp4"
        from_url = skill(url, num_clips=3, allow_urls=True)  # URLs are read only when asked for
        missing = skill([url.replace("trial", "absent"), url], num_clips=3, errors="skip", allow_urls=True)
    finally:
        server.shutdown()
    from_file = skill(path, num_clips=3)
    assert from_url["metadata"]["video"] == url
    assert from_url["probabilities"] == pytest.approx(from_file["probabilities"], abs=1e-6)
    assert "error" in missing[0] and "label" in missing[1]


def clips_by_hand(skill, path, num_clips):
    """The clips the pipeline scores for ``path``, sampled and transformed here as training does."""
    sampling = ClipSampling.from_video_processor(skill.video_processor)
    transforms = ClipTransforms.from_video_processor(skill.video_processor, training=False)
    meta = probe(path)
    windows = sampling.windows(meta.total_num_frames, meta.fps, num_clips=num_clips)
    return torch.stack([transforms(decode_frames(path, w)) for w in windows])


@pytest.fixture(scope="module")
def small_video(tmp_path_factory):
    """1.5 s at 30 fps, 40x48: small enough that the pipeline decodes it at full size, as `clips_by_hand` does."""
    return str(make_test_video(tmp_path_factory.mktemp("small") / "trial.mp4", 45, height=40, width=48))


@pytest.fixture(scope="module")
def three_scores(tmp_path_factory):
    torch.manual_seed(0)
    return save_tiny_model(tmp_path_factory.mktemp("three_scores"), **THREE_SCORES)


def test_a_model_of_several_scores_names_each_score_for_the_video_and_every_clip(three_scores, small_video):
    """Three items on a distribution head and their sum: every score by name, in the model's order, in the video's
    result and each clip's; the first is `score`; spreads over clips and the head's own spread per item."""
    path = small_video
    skill = pipeline("surgical-skill", model=str(three_scores))
    result = skill(path, num_clips=3)
    json.dumps(result)
    names = [*THREE_SCORES["target_names"], "grs"]
    assert list(result["scores"]) == names and list(result["spreads"]) == names
    model = AutoModelForVideoClassification.from_pretrained(three_scores).eval()
    with torch.no_grad():
        logits = model(pixel_values=clips_by_hand(skill, path, 3)).logits
    # by hand: each item's distribution over 9 bins from 1 to 5, its expectation and standard deviation
    distribution = logits.reshape(3, 3, 9).softmax(-1)
    centres = torch.linspace(1.0, 5.0, 9)
    items = (distribution * centres).sum(-1)  # (clips, items)
    own_sd = ((distribution * (centres - items[..., None]) ** 2).sum(-1)).sqrt()
    per_clip = torch.cat([items, items.sum(1, keepdim=True)], 1).numpy()  # (clips, 4): the items, then grs
    for clip, expected in zip(result["clips"], per_clip):
        assert list(clip["scores"]) == names
        assert list(clip["scores"].values()) == pytest.approx(expected.tolist(), abs=1e-5)
        assert clip["score"] == clip["scores"]["respect_for_tissue"]
    assert list(result["scores"].values()) == pytest.approx(per_clip.mean(0).tolist(), abs=1e-5)
    assert list(result["spreads"].values()) == pytest.approx(per_clip.std(0).tolist(), abs=1e-5)
    assert result["score"] == result["predicted_score"] == result["scores"]["respect_for_tissue"]
    assert result["spread"] == result["spreads"]["respect_for_tissue"]
    assert list(result["expected_score_spread"]) == THREE_SCORES["target_names"]  # the items' own, not the sum's
    assert list(result["expected_score_spread"].values()) == pytest.approx(own_sd.mean(0).tolist(), abs=1e-5)
    assert all(1.0 <= result["scores"][name] <= 5.0 for name in THREE_SCORES["target_names"])
    for aggregation, reduce in (("median", np.median), ("max", np.max)):
        video = skill(path, num_clips=3, aggregation=aggregation)["scores"]
        items = reduce(per_clip[:, :3], axis=0)  # each item over the clips; the sum is the sum of those
        assert list(video.values()) == pytest.approx([*items.tolist(), float(items.sum())], abs=1e-5)


def test_a_single_score_keeps_its_keys_and_names_its_score(small_video, tmp_path):
    path = small_video
    skill = pipeline("surgical-skill", model=str(save_tiny_model(tmp_path / "one", num_labels=1)))
    result = skill(path, num_clips=3)
    assert result["scores"] == {"score": result["score"]} and result["score"] == result["predicted_score"]
    assert result["spreads"] == {"score": result["spread"]} and "expected_score_spread" not in result
    assert [set(clip) for clip in result["clips"]] == [{"start", "end", "score", "scores"}] * 3
    assert all(clip["scores"] == {"score": clip["score"]} for clip in result["clips"])


def test_ordered_classes_give_cumulative_link_probabilities_and_the_expected_class(small_video, tmp_path):
    path = small_video
    folder = save_tiny_model(tmp_path / "ordered", **ORDERED_CLASSES)
    skill = pipeline("surgical-skill", model=str(folder))
    result = skill(path, num_clips=3)
    model = AutoModelForVideoClassification.from_pretrained(folder).eval()
    with torch.no_grad():
        logits = model(pixel_values=clips_by_hand(skill, path, 3)).logits
    expected = ordinal_probabilities(logits).mean(0)  # not a softmax: the cumulative-link reading of the outputs
    names = ORDERED_CLASSES["id2label"]
    assert [result["probabilities"][n] for n in names] == pytest.approx(expected.tolist(), abs=1e-5)
    assert result["expected_class"] == pytest.approx(float((expected * torch.arange(3)).sum()), abs=1e-5)
    assert result["label"] == names[int(expected.argmax())]
    assert "expected_class" not in pipeline("surgical-skill", model=str(save_tiny_model(tmp_path / "plain")))(
        path, num_clips=2
    )  # unordered classes
