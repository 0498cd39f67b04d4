"""surgical-skill: judge a surgeon's technical skill from video, on the Hugging Face stack."""

import os
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from ._lazy import lazy_exports

try:
    __version__ = version("surgical-skill")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"

_EXPORTS = {
    "VideoDecodeError": ".video",
    "VideoMetadata": ".video",
    "decode_frames": ".video",
    "probe": ".video",
    "sample_clip_indices": ".video",
    "sample_multi_clip_indices": ".video",
    "sample_segment_indices": ".video",
    "write_video": ".video",
    "load_skill_dataset": ".data",
    "build_model": ".models",
    "build_video_processor": ".models",
    "list_models": ".models",
    "SurgicalSkillPipeline": ".pipeline",
    "run_inference": ".pipeline",
    "evaluate_model": ".evaluation.evaluate",
}
__all__ = ["__version__", *sorted(_EXPORTS)]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


def register() -> None:
    """Register the model families with transformers' Auto classes and the ``surgical-skill`` pipeline
    (idempotent)."""
    from .models import register_auto_classes
    from .pipeline import register_pipeline

    register_auto_classes()
    register_pipeline()


# Importing the package registers everything with transformers, so `AutoModelForVideoClassification` and
# `pipeline(...)` know these models. The `surgical-skill` command skips that here (it would load torch and
# transformers for `--help`) and registers in the commands that use models.
if os.path.basename(sys.argv[0] if sys.argv else "") != "surgical-skill":
    register()

if TYPE_CHECKING:
    from .data import load_skill_dataset
    from .evaluation.evaluate import evaluate_model
    from .models import build_model, build_video_processor, list_models
    from .pipeline import SurgicalSkillPipeline, run_inference
    from .video import (
        VideoDecodeError,
        VideoMetadata,
        decode_frames,
        probe,
        sample_clip_indices,
        sample_multi_clip_indices,
        sample_segment_indices,
        write_video,
    )
