import logging
import shutil

import numpy as np
import pytest
import torch
from datasets import Dataset
from transformers import VideoMAEVideoProcessor

from surgical_skill.data import (
    ClipDecoder,
    ClipSampling,
    ClipTransforms,
    DecodeFailureMonitor,
    SkillCollator,
    TooManyDecodeFailuresError,
    VideoClipLoader,
    expand_clips,
    is_empty_batch,
    load_skill_dataset,
)
from surgical_skill.testing_utils import make_test_video
from surgical_skill.video import FramesLostError, decode_frames
from tests.video.test_decode import damage_middle, write_two_video_streams


@pytest.fixture(scope="module")
def data(manifest):
    return load_skill_dataset(manifest, seed=0)


def loader(training, seed=0, size=32, **kwargs):
    transforms = ClipTransforms(resize=size, crop_size=size, training=training)
    return ClipDecoder(ClipSampling(num_frames=8), transforms, training=training, seed=seed, **kwargs)


def test_rows_become_normalised_clips(data):
    train = data["train"].with_transform(loader(training=True))
    sample = train[0]
    assert sample["pixel_values"].shape == (8, 3, 32, 32) and sample["pixel_values"].dtype == torch.float32
    assert sample["labels"] == data["train"][0]["labels"] and sample["video_id"] == data["train"][0]["video_id"]
    assert sample["decode_error"] is None
    assert -2.5 < sample["pixel_values"].mean() < 2.5  # ImageNet-normalised, not 0..255


def test_only_the_sampled_frames_are_decoded(data):
    row = data["test"][0]
    raw = data["test"].with_transform(ClipDecoder(ClipSampling(num_frames=6), None, training=False))[0]
    indices = ClipSampling(num_frames=6).indices(row["total_num_frames"], row["fps"], random=False)
    assert torch.equal(raw["pixel_values"], decode_frames(row["video"], indices))


def test_training_randomness_is_a_function_of_seed_epoch_and_video(data):
    a, b = loader(training=True, seed=1), loader(training=True, seed=1)
    first = data["train"].with_transform(a)[2]["pixel_values"]
    assert torch.equal(first, data["train"].with_transform(b)[2]["pixel_values"])
    a.set_epoch(1)
    assert not torch.equal(first, data["train"].with_transform(a)[2]["pixel_values"])
    evaluation = loader(training=False)
    one = data["validation"].with_transform(evaluation)[0]["pixel_values"]
    evaluation.set_epoch(7)
    assert torch.equal(one, data["validation"].with_transform(evaluation)[0]["pixel_values"])


