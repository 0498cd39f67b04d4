import pickle

import numpy as np
import pytest

from surgical_skill.video import (
    SAMPLING_STRATEGIES,
    ClipSampling,
    VideoDecodeError,
    VideoTooShortError,
    frame_step_for,
    frame_stride_for,
    sample_clip_indices,
    sample_multi_clip_indices,
    sample_segment_indices,
)


class TestSegmentSampling:
    def test_eval_takes_segment_centres(self):
        assert sample_segment_indices(100, 4).tolist() == [12, 37, 62, 87]

    def test_training_draws_one_frame_inside_each_segment(self):
        rng = np.random.default_rng(0)
        for _ in range(200):
            indices = sample_segment_indices(100, 4, random=True, generator=rng)
            segments = indices // 25
            assert segments.tolist() == [0, 1, 2, 3]

    def test_training_covers_every_frame_of_a_segment_over_many_draws(self):
        rng = np.random.default_rng(1)
        seen = {int(sample_segment_indices(40, 4, random=True, generator=rng)[0]) for _ in range(400)}
        assert seen == set(range(10))

    def test_same_seed_same_frames_and_different_seeds_differ(self):
        a = sample_segment_indices(1000, 16, random=True, generator=7)
        b = sample_segment_indices(1000, 16, random=True, generator=7)
        c = sample_segment_indices(1000, 16, random=True, generator=8)
        assert np.array_equal(a, b)
        assert not np.array_equal(a, c)

    def test_video_shorter_than_segments_repeats_frames_in_order(self):
        indices = sample_segment_indices(5, 16)
        assert len(indices) == 16
        assert indices.min() >= 0 and indices.max() <= 4
        assert np.all(np.diff(indices) >= 0)
        assert set(indices.tolist()) == set(range(5))

    def test_single_frame_video(self):
        assert sample_segment_indices(1, 8, random=True, generator=0).tolist() == [0] * 8

    @pytest.mark.parametrize("total_num_frames, count", [(0, 4), (10, 0)])
    def test_rejects_empty_video_or_zero_segments(self, total_num_frames, count):
        with pytest.raises(ValueError):
            sample_segment_indices(total_num_frames, count)


class TestClipSampling:
    def test_eval_clip_is_centred_with_stride(self):
        assert sample_clip_indices(100, 4, frame_stride=2).tolist() == [46, 48, 50, 52]

    def test_random_clip_is_contiguous_in_range_and_reaches_both_ends(self):
        rng = np.random.default_rng(0)
        starts = set()
        for _ in range(2000):
            clip = sample_clip_indices(20, 8, frame_stride=2, random=True, generator=rng)
            assert np.all(np.diff(clip) == 2)
            assert clip.min() >= 0 and clip.max() <= 19
            starts.add(int(clip[0]))
        assert starts == set(range(20 - 15 + 1))

    def test_target_fps_sets_the_stride(self):
        assert frame_stride_for(30, 10) == 3
        assert frame_stride_for(25, 10) == 2
        assert frame_stride_for(None, 10, frame_stride=4) == 4
        clip = sample_clip_indices(300, 5, fps=30, target_fps=10)
        assert np.all(np.diff(clip) == 3)

    def test_short_video_repeats_last_frame(self):
        assert sample_clip_indices(5, 8).tolist() == [0, 1, 2, 3, 4, 4, 4, 4]

    def test_deterministic_given_seed(self):
        a = sample_clip_indices(500, 16, random=True, generator=3)
        b = sample_clip_indices(500, 16, random=True, generator=3)
        assert np.array_equal(a, b)


