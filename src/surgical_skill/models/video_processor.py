"""The video processor saved beside every model: frame size, normalisation and how frames are sampled.

Training (``ClipTransforms.from_video_processor``, ``ClipSampling.from_video_processor``) and inference (the
``surgical-skill`` pipeline) both read it, so preprocessing cannot drift between them.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable

from transformers.image_utils import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, PILImageResampling
from transformers.video_processing_utils import BaseVideoProcessor

# What this package adds to a transformers video processor: how a clip's frames are picked.
SAMPLING_DEFAULTS = {"sampling_strategy": "uniform", "frame_stride": 1, "target_fps": None}


class SurgicalSkillVideoProcessor(BaseVideoProcessor):
    """A transformers video processor (resize, centre crop, rescale, normalise) that also records the clip
    sampling: ``num_frames``, ``sampling_strategy`` (``uniform`` or ``clip``), ``frame_stride``, ``target_fps``,
    and the frame rates of the training videos, ``training_fps`` (median) and ``training_fps_range`` (``[min,
    max]``; see :func:`record_training_fps`), from which inference warns about videos at another rate.

    Example:
        >>> processor = SurgicalSkillVideoProcessor(size={"shortest_edge": 112}, crop_size={"height": 112,
        ...     "width": 112}, num_frames=16, sampling_strategy="clip", target_fps=10)
        >>> processor.save_pretrained("runs/model")   # video_preprocessor_config.json
    """

    resample = PILImageResampling.BILINEAR
    image_mean = IMAGENET_DEFAULT_MEAN
    image_std = IMAGENET_DEFAULT_STD
    size = {"shortest_edge": 112}
    default_to_square = False
    crop_size = {"height": 112, "width": 112}
    do_resize = True
    do_center_crop = True
    do_rescale = True
    rescale_factor = 1 / 255
    do_normalize = True
    do_convert_rgb = True
    do_sample_frames = False
    num_frames = 16
    model_input_names = ["pixel_values"]

    def __init__(
        self,
        sampling_strategy: str = "uniform",
        frame_stride: int = 1,
        target_fps: float | None = None,
        training_fps: float | None = None,
        training_fps_range: list[float] | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.sampling_strategy = sampling_strategy
        self.frame_stride = frame_stride
        self.target_fps = target_fps
        self.training_fps = training_fps
        self.training_fps_range = training_fps_range

    def preprocess(self, videos, **kwargs):
        batch = super().preprocess(videos, **kwargs)
        batch["pixel_values"] = batch.pop("pixel_values_videos")
        return batch


def add_sampling(processor: BaseVideoProcessor, num_frames: int | None = None, **sampling) -> BaseVideoProcessor:
    """Record clip sampling on any transformers video processor (extra keys are saved with it)."""
    for key, default in SAMPLING_DEFAULTS.items():
        setattr(processor, key, sampling.pop(key, getattr(processor, key, default)))
    if sampling:
        raise ValueError(f"unknown sampling settings {sorted(sampling)}; known: {sorted(SAMPLING_DEFAULTS)}")
    if num_frames is not None:
        processor.num_frames = num_frames
    return processor


def record_training_fps(processor: BaseVideoProcessor, fps: Iterable[float | None]) -> BaseVideoProcessor:
    """Record the frame rates ``fps`` of the training videos on ``processor`` (saved with it): ``training_fps``
    (their median) and ``training_fps_range`` (``[min, max]``). Unknown or invalid rates are skipped; with none
    left, nothing is recorded, as in model folders saved before training recorded rates (no frame-rate warning).

    Example:
        >>> record_training_fps(processor, train_split["fps"]).training_fps_range
        [15.0, 30.0]
    """
    rates = [float(rate) for rate in fps if rate and math.isfinite(rate) and rate > 0]
    if rates:
        processor.training_fps = round(statistics.median(rates), 3)
        processor.training_fps_range = [round(min(rates), 3), round(max(rates), 3)]
    return processor
