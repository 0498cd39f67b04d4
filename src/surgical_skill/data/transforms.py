"""Clip transforms on ``torchvision.transforms.v2``: one draw of random parameters per clip, not per frame.

A clip is a uint8 tensor (T, C, H, W). Wrapped as a ``tv_tensors.Video``, every v2 transform samples its
random parameters once per call, so the crop window, the flip and the colour jitter are the same for all T
frames and the motion between frames (the skill signal) is left intact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class CenterCrop(v2.Transform):
    """The centre crop of transformers' image and video processors: the window starts at
    ``floor((H - h) / 2)``, ``floor((W - w) / 2)`` (torchvision's ``CenterCrop`` rounds, one pixel further when
    the margin is odd), and a frame smaller than the crop is padded with zeros first, as transformers does. So
    ``pipeline("surgical-skill")`` and transformers' ``pipeline("video-classification")`` crop the same pixels."""

    def __init__(self, size: int | Sequence[int]) -> None:
        super().__init__()
        self.size = _pair(size)

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        crop_height, crop_width = self.size
        height, width = inpt.shape[-2:]
        if crop_height > height or crop_width > width:
            pad_w, pad_h = max(crop_width - width, 0), max(crop_height - height, 0)
            inpt = v2.functional.pad(inpt, [pad_w // 2, pad_h // 2, (pad_w + 1) // 2, (pad_h + 1) // 2], fill=0)
            height, width = inpt.shape[-2:]
        top, left = (height - crop_height) // 2, (width - crop_width) // 2
        return v2.functional.crop(inpt, top, left, crop_height, crop_width)


def _pair(size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(size, int):
        return size, size
    return int(size[0]), int(size[1])


@dataclass
class ClipTransforms:
    """Resize, crop, (augment,) scale to [0, 1] and normalise a clip; ``training`` switches augmentation on.

    Training: a random resized crop (``crop_scale`` of the area, ``crop_ratio`` aspect), a horizontal flip
    with probability ``flip_prob`` and colour jitter. Evaluation: resize the short side to ``resize``, then
    centre-crop ``crop_size``. Both end in ``float32`` normalised by ``mean``/``std``. Build it from a model's
    video processor with :meth:`from_video_processor` so training and inference share one definition.
    """

    resize: int = 224
    crop_size: tuple[int, int] = (224, 224)
    mean: Sequence[float] = IMAGENET_MEAN
    std: Sequence[float] = IMAGENET_STD
    training: bool = False
    crop_scale: tuple[float, float] = (0.6, 1.0)
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip_prob: float = 0.5
    # brightness, contrast, saturation, hue. Hue is off by default: tissue colour carries meaning, and a hue
    # shift (an RGB->HSV round trip) costs three times the rest of the augmentation together.
    color_jitter: tuple[float, float, float, float] | None = (0.2, 0.2, 0.2, 0.0)
    pipeline: v2.Compose = field(init=False, repr=False)

    def __post_init__(self):
        self.crop_size = _pair(self.crop_size)
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ValueError(f"mean and std need 3 values each (std > 0), got {self.mean} and {self.std}")
        to_float = v2.ToDtype(torch.float32, scale=True)
        steps: list[v2.Transform] = []
        if self.training:
            steps.append(v2.RandomResizedCrop(self.crop_size, scale=self.crop_scale, ratio=self.crop_ratio))
            if self.flip_prob > 0:
                steps.append(v2.RandomHorizontalFlip(p=self.flip_prob))
            steps.append(to_float)  # jitter on floats: faster than on uint8, and no rounding between steps
            if self.color_jitter is not None:
                steps.append(v2.ColorJitter(*self.color_jitter))
        else:
            steps += [v2.Resize(self.resize), CenterCrop(self.crop_size), to_float]
        steps.append(v2.Normalize(list(self.mean), list(self.std)))
        self.pipeline = v2.Compose(steps)

    @property
    def decode_size(self) -> int:
        """Short side to ask the decoder for: no larger frame is ever needed."""
        return max(self.resize, *self.crop_size)

    def __call__(self, clip: torch.Tensor) -> torch.Tensor:
        """uint8 (T, C, H, W) -> float32 (T, C, crop_h, crop_w)."""
        return self.pipeline(tv_tensors.Video(clip)).as_subclass(torch.Tensor)

    @classmethod
    def from_video_processor(cls, processor: Any, *, training: bool, **overrides: Any) -> ClipTransforms:
        """Read size, crop size, mean and std from a transformers video processor (or any object with
        ``size``/``crop_size``/``image_mean``/``image_std``), e.g. ``AutoVideoProcessor.from_pretrained(...)``.
        """
        size = getattr(processor, "size", None) or {}
        crop = getattr(processor, "crop_size", None) or {}
        size = dict(size) if not isinstance(size, dict) else size
        crop = dict(crop) if not isinstance(crop, dict) else crop
        if "shortest_edge" in size:
            resize = int(size["shortest_edge"])
        elif "height" in size and "width" in size:
            resize = min(int(size["height"]), int(size["width"]))
        else:
            resize = cls.resize
        crop_size = (int(crop["height"]), int(crop["width"])) if "height" in crop else (resize, resize)
        if not getattr(processor, "do_center_crop", True) and "height" in size:
            crop_size = (int(size["height"]), int(size["width"]))
        values: dict[str, Any] = {
            "resize": resize,
            "crop_size": crop_size,
            "mean": tuple(getattr(processor, "image_mean", None) or IMAGENET_MEAN),
            "std": tuple(getattr(processor, "image_std", None) or IMAGENET_STD),
        }
        if getattr(processor, "do_normalize", True) is False:
            values["mean"], values["std"] = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
        values.update(overrides)
        return cls(training=training, **values)