class TestMultiClipSampling:
    def test_clips_cover_the_whole_video(self):
        clips = sample_multi_clip_indices(100, 4, num_clips=3, frame_stride=2)
        assert clips.tolist() == [[0, 2, 4, 6], [46, 48, 50, 52], [93, 95, 97, 99]]

    def test_stride_in_seconds_bounds_the_gap_between_clips(self):
        fps, total_num_frames = 30.0, 1800
        clips = sample_multi_clip_indices(total_num_frames, 16, fps=fps, clip_stride_seconds=4.0)
        starts = clips[:, 0]
        assert starts[0] == 0 and clips[-1, -1] == total_num_frames - 1
        assert np.all(np.diff(starts) <= 4.0 * fps)
        assert len(clips) == 16  # ceil(1784 / 120) gaps

    def test_short_video_gives_valid_clips(self):
        clips = sample_multi_clip_indices(10, 16, num_clips=4)
        assert clips.shape == (4, 16)
        assert clips.min() >= 0 and clips.max() == 9

    def test_needs_exactly_one_of_count_or_stride(self):
        with pytest.raises(ValueError, match="exactly one"):
            sample_multi_clip_indices(100, 8)
        with pytest.raises(ValueError, match="exactly one"):
            sample_multi_clip_indices(100, 8, num_clips=2, fps=30, clip_stride_seconds=1)
        with pytest.raises(ValueError, match="fps"):
            sample_multi_clip_indices(100, 8, clip_stride_seconds=1)


class TestVideoLengthKeyword:
    """The video's length is ``total_num_frames``; ``num_frames`` (a clip's length elsewhere) still works, warning."""

    @pytest.mark.parametrize(
        "sample, kwargs",
        [
            (sample_segment_indices, {"num_segments": 4}),
            (sample_clip_indices, {"clip_len": 4, "frame_stride": 2}),
            (sample_multi_clip_indices, {"clip_len": 4, "num_clips": 3}),
        ],
    )
    def test_samplers_take_total_num_frames_and_the_old_keyword_with_a_warning(self, sample, kwargs):
        expected = sample(100, **kwargs)
        assert np.array_equal(sample(total_num_frames=100, **kwargs), expected)
        with pytest.warns(FutureWarning, match="total_num_frames"):
            assert np.array_equal(sample(num_frames=100, **kwargs), expected)

    @pytest.mark.parametrize("strategy", SAMPLING_STRATEGIES)
    def test_clip_sampling_methods_take_the_video_length_as_total_num_frames(self, strategy):
        sampling = ClipSampling(num_frames=4, strategy=strategy, frame_stride=2)
        indices = sampling.indices(100, 30.0, random=False)
        windows = sampling.windows(100, 30.0, num_clips=3)
        assert indices.shape == (4,) and windows.shape == (3, 4)
        assert np.array_equal(sampling.indices(total_num_frames=100, fps=30.0, random=False), indices)
        with pytest.warns(FutureWarning, match="total_num_frames"):
            assert np.array_equal(sampling.indices(num_frames=100, fps=30.0, random=False), indices)
        with pytest.warns(FutureWarning, match="total_num_frames"):
            assert np.array_equal(sampling.windows(num_frames=100, fps=30.0, num_clips=3), windows)