def test_dataloader_with_workers_gives_the_same_batches_as_without(data):
    train = data["train"].with_transform(loader(training=True, seed=3))

    def batches(workers):
        dl = torch.utils.data.DataLoader(train, batch_size=4, num_workers=workers, collate_fn=SkillCollator())
        return list(dl)

    serial, parallel = batches(0), batches(2)
    assert len(serial) == len(parallel) == -(-len(train) // 4)
    for a, b in zip(serial, parallel):
        assert a["pixel_values"].shape[1:] == (8, 3, 32, 32)
        assert torch.equal(a["pixel_values"], b["pixel_values"])
        assert torch.equal(a["labels"], b["labels"]) and a["labels"].dtype == torch.long
        assert torch.equal(a["video_id"], b["video_id"])


def test_augmentation_parameters_are_shared_by_all_frames():
    frame = torch.randint(0, 256, (3, 60, 80), dtype=torch.uint8)
    clip = frame.expand(10, -1, -1, -1).clone()
    transforms = ClipTransforms(resize=48, crop_size=40, training=True, flip_prob=0.5)
    outputs = []
    for seed in range(6):
        torch.manual_seed(seed)
        out = transforms(clip)
        assert out.shape == (10, 3, 40, 40)
        assert all(torch.equal(out[0], out[t]) for t in range(1, 10))  # one crop, flip, jitter for the clip
        outputs.append(out[0])
    assert any(not torch.equal(outputs[0], o) for o in outputs[1:])  # but they do vary between clips


def test_motion_survives_augmentation():
    # a bright column moving one pixel right per frame stays a steady one-pixel-per-frame motion
    clip = torch.zeros((6, 3, 40, 40), dtype=torch.uint8)
    for t in range(6):
        clip[t, :, :, 10 + t] = 255
    transforms = ClipTransforms(
        resize=40,
        crop_size=40,
        training=True,
        crop_scale=(1.0, 1.0),
        crop_ratio=(1.0, 1.0),
        color_jitter=None,
        flip_prob=0.0,
        mean=(0, 0, 0),
        std=(1, 1, 1),
    )
    out = transforms(clip)
    columns = [int(out[t, 0].sum(0).argmax()) for t in range(6)]
    assert np.all(np.diff(columns) == 1)


def test_evaluation_transform_resizes_and_centre_crops():
    clip = torch.randint(0, 256, (4, 3, 90, 160), dtype=torch.uint8)
    out = ClipTransforms(resize=64, crop_size=(64, 64), training=False)(clip)
    assert out.shape == (4, 3, 64, 64)
    assert torch.equal(out, ClipTransforms(resize=64, crop_size=(64, 64), training=False)(clip))


@pytest.mark.parametrize("height, width", [(36, 47), (37, 46), (20, 30)])
def test_the_centre_crop_takes_the_pixels_transformers_takes(height, width):
    # an odd margin (47 - 32 = 15) puts torchvision's rounded window one pixel right of transformers' floored
    # one; a frame smaller than the crop is padded like transformers pads it
    video = torch.randint(0, 256, (4, 3, height, width), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    processor = VideoMAEVideoProcessor(do_resize=False, crop_size={"height": 32, "width": 32})
    theirs = processor(videos=[video], return_tensors="pt", do_sample_frames=False)["pixel_values"][0]
    transforms = ClipTransforms(
        resize=min(height, width), crop_size=32, training=False, mean=processor.image_mean, std=processor.image_std
    )
    torch.testing.assert_close(transforms(video), theirs, rtol=0, atol=1e-6)


def test_transforms_read_the_video_processor():
    processor = VideoMAEVideoProcessor(
        size={"shortest_edge": 128},
        crop_size={"height": 112, "width": 112},
        image_mean=[0.1, 0.2, 0.3],
        image_std=[0.4, 0.5, 0.6],
    )
    transforms = ClipTransforms.from_video_processor(processor, training=False)
    assert (transforms.resize, transforms.crop_size) == (128, (112, 112))
    assert tuple(transforms.mean) == (0.1, 0.2, 0.3) and tuple(transforms.std) == (0.4, 0.5, 0.6)
    assert transforms.decode_size == 128


def test_sampling_reads_the_video_processor():
    from surgical_skill.models import build_video_processor

    processor = build_video_processor("small3d", num_frames=12, sampling_strategy="clip", target_fps=10.0)
    assert ClipSampling.from_video_processor(processor) == ClipSampling(12, "clip", frame_stride=1, target_fps=10.0)
    default = ClipSampling.from_video_processor(build_video_processor("frame_cnn"))
    assert default == ClipSampling(16, "uniform")


def test_windows_cover_the_video():
    for sampling in (ClipSampling(8, "uniform"), ClipSampling(8, "clip", frame_stride=2)):
        windows = sampling.windows(300, 30.0, num_clips=5)
        assert windows.shape == (5, 8)
        assert windows.min() >= 0 and windows.max() <= 299
        assert windows.min() < 30 and windows.max() > 270


def test_unknown_strategy():
    with pytest.raises(ValueError, match="unknown sampling strategy 'dense'; known: uniform, clip"):
        ClipSampling(8, "dense")


# -------------------------------------------------------------------------------------------- collate


@pytest.fixture
def data_with_a_broken_video(manifest, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(manifest.parent, copy)
    data = load_skill_dataset(copy / "ratings.csv", seed=0)
    broken = data["train"][1]["video"]
    with open(broken, "r+b") as handle:  # damaged after the dataset was built: it fails at decode time
        handle.truncate(300)
    return data, broken


def test_collate_drops_a_video_that_fails_and_says_which(data_with_a_broken_video, caplog):
    data, broken = data_with_a_broken_video
    train = data["train"].with_transform(loader(training=True))
    dl = torch.utils.data.DataLoader(train, batch_size=4, num_workers=0, collate_fn=SkillCollator())
    with caplog.at_level(logging.WARNING):
        first = next(iter(dl))
    assert first["pixel_values"].shape[0] == 3 and len(first["labels"]) == 3
    assert [f["video"] for f in first["decode_failures"]] == [broken]
    assert broken in caplog.text and "could not be decoded" in caplog.text
    monitor = DecodeFailureMonitor(max_failure_share=0.5, min_samples=1)
    monitor.update(first)
    assert monitor.failure_share == 0.25
    strict = DecodeFailureMonitor(max_failure_share=0.1, min_samples=4)
    with pytest.raises(TooManyDecodeFailuresError, match=r"1 of 4 samples \(25%\) could not be decoded") as info:
        strict.update(first)
    assert broken in str(info.value)


def test_all_failed_batch_is_empty_not_an_error():
    samples = [
        {"pixel_values": None, "labels": 0, "video": f"v{i}.mp4", "decode_error": "boom", "video_id": i}
        for i in range(3)
    ]
    batch = SkillCollator()(samples)
    assert is_empty_batch(batch) and len(batch["decode_failures"]) == 3


def test_variable_length_clips_are_padded_with_a_mask():
    samples = [{"pixel_values": torch.ones(n, 3, 4, 4), "labels": 1.5, "video_id": n} for n in (2, 5, 3)]
    batch = SkillCollator()(samples)
    assert batch["pixel_values"].shape == (3, 5, 3, 4, 4)
    assert batch["frame_mask"].tolist() == [[1, 1, 0, 0, 0], [1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]
    assert batch["pixel_values"][0, 2:].abs().sum() == 0
    assert batch["labels"].dtype == torch.float32


def test_video_clip_loader_is_the_old_name_of_clip_decoder(data):
    with pytest.warns(FutureWarning, match="ClipDecoder"):
        old = VideoClipLoader(ClipSampling(num_frames=6), None, training=False)
    assert isinstance(old, ClipDecoder)
    new = ClipDecoder(ClipSampling(num_frames=6), None, training=False)
    row = data["test"][0]
    assert torch.equal(data["test"].with_transform(old)[0]["pixel_values"], new.load_clip(row["video"], 0, None, None))


def test_load_clip_takes_the_video_length_under_its_old_keyword(data):
    decoder = ClipDecoder(ClipSampling(num_frames=6), None, training=False)
    row = data["test"][0]
    expected = decoder.load_clip(row["video"], 0, total_num_frames=row["total_num_frames"], fps=row["fps"])
    with pytest.warns(FutureWarning, match="total_num_frames"):
        clip = decoder.load_clip(row["video"], 0, num_frames=row["total_num_frames"], fps=row["fps"])
    assert torch.equal(clip, expected)


def test_rows_of_a_dataset_built_before_the_column_rename(data):
    decoder = ClipDecoder(ClipSampling(num_frames=6), None, training=False)
    old = data["test"].rename_column("total_num_frames", "num_frames")
    assert torch.equal(
        old.with_transform(decoder)[0]["pixel_values"], data["test"].with_transform(decoder)[0]["pixel_values"]
    )


# ------------------------------------------------------------------------------------- damaged videos


CONSECUTIVE = ClipSampling(num_frames=8, strategy="clip")


def clip_decoder(**kwargs):
    transforms = ClipTransforms(resize=32, crop_size=32, training=False)
    return ClipDecoder(CONSECUTIVE, transforms, training=False, clips_per_video=4, **kwargs)


def lost_in(path, windows):
    """For each window: which of its frames ``decode_frames`` cannot give (all decode: all False)."""
    out = []
    for window in windows:
        try:
            decode_frames(path, window)
            out.append(np.zeros(len(window), bool))
        except FramesLostError as err:
            out.append(~err.decoded.numpy())
    return out


@pytest.fixture(scope="module")
def damaged_rows(tmp_path_factory):
    """A healthy and a damaged video (2 kB of garbage mid-file), as rows of a dataset, 4 evaluation clips each,
    and which frames of each of the damaged video's clips are lost."""
    root = tmp_path_factory.mktemp("damaged_rows")
    healthy = make_test_video(root / "healthy.mp4", 48, keyframe_interval=12, seed=1)
    damaged = damage_middle(make_test_video(root / "source.mp4", 48, keyframe_interval=12), root / "damaged.mp4")
    rows = [{"video": str(p), "labels": i, "video_id": i, "total_num_frames": 48, "fps": 30.0, "height": 96,
             "width": 128} for i, p in enumerate((healthy, damaged))]  # fmt: skip
    windows = CONSECUTIVE.windows(48, 30.0, num_clips=4)
    lost = lost_in(damaged, windows)
    assert any(x.any() for x in lost) and not all(x.any() for x in lost)  # the tests need both kinds of clip
    return expand_clips(Dataset.from_list(rows), 4), lost


def test_a_clip_over_a_damaged_stretch_is_dropped_and_counted_naming_the_lost_frames(damaged_rows, caplog):
    clips, lost = damaged_rows
    over_damage = [bool(x.any()) for x in lost]
    decoder = clip_decoder()
    with caplog.at_level(logging.WARNING):
        batch = SkillCollator()([clips.with_transform(decoder)[i] for i in range(len(clips))])
    failures = batch["decode_failures"]
    assert [(f["video_id"], f["clip_index"]) for f in failures] == [(1, i) for i, bad in enumerate(over_damage) if bad]
    assert all("could not be decoded: the file is damaged around" in f["reason"] for f in failures)
    assert batch["pixel_values"].shape[0] == 8 - len(failures) and "frame_mask" not in batch
    assert batch["clip_index"].tolist() == [0, 1, 2, 3] + [i for i, bad in enumerate(over_damage) if not bad]
    assert "damaged.mp4" in caplog.text
    monitor = DecodeFailureMonitor(max_failure_share=0.5, min_samples=1)
    monitor.update(batch)
    assert monitor.failed_samples == len(failures)


def test_a_clip_over_a_damaged_stretch_can_be_kept_with_its_lost_frames_masked(damaged_rows):
    clips, lost = damaged_rows
    decoder = clip_decoder(lost_frames="mask")
    batch = SkillCollator()([clips.with_transform(decoder)[i] for i in range(len(clips))])
    kept = [x for x in lost if not x.all()]  # a clip with no frame left is dropped and counted even so
    assert any(x.any() for x in kept)  # the test needs a partly lost clip
    assert [f["clip_index"] for f in batch["decode_failures"]] == [i for i, x in enumerate(lost) if x.all()]
    assert batch["pixel_values"].shape[0] == 4 + len(kept)
    assert batch["frame_mask"].tolist() == [[True] * 8] * 4 + [(~x).tolist() for x in kept]
    # the lost frames are zeros before the transforms (one constant value after), never a neighbour's copy
    for clip, valid in zip(batch["pixel_values"][4:], batch["frame_mask"][4:]):
        if not valid.all():
            masked = clip[~valid]
            assert torch.equal(masked, masked[:1].expand_as(masked)) and not torch.equal(clip[valid][:1], masked[:1])
    with pytest.raises(ValueError, match="lost_frames='freeze' must be one of drop, mask"):
        loader(training=False, lost_frames="freeze")


def test_a_clip_decoder_can_read_another_video_stream(tmp_path):
    path = tmp_path / "two.mkv"
    references = write_two_video_streams(path)  # stream 1 (36 frames, 128x80) is FFmpeg's best; stream 0 has 20, 96x64
    rows = Dataset.from_list([{"video": str(path), "labels": 0, "video_id": 0, "total_num_frames": 36, "fps": 30.0}])
    sampling = ClipSampling(num_frames=4, strategy="clip")
    for stream_index in (None, 0):
        decoder = ClipDecoder(sampling, None, training=False, stream_index=stream_index)
        clip = rows.with_transform(decoder)[0]["pixel_values"]
        reference = references[1 if stream_index is None else stream_index]
        indices = sampling.indices(len(reference), None, random=False)
        np.testing.assert_array_equal(clip.permute(0, 2, 3, 1).numpy(), reference[indices])
