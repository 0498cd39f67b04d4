"""One factory for every model: ``build_model`` and ``build_video_processor`` by registry name, Hub id or folder."""

from __future__ import annotations

import difflib
import functools
import inspect
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import transformers
from transformers import (
    AutoConfig,
    AutoImageProcessor,
    AutoModel,
    AutoModelForVideoClassification,
    AutoVideoProcessor,
    PretrainedConfig,
    PreTrainedModel,
)
from transformers.models.auto.video_processing_auto import VIDEO_PROCESSOR_MAPPING
from transformers.video_processing_utils import BaseVideoProcessor

from ..errors import ModelLoadError, SurgicalSkillError, UsageError
from .cnn_rnn.configuration_cnn_rnn import CNNRNNConfig
from .cnn_rnn.modeling_cnn_rnn import CNNRNNForVideoClassification, CNNRNNModel
from .frame_cnn.configuration_frame_cnn import FrameCNNConfig
from .frame_cnn.modeling_frame_cnn import FrameCNNForVideoClassification, FrameCNNModel
from .heads import HEAD_OPTIONS, check_head_config, head_width
from .i3d.configuration_i3d import I3DConfig
from .i3d.modeling_i3d import I3DForVideoClassification, I3DModel
from .loading import (
    check_model_source,
    drop_foreign_code,
    explain_load_error,
    is_unknown_model_error,
    looks_like_hub_id,
    refuse_remote_code_option,
)
from .slowfast.configuration_slowfast import SlowFastConfig
from .slowfast.modeling_slowfast import SlowFastForVideoClassification, SlowFastModel
from .video3d.configuration_video3d import Video3DCNNConfig
from .video3d.modeling_video3d import Video3DCNNForVideoClassification, Video3DCNNModel
from .video_processor import SurgicalSkillVideoProcessor, add_sampling
from .x3d.configuration_x3d import X3D_PRESETS, X3DConfig
from .x3d.modeling_x3d import X3DForVideoClassification, X3DModel

logger = logging.getLogger(__name__)