class TestShortVideoPolicy:
    """Too few frames: refused; shorter than a clip: used, frames repeated, with a warning; else nothing to say."""

    @pytest.mark.parametrize(
        ("sampling", "total_num_frames", "outcome"),
        [
            (ClipSampling(16), 1, "refused"),
            (ClipSampling(16), 3, "refused"),
            (ClipSampling(16), 7, "refused"),  # a clip would be more than half copies
            (ClipSampling(16), 8, "warned"),  # each frame twice, as if slowed down
            (ClipSampling(16), 16, "fine"),
            (ClipSampling(4, "clip"), 1, "refused"),  # one frame has no motion
            (ClipSampling(4, "clip"), 2, "warned"),
            (ClipSampling(4, "clip"), 3, "warned"),
            (ClipSampling(4, "clip"), 4, "fine"),
            (ClipSampling(16, "clip", frame_stride=3), 19, "refused"),  # 7 distinct frames of 16
            (ClipSampling(16, "clip", frame_stride=3), 20, "warned"),  # 8 distinct, the last held
            (ClipSampling(16, "clip", frame_stride=3), 45, "warned"),  # spans 46 frames
            (ClipSampling(16, "clip", frame_stride=3), 46, "fine"),
            (ClipSampling(1), 1, "fine"),  # a one-frame model takes one frame
        ],
    )
    def test_outcome_by_length(self, sampling, total_num_frames, outcome):
        if outcome == "refused":
            with pytest.raises(VideoTooShortError):
                sampling.check_length(total_num_frames, 30.0, "trial.mp4")
        else:
            warning = sampling.check_length(total_num_frames, 30.0, "trial.mp4")
            assert (warning is not None) == (outcome == "warned")

    def test_refusal_is_one_line_naming_file_frame_count_and_clip_and_survives_pickling(self):
        with pytest.raises(VideoTooShortError) as caught:
            ClipSampling(16).check_length(3, 30.0, "runs/trial 3.mp4")
        err = caught.value
        assert isinstance(err, VideoDecodeError) and err.path == "runs/trial 3.mp4"
        assert str(err) == (
            "video 'runs/trial 3.mp4' is too short for this model: 3 frames, too few for its 16-frame clips: a clip "
            "would hold 3 distinct frame(s), at least 8 are needed; use a longer recording or a model with shorter "
            "clips"
        )
        copy = pickle.loads(pickle.dumps(err))  # as DataLoader workers send it back
        assert type(copy) is VideoTooShortError and str(copy) == str(err)

    def test_warning_says_how_the_clip_is_filled(self):
        assert ClipSampling(16, "clip", frame_stride=3).length_warning(20, 30.0, "a.mp4") == (
            "a.mp4: 20 frames, shorter than one clip (46 frames for 16-frame clips of one frame in 3): its last "
            "frame is repeated to fill a clip (8 distinct of 16)"
        )


class TestFrameRatePolicy:
    def test_clip_sampling_warns_beyond_the_tolerance_of_the_training_rates(self):
        sampling = ClipSampling(16, "clip", training_fps=15.0, training_fps_range=(15.0, 15.0))
        assert sampling.fps_warning(15.0) is None and sampling.fps_warning(16.0) is None  # within 10 %
        for fps in (25.0, 30.0, 10.0):
            warning = sampling.fps_warning(fps, "a.mp4")
            assert warning.startswith(f"a.mp4: {fps:g} fps, but the model was trained on 15 fps videos")
        assert "0.53 s here against 1.07 s in training" in sampling.fps_warning(30.0, "a.mp4")
        wide = ClipSampling(16, "clip", training_fps=25.0, training_fps_range=(15.0, 30.0))
        assert wide.fps_warning(25.0) is None and wide.fps_warning(29.97) is None
        assert "15-30 fps videos" in wide.fps_warning(60.0)

    def test_no_warning_for_uniform_clips_or_models_without_a_record(self):
        assert ClipSampling(16, "uniform", training_fps=15.0).fps_warning(60.0) is None  # spans the whole video
        assert ClipSampling(16, "clip").fps_warning(60.0) is None  # saved before training rates were recorded
        assert ClipSampling(16, "clip", training_fps=15.0).fps_warning(None) is None  # rate unknown (an array)

    def test_target_fps_resamples_by_time(self):
        assert frame_step_for(25, 10) == 2.5 and frame_step_for(30, 10) == 3.0 and frame_step_for(5, 10) == 1.0
        assert sample_clip_indices(300, 5, fps=25, target_fps=10).tolist() == [144, 147, 149, 152, 154]
        assert sample_multi_clip_indices(100, 5, num_clips=2, fps=25, target_fps=10)[0].tolist() == [0, 3, 5, 8, 10]
        # 15 steps of 0.1 s at any rate the target can be reached from
        for fps in (10.0, 12.0, 25.0, 29.97, 30.0, 50.0):
            clip = sample_clip_indices(1000, 16, fps=fps, target_fps=10)
            assert (clip[-1] - clip[0]) / fps == pytest.approx(1.5, abs=0.51 / fps)  # within half a frame
        sampling = ClipSampling(16, "clip", target_fps=10, training_fps=30.0, training_fps_range=(25.0, 30.0))
        assert all(sampling.fps_warning(fps) is None for fps in (12.0, 25.0, 29.97, 60.0))
        assert "slower than the model's target_fps (10)" in sampling.fps_warning(5.0)
