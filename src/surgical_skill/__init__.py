"""surgical-skill: judge a surgeon's technical skill from video, on the Hugging Face stack.

Importing the package registers its model families with transformers' Auto classes
(``AutoConfig``, ``AutoModelForVideoClassification``, ``AutoVideoProcessor``) and the ``"surgical-skill"``
pipeline task, so that, after ``import surgical_skill``, ``AutoModelForVideoClassification.from_pretrained`` and
``pipeline("surgical-skill", model=...)`` know these models. That registration is the one side effect of the
import, and it happens the same way however the program was started. :func:`register` does it again
(harmlessly) for code that needs to say so explicitly.
"""

from importlib.metadata import PackageNotFoundError, version

from .data import load_skill_dataset
from .evaluation.evaluate import evaluate_model
from .models import build_model, build_video_processor, list_models, register_auto_classes
from .pipeline import SurgicalSkillPipeline, load_pipeline, register_pipeline, run_inference
from .video import (
    FramesLostError,
    VideoDecodeError,
    VideoMetadata,
    decode_frames,
    probe,
    sample_clip_indices,
    sample_multi_clip_indices,
    sample_segment_indices,
    write_video,
)

try:
    __version__ = version("surgical-skill")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"


def register() -> None:
    """Register the model families with transformers' Auto classes and the ``surgical-skill`` pipeline.

    Idempotent; ``import surgical_skill`` has already called it.
    """
    register_auto_classes()
    register_pipeline()


register()

__all__ = [
    "FramesLostError",
    "SurgicalSkillPipeline",
    "VideoDecodeError",
    "VideoMetadata",
    "__version__",
    "build_model",
    "build_video_processor",
    "decode_frames",
    "evaluate_model",
    "list_models",
    "load_pipeline",
    "load_skill_dataset",
    "probe",
    "register",
    "run_inference",
    "sample_clip_indices",
    "sample_multi_clip_indices",
    "sample_segment_indices",
    "write_video",
]