IMAGENET = {"image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225]}
KINETICS = {"image_mean": [0.43216, 0.394666, 0.37645], "image_std": [0.22803, 0.22145, 0.216989]}
PYTORCHVIDEO = {"image_mean": [0.45, 0.45, 0.45], "image_std": [0.225, 0.225, 0.225]}  # its Kinetics models
# DeepMind's I3D: pixels scaled to [-1, 1]
MINUS_ONE_TO_ONE = {"image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}


def _frames(size: int, crop: int | None = None) -> dict[str, Any]:
    crop = crop or size
    return {"size": {"shortest_edge": size}, "crop_size": {"height": crop, "width": crop}}


@dataclass(frozen=True)
class ModelSpec:
    """A registry entry: how to build a model and its video processor from scratch."""

    family: str
    config_class: type[PretrainedConfig]
    model_class: type[PreTrainedModel]
    processor_class: type[BaseVideoProcessor]
    description: str
    config_defaults: dict[str, Any] = field(default_factory=dict)
    processor_defaults: dict[str, Any] = field(default_factory=dict)
    # config keys of transformers' own models that the shared options map to
    dropout_key: str | None = None
    num_frames_key: str = "num_frames"


def _ours(family, config_class, model_class, description, config, processor) -> ModelSpec:
    return ModelSpec(family, config_class, model_class, SurgicalSkillVideoProcessor, description, config, processor)


MODEL_REGISTRY: dict[str, ModelSpec] = {
    "frame_cnn": _ours(
        "frame CNN",
        FrameCNNConfig,
        FrameCNNForVideoClassification,
        "a 2D CNN per frame (resnet18 by default), pooled over time",
        {"backbone": "resnet18"},
        {**_frames(128, 112), **IMAGENET},
    ),
    "cnn_rnn": _ours(
        "CNN-RNN",
        CNNRNNConfig,
        CNNRNNForVideoClassification,
        "a 2D CNN per frame, a bidirectional LSTM over time, attention pooling",
        {"backbone": "resnet18"},
        {**_frames(128, 112), **IMAGENET},
    ),
    "small3d": _ours(
        "3D CNN",
        Video3DCNNConfig,
        Video3DCNNForVideoClassification,
        "a small 3D CNN trained from scratch: minutes on a CPU",
        {"backbone": "small3d"},
        {**_frames(112), **KINETICS, "sampling_strategy": "clip", "frame_stride": 1},
    ),
    **{
        name: _ours(
            "3D CNN",
            Video3DCNNConfig,
            Video3DCNNForVideoClassification,
            f"torchvision's {name} (Kinetics-400 weights with backbone_pretrained=True)",
            {"backbone": name},
            {**_frames(size, crop), **KINETICS, "sampling_strategy": "clip", "frame_stride": 2},
        )
        for name, size, crop in (
            ("r3d_18", 128, 112),
            ("mc3_18", 128, 112),
            ("r2plus1d_18", 128, 112),
            ("s3d", 256, 224),
            ("swin3d_t", 256, 224),
            ("mvit_v2_s", 256, 224),
        )
    },
    # PyTorchVideo's X3D: frames x stride, short side and crop of PySlowFast's X3D configs (the training crop,
    # for which the reference's head was sized; its torch hub page feeds X3D-S 182 and X3D-M 256 uncropped)
    **{
        name: _ours(
            "X3D",
            X3DConfig,
            X3DForVideoClassification,
            f"X3D-{name[-1].upper()} ({frames} frames, {crop}; PyTorchVideo's Kinetics-400 weights with "
            "backbone_pretrained=True)",
            X3D_PRESETS[name],
            {**_frames(side, crop), **PYTORCHVIDEO, "sampling_strategy": "clip", "frame_stride": stride},
        )
        for name, frames, stride, side, crop in (
            ("x3d_s", 13, 6, 182, 160),
            ("x3d_m", 16, 5, 256, 224),
            ("x3d_l", 16, 5, 356, 312),
        )
    },
    "slow_r50": _ours(
        "SlowFast",
        SlowFastConfig,
        SlowFastForVideoClassification,
        "PyTorchVideo's Slow-R50 (8 frames; Kinetics-400 weights with backbone_pretrained=True)",
        {"backbone": "slow_r50"},
        # PyTorchVideo's hub: 8 frames 8 apart, short side 256, centre crop 256
        {**_frames(256), **PYTORCHVIDEO, "sampling_strategy": "clip", "frame_stride": 8},
    ),
    "slowfast_r50": _ours(
        "SlowFast",
        SlowFastConfig,
        SlowFastForVideoClassification,
        "PyTorchVideo's SlowFast-R50 (32 frames, slow pathway 1 in 4; Kinetics-400 weights with "
        "backbone_pretrained=True)",
        {"backbone": "slowfast_r50"},
        # PyTorchVideo's hub: 32 frames 2 apart (the fast pathway; the model takes every 4th for the slow one),
        # short side 256, centre crop 256
        {**_frames(256), **PYTORCHVIDEO, "sampling_strategy": "clip", "frame_stride": 2},
    ),
    "i3d": _ours(
        "I3D",
        I3DConfig,
        I3DForVideoClassification,
        "I3D (Inception-v1 inflated, RGB; 64 frames, 224): Kinetics-400 weights with backbone_pretrained=True",
        {},
        # the Kinetics input: 64 consecutive frames (num_frames from the config), short side 256, centre 224
        {**_frames(256, 224), **MINUS_ONE_TO_ONE, "sampling_strategy": "clip", "frame_stride": 1},
    ),
    "videomae": ModelSpec(
        "transformers",
        transformers.VideoMAEConfig,
        transformers.VideoMAEForVideoClassification,
        transformers.VideoMAEVideoProcessor,
        "transformers' VideoMAE (ViT-B, 16 frames, 224)",
        dropout_key="hidden_dropout_prob",
    ),
    "timesformer": ModelSpec(
        "transformers",
        transformers.TimesformerConfig,
        transformers.TimesformerForVideoClassification,
        transformers.TimesformerVideoProcessor,
        "transformers' TimeSformer (ViT-B, 8 frames, 224)",
        dropout_key="hidden_dropout_prob",
    ),
    "vivit": ModelSpec(
        "transformers",
        transformers.VivitConfig,
        transformers.VivitForVideoClassification,
        transformers.VivitVideoProcessor,
        "transformers' ViViT (ViT-B, 32 frames, 224)",
        dropout_key="hidden_dropout_prob",
    ),
}
if hasattr(transformers, "VJEPA2ForVideoClassification"):  # newer transformers only
    MODEL_REGISTRY["vjepa2"] = ModelSpec(
        "transformers",
        transformers.VJEPA2Config,
        transformers.VJEPA2ForVideoClassification,
        transformers.VJEPA2VideoProcessor,
        "transformers' V-JEPA 2 (ViT-L, 64 frames, 256)",
        num_frames_key="frames_per_clip",
    )


def _converted_names() -> list[str]:
    """Registry names whose pretrained backbone is converted from a reference checkpoint (``backbone_weights``)."""
    return [
        name for name, spec in MODEL_REGISTRY.items() if getattr(spec.model_class, "converts_reference_weights", False)
    ]


def list_models() -> dict[str, str]:
    """Registry name -> one-line description."""
    return {name: spec.description for name, spec in MODEL_REGISTRY.items()}


def _unknown(name: str) -> ValueError:
    return ValueError(
        f"unknown model {name!r}: not a registry name, a local folder, or a Hub id (org/name). "
        f"Known names: {', '.join(MODEL_REGISTRY)}"
    )


def _labels(
    num_labels: int | None, id2label: dict | list | None, head: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """``num_labels``, ``id2label``, ``label2id`` and ``problem_type`` of a new head: the classes given, or for
    a score model (``target_names``, or ``score_head="distribution"``, in ``head``) one output per named score
    (``distribution_bins`` per score for a distribution head)."""
    head = dict(head or {})
    if head.get("target_names") is not None or head.get("score_head") == "distribution":
        names = [str(name) for name in (head.get("target_names") or ["score"])]
        width = head_width(head, len(names))
        if id2label is not None or num_labels not in (None, width):
            raise ValueError(
                f"a score model of {len(names)} target{'s' if len(names) != 1 else ''} has {width} outputs; "
                f"leave num_labels and id2label out (got num_labels={num_labels}, id2label={id2label})"
            )
        if head.get("score_head") == "distribution":
            bins = width // len(names)
            id2label = [f"{name}:bin{b}" for name in names for b in range(bins)]
        else:
            id2label = names
        return {**_labels(None, id2label), "problem_type": "regression"}
    if isinstance(id2label, list | tuple):
        id2label = dict(enumerate(id2label))
    if id2label is not None:
        id2label = {int(k): str(v) for k, v in id2label.items()}
        if num_labels is not None and num_labels != len(id2label):
            raise ValueError(f"num_labels={num_labels} but id2label has {len(id2label)} entries")
        num_labels = len(id2label)
    out: dict[str, Any] = {"num_labels": num_labels if num_labels is not None else 2}
    if id2label is not None:
        out["id2label"] = id2label
        out["label2id"] = {v: k for k, v in id2label.items()}
    if out["num_labels"] == 1:
        out["problem_type"] = "regression"
    return out


SCORE_KEYS = ("target_names", "score_ranges", "score_head", "normalize_scores", "score_sum_name")
DISTRIBUTION_KEYS = ("distribution_bins", "distribution_sigma")
ORDINAL_KEYS = ("ordinal_loss", "ordinal")


def _reset_head(config: PretrainedConfig, labels: Mapping[str, Any], head: Mapping[str, Any]) -> None:
    """A new head on a loaded model (fine-tuning): what the old head was does not carry over. A class head
    drops the score settings (and a regression ``problem_type``); a score head drops the ordinal ones; either
    keeps only the settings given for it."""
    scores = labels.get("problem_type") == "regression"
    stale = ORDINAL_KEYS if scores else (*SCORE_KEYS, *DISTRIBUTION_KEYS)
    if scores and head.get("score_head") != "distribution":
        stale = (*stale, *DISTRIBUTION_KEYS, "score_head")
    for key in stale:
        if hasattr(config, key) and key not in head:
            delattr(config, key)
    if not scores and config.problem_type == "regression":
        config.problem_type = None  # classes now: the loss is chosen from the labels (single-label)


def _set_head(config: PretrainedConfig, head: Mapping[str, Any]) -> None:
    """Write the head settings (:data:`~surgical_skill.models.heads.HEAD_OPTIONS`) into ``config`` and check
    that they fit together (a ``ValueError`` saying what to fix)."""
    for key, value in head.items():
        setattr(config, key, list(value) if key == "target_names" else value)
    check_head_config(config)


SHARED_OPTIONS = ("freeze_backbone", "dropout", "class_weights", "label_smoothing", "backbone_pretrained")
# Config keys that follow from the data (its classes, or its named scores), never from a recipe's model_config
LABEL_KEYS = ("num_labels", "id2label", "label2id", "problem_type", "target_names", "score_ranges")
# What transformers writes into every saved config; not settings anyone gives
_BOOKKEEPING_KEYS = frozenset({"transformers_version", "_name_or_path", "model_type", "architectures"})


@functools.cache
def config_keys(config_class: type[PretrainedConfig]) -> frozenset[str]:
    """Every key a ``config_class`` takes: the ``__init__`` arguments of it and its bases, the attributes of a
    default instance, and ``attribute_map`` aliases (transformers' configs keep unknown keys as attributes
    without a word, so a typo would otherwise do nothing)."""
    keys: set[str] = set()
    for cls in config_class.__mro__:
        init = vars(cls).get("__init__")
        if init is None or not issubclass(cls, PretrainedConfig):
            continue
        for parameter in inspect.signature(init).parameters.values():
            if parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY):
                keys.add(parameter.name)
    keys.discard("self")
    keys |= set(config_class().to_dict())
    keys |= set(getattr(config_class, "attribute_map", {}))
    return frozenset(keys - _BOOKKEEPING_KEYS)


def _refuse_unknown_keys(
    model: str, config_class: type[PretrainedConfig], keys, known: set[str], what: str = "model_config"
) -> None:
    """A :class:`~surgical_skill.errors.UsageError` naming each key of ``keys`` not in ``known``, its closest
    known key, and the model's own keys (those of every transformers config left out, for a readable list)."""
    unknown = [key for key in keys if key not in known]
    if not unknown:
        return
    hints = []
    for key in unknown:
        close = difflib.get_close_matches(key, sorted(known), n=1)
        hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    own = sorted((known - config_keys(PretrainedConfig) - _BOOKKEEPING_KEYS) | set(SHARED_OPTIONS) | set(HEAD_OPTIONS))
    raise UsageError(
        f"{what} has {'a key' if len(unknown) == 1 else 'keys'} that {model!r} ({config_class.__name__}) "
        f"does not know: {', '.join(hints)}. Its keys: {', '.join(own)}"
    )


def check_backbone_weights(name_or_path: str | os.PathLike) -> None:
    """Refuse ``backbone_weights`` (a reference checkpoint file) for a model that is not built from one, before
    any data is loaded: a :class:`~surgical_skill.errors.UsageError` naming the models that take it."""
    name = os.fspath(name_or_path)
    if name not in _converted_names():
        raise UsageError(
            f"backbone_weights is for {', '.join(_converted_names())} (built from a published reference "
            f"checkpoint); {name} is not one of them: leave backbone_weights out (torchvision backbones take "
            "backbone_pretrained: true; a folder or Hub id brings its own weights)"
        )


def check_model_config(name_or_path: str | os.PathLike, model_config: Mapping[str, Any] | None) -> None:
    """Check a recipe's ``model_config`` before any data is loaded or model built: a key the model's config does
    not know (with the closest known key and the list of them), a key the data decides (``num_labels`` ...),
    and, for a registry name, values its config refuses (an unknown ``backbone`` ...).

    Registry names and local model folders are checked here; a Hub id is checked by :func:`build_model` once its
    config is downloaded.

    Raises:
        UsageError: as above; the message names the key and the model.
    """
    if not model_config:
        return
    name = os.fspath(name_or_path)
    decided = [key for key in LABEL_KEYS if key in model_config]
    if decided:
        raise UsageError(
            f"model_config sets {', '.join(decided)}, which the dataset decides (its classes, or one score with "
            "target 'score'; label_names orders the classes): leave "
            f"{'it' if len(decided) == 1 else 'them'} out"
        )
    if name in MODEL_REGISTRY:
        spec = MODEL_REGISTRY[name]
        _refuse_unknown_keys(
            name,
            spec.config_class,
            model_config,
            set(config_keys(spec.config_class)) | set(SHARED_OPTIONS) | set(HEAD_OPTIONS),
        )
        values = {key: value for key, value in model_config.items() if key != "class_weights"}  # per class: later
        try:
            if spec.family == "transformers":
                _transformers_config(spec, {"num_labels": 2}, values)
            else:
                spec.config_class(**{**spec.config_defaults, **values, "num_labels": 2})
        except (ValueError, TypeError) as err:
            raise UsageError(f"model_config for {name!r}: {err}") from err
    elif os.path.isfile(os.path.join(name, "config.json")):
        try:
            config = AutoConfig.from_pretrained(name, trust_remote_code=False)
        except (OSError, ValueError, KeyError):
            return  # not a loadable model folder: build_model says why
        known = set(config_keys(type(config))) | set(config.to_dict()) | set(SHARED_OPTIONS) | set(HEAD_OPTIONS)
        _refuse_unknown_keys(name, type(config), model_config, known)


def build_model(
    name_or_path: str | os.PathLike,
    num_labels: int | None = None,
    id2label: dict[int, str] | list[str] | None = None,
    *,
    allow_pickle: bool = False,
    **overrides: Any,
) -> PreTrainedModel:
    """Build a video classifier by registry name (random init), or load one from a local folder or Hub id.

    ``overrides`` set config fields (``backbone``, ``temporal_pooling``, ``hidden_size`` ...) and the options
    every family shares: ``freeze_backbone``, ``dropout``, ``class_weights``, ``label_smoothing`` and
    ``backbone_pretrained`` (torchvision's weights, or the published reference checkpoint of X3D, Slow, SlowFast
    and I3D); ``backbone_weights`` (a local file or URL of that reference checkpoint) implies it. Checkpoints are
    loaded with ``ignore_mismatched_sizes``, so a Kinetics classifier gets a fresh head with ``num_labels``
    outputs. Weights load from safetensors only;
    a checkpoint with only ``pytorch_model.bin`` needs ``allow_pickle=True`` (and is then read with
    ``weights_only=True``; see :mod:`surgical_skill.models.loading`).

    Raises:
        ValueError: an unknown name (the message lists the known ones); an unknown option (a
            :class:`~surgical_skill.errors.UsageError` naming it, the closest known key and the known ones).
        ModelLoadError: (an ``OSError``) a folder or Hub id that cannot be loaded (offline, missing files, a
            pickle checkpoint without ``allow_pickle``), saying which, why and what to do.

    Example:
        >>> model = build_model("small3d", id2label=["lower-skilled", "higher-skilled"])
        >>> model = build_model("MCG-NJU/videomae-base-finetuned-kinetics", id2label=labels, freeze_backbone=True)
    """
    name = os.fspath(name_or_path)
    refuse_remote_code_option(overrides, "build_model")
    weights = overrides.pop("backbone_weights", None)
    head = {key: overrides.pop(key) for key in HEAD_OPTIONS if key in overrides}
    labels = _labels(num_labels, id2label, head)
    if name in MODEL_REGISTRY:
        spec = MODEL_REGISTRY[name]
        _refuse_unknown_keys(
            name,
            spec.config_class,
            overrides,
            set(config_keys(spec.config_class)) | set(SHARED_OPTIONS) | set(HEAD_OPTIONS),
            "build_model(**overrides)",
        )
        if spec.family == "transformers":
            if weights is not None:
                raise UsageError(
                    f"backbone_weights is for {', '.join(_converted_names())} (converted from a published checkpoint); "
                    f"start {name} from a pretrained checkpoint by Hub id or folder instead"
                )
            config = _transformers_config(spec, labels, overrides)
            _set_head(config, head)
            model = spec.model_class(config)
            _apply_shared_options(model, config)
        else:
            if weights is not None:
                overrides["backbone_pretrained"] = True  # recorded as a flag: the file's path stays out of the config
            config = spec.config_class(**{**spec.config_defaults, **overrides, **labels})
            _set_head(config, head)
            model = spec.model_class(config)
            if config.backbone_pretrained:
                model.load_pretrained_backbone(weights)
        return model
    if weights is not None:
        raise UsageError(
            f"backbone_weights is for building a registry model ({', '.join(_converted_names())}) from a published "
            f"checkpoint; {name} is a saved model and brings its own weights"
        )
    if not (os.path.isdir(name) or looks_like_hub_id(name)):
        raise _unknown(name)
    check_model_source(name, allow_pickle=allow_pickle, processor=False)
    shared = {key: overrides.pop(key) for key in SHARED_OPTIONS if key in overrides}
    try:
        config, unused = AutoConfig.from_pretrained(
            name, **overrides, **labels, return_unused_kwargs=True, trust_remote_code=False
        )
        known = set(config_keys(type(config))) | set(config.to_dict()) | set(SHARED_OPTIONS) | set(HEAD_OPTIONS)
        _refuse_unknown_keys(name, type(config), unused, known, "build_model(**overrides)")  # else dropped
        if num_labels is not None or id2label is not None or head:
            _reset_head(config, labels, head)
        _set_head(config, head)
        # a decision threshold chosen for the loaded model's validation data does not carry over to a new one
        for key in ("decision_threshold", "decision_threshold_info"):
            if hasattr(config, key):
                delattr(config, key)
        model = AutoModelForVideoClassification.from_pretrained(
            name,
            config=config,
            ignore_mismatched_sizes=True,
            use_safetensors=None if allow_pickle else True,
            weights_only=True,
            trust_remote_code=False,
        )
    except OSError as err:
        raise ModelLoadError(explain_load_error(name, err)) from err
    except ValueError as err:
        if isinstance(err, SurgicalSkillError) or not is_unknown_model_error(err):
            raise
        raise ModelLoadError(explain_load_error(name, err)) from err
    drop_foreign_code(
        model.config, {"AutoConfig": type(model.config), "AutoModelForVideoClassification": type(model)}, where=name
    )
    for key, value in shared.items():
        setattr(model.config, key, value)
    _apply_shared_options(model, model.config)
    return model


def _transformers_config(spec: ModelSpec, labels: dict[str, Any], overrides: dict[str, Any]) -> PretrainedConfig:
    values = dict(overrides)
    shared = {key: values.pop(key) for key in SHARED_OPTIONS if key in values}
    if "dropout" in shared and spec.dropout_key:
        values.setdefault(spec.dropout_key, shared["dropout"])
    if shared.get("backbone_pretrained"):
        raise ValueError(
            "backbone_pretrained is for the package's own families (torchvision backbones, X3D, SlowFast, I3D); "
            f"load a pretrained {spec.model_class.__name__} "
            "by Hub id or folder instead (e.g. build_model('MCG-NJU/videomae-base', ...))"
        )
    config = spec.config_class(**values, **labels)
    for key in ("freeze_backbone", "class_weights", "label_smoothing"):
        setattr(config, key, shared.get(key, getattr(config, key, None)))
    return config


def _apply_shared_options(model: PreTrainedModel, config: PretrainedConfig) -> None:
    """Options transformers' own models do not know: freezing the backbone (all but the head). Class weights
    and label smoothing live on the config, where the training loss reads them."""
    if getattr(config, "freeze_backbone", False):
        for param in model.base_model.parameters():
            param.requires_grad_(False)


def build_video_processor(
    name_or_path: str | os.PathLike, config: PretrainedConfig | None = None, **overrides: Any
) -> BaseVideoProcessor:
    """The video processor for a registry name (its defaults) or a saved model (its own processor).

    ``overrides`` set processor fields (``size``, ``crop_size``, ``image_mean`` ...) and sampling
    (``num_frames``, ``sampling_strategy``, ``frame_stride``, ``target_fps``). With a model ``config``, the
    clip length follows the model's (``num_frames``). A checkpoint that ships only an image processor (most
    older Hub video models) gets the matching video processor built from its settings.
    """
    name = os.fspath(name_or_path)
    sampling = {
        key: overrides.pop(key) for key in ("sampling_strategy", "frame_stride", "target_fps") if key in overrides
    }
    num_frames = overrides.pop("num_frames", None)
    if name in MODEL_REGISTRY:
        spec = MODEL_REGISTRY[name]
        values = {**spec.processor_defaults, **overrides}
        sampling = {
            **{k: values.pop(k) for k in ("sampling_strategy", "frame_stride", "target_fps") if k in values},
            **sampling,
        }
        processor = spec.processor_class(**values)
        model_frames = getattr(config, spec.num_frames_key, None) if config is not None else None
    else:
        if not (os.path.isdir(name) or looks_like_hub_id(name)):
            raise _unknown(name)
        processor = _load_processor(name)
        for key, value in overrides.items():
            setattr(processor, key, value)
        config = config or AutoConfig.from_pretrained(name, trust_remote_code=False)
        model_frames = getattr(config, "num_frames", None) or getattr(config, "frames_per_clip", None)
    frames = num_frames or model_frames or getattr(processor, "num_frames", None) or 16
    return add_sampling(processor, num_frames=frames, **sampling)


def _load_processor(name: str) -> BaseVideoProcessor:
    try:
        processor = AutoVideoProcessor.from_pretrained(name, trust_remote_code=False)
        drop_foreign_code(processor, {"AutoVideoProcessor": type(processor)}, where=name)
        return processor
    except (OSError, ValueError, KeyError) as video_err:
        try:
            image_processor = AutoImageProcessor.from_pretrained(name, trust_remote_code=False)
        except (OSError, ValueError, KeyError) as err:
            raise OSError(f"no video or image processor could be loaded from {name!r}: {video_err}; {err}") from err
    config = AutoConfig.from_pretrained(name, trust_remote_code=False)
    video_class = VIDEO_PROCESSOR_MAPPING.get(type(config), SurgicalSkillVideoProcessor)
    if isinstance(video_class, dict):
        video_class = next(iter(video_class.values()))
    keys = ("size", "crop_size", "image_mean", "image_std", "do_center_crop", "do_normalize", "rescale_factor")
    logger.info("%s has an image processor only; using %s with its settings", name, video_class.__name__)
    return video_class(
        **{k: getattr(image_processor, k) for k in keys if getattr(image_processor, k, None) is not None}
    )


FAMILIES = (
    (FrameCNNConfig, FrameCNNModel, FrameCNNForVideoClassification),
    (CNNRNNConfig, CNNRNNModel, CNNRNNForVideoClassification),
    (Video3DCNNConfig, Video3DCNNModel, Video3DCNNForVideoClassification),
    (X3DConfig, X3DModel, X3DForVideoClassification),
    (SlowFastConfig, SlowFastModel, SlowFastForVideoClassification),
    (I3DConfig, I3DModel, I3DForVideoClassification),
)


def register_auto_classes() -> None:
    """Make ``AutoConfig``, ``AutoModel``, ``AutoModelForVideoClassification`` and ``AutoVideoProcessor`` know
    this package's families (done on ``import surgical_skill``; calling it again is harmless)."""
    for config_class, base_class, head_class in FAMILIES:
        AutoConfig.register(config_class.model_type, config_class, exist_ok=True)
        AutoModel.register(config_class, base_class, exist_ok=True)
        AutoModelForVideoClassification.register(config_class, head_class, exist_ok=True)
        AutoVideoProcessor.register(config_class, SurgicalSkillVideoProcessor, exist_ok=True)
