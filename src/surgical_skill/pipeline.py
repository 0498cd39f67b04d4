"""``pipeline("surgical-skill")``: score a whole recording, say how sure, and show when.

    >>> import surgical_skill
    >>> from transformers import pipeline
    >>> skill = pipeline("surgical-skill", model="runs/demo/model")
    >>> result = skill("trial.mp4", num_clips=8)
    >>> result["label"], round(result["score"], 2), result["clips"][0]["start"]
    ('higher-skilled', 0.93, 0.0)

Clips are spread evenly over the whole video (``num_clips``, or one every ``clip_stride_seconds``), sampled
and preprocessed exactly as in training (the model's saved video processor), batched through the model
(``batch_size`` clips at a time) and their probabilities averaged. A two-class model decides with the threshold
on p(class 1) chosen on validation data and saved with it (``config.decision_threshold``; ``metadata["decision"]``
says which rule decided), else by the largest probability; ``threshold=`` overrides it for a call. A score model's
result names every score it reports (``result["scores"]``, e.g. each OSATS item and their sum), per clip too.

Budgets (:mod:`surgical_skill.limits`): a call asking one video for more clips than ``max_clips_per_call`` is
refused before anything is decoded (:class:`~surgical_skill.limits.ResourceLimitError`), and clips are decoded,
preprocessed and scored a batch at a time (``clip_batch_size``, in whole forward batches), so memory stays
flat in the clip count: only each clip's outputs are kept. Inputs are local files; an http(s) URL is read only
with ``allow_urls=True`` (every other FFmpeg protocol is refused: :func:`~surgical_skill.video.sources.check_source`).

Degenerate inputs (the policy of :mod:`surgical_skill.video.sampling`): a video too short for the model's clips
(a clip would hold fewer than half its frames distinct, e.g. 1-7 frames for 16-frame clips) is refused with
:class:`~surgical_skill.video.VideoTooShortError` (an ``error`` record with ``errors="skip"``); a video shorter
than one clip is scored from clips that repeat frames; identical clips (a short video, many clips) are scored
once, so ``metadata["clips"]`` counts distinct clips; and a video whose frame rate makes a clip cover another
length of time than the model's training videos did (the ``clip`` sampling without ``target_fps``, beyond
``FPS_TOLERANCE``) is scored as asked. Each of these is logged as a warning and listed in
``metadata["warnings"]`` (empty when there is nothing to say).
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import AutoModelForVideoClassification, Pipeline
from transformers.pipelines import PIPELINE_REGISTRY

from .data.transforms import ClipTransforms
from .deprecation import RenamedKeys
from .errors import UsageError
from .files import staged_contents
from .limits import exceeded, get_limits
from .models import build_video_processor, check_device, load_trained_model, load_trained_video_processor
from .models.heads import expected_score_spread, is_ordinal, reported_score_names, target_names
from .models.inputs import clip_logits, is_regression_model, scores_from_logits
from .remote_code import save_remote_code
from .video import ClipSampling, FramesLostError, VideoDecodeError, decode_frames, probe, sample_multi_clip_indices
from .video.decode import _frames_lost
from .video.sources import check_source

AGGREGATIONS = ("mean", "median", "max")

logger = logging.getLogger(__name__)


class SurgicalSkillPipeline(Pipeline):
    """Whole-video skill assessment. Inputs: a local video file, an http(s) URL (with ``allow_urls=True``, given
    to the pipeline or the call), a list of them, or a decoded video (a (T, H, W, 3) uint8 array or a (T, C, H, W)
    tensor, with ``fps=``). Outputs (plain JSON-able dicts):

    - a class model: ``label``, ``score`` (its probability), ``probabilities`` (every class), ``spread`` (each
      class's standard deviation over clips), for ordered classes ``expected_class`` (the probability-weighted
      class index, 0-based), and ``clips`` (start, end in seconds, probabilities: the skill timeline);
    - a score model: ``scores`` (every score it reports, by name, in the config's order: its
      ``target_names``, then ``score_sum_name``), ``score`` and ``predicted_score`` (the first of them),
      ``spread`` (the first's standard deviation over clips) and ``spreads`` (each score's), for a distribution
      head ``expected_score_spread`` (each target's predicted standard deviation, score units, mean over
      clips), and ``clips`` (start, end, ``scores`` and ``score``: a timeline per score);
    - ``metadata`` (with ``warnings``: a short video, repeated clips, another frame rate than training's).

    ``errors="skip"`` turns an unreadable or too short video in a list into an ``error`` record."""

    _load_processor = False
    _load_image_processor = False
    _load_feature_extractor = False
    _load_tokenizer = False
    _load_video_processor = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # `batch_size` here counts clips per forward pass; videos go one at a time.
        self.clip_batch_size = self._batch_size or 8
        self._batch_size = None
        if self.video_processor is None:
            self.video_processor = build_video_processor(self.model.name_or_path, config=self.model.config)
        self.sampling = ClipSampling.from_video_processor(self.video_processor)
        self.transforms = ClipTransforms.from_video_processor(self.video_processor, training=False)

    def save_pretrained(self, save_directory: str | os.PathLike, **kwargs) -> None:
        """Save the model, its video processor and this pipeline's code (with everything it imports), so the
        folder loads with ``pipeline("surgical-skill", model=folder, trust_remote_code=True)`` where
        surgical-skill is not installed (see :mod:`surgical_skill.remote_code`). Written into a temporary
        folder first: a failure leaves ``save_directory`` as it was.

        Files already in ``save_directory`` that the pipeline does not write are kept, as transformers'
        ``save_pretrained`` keeps them (the folder may be the working directory)."""
        with staged_contents(save_directory) as tmp:
            self.model.save_pretrained(tmp, **kwargs)
            self.video_processor.save_pretrained(tmp)
            if type(self).__module__.startswith("surgical_skill."):
                save_remote_code(tmp, self.model)
            else:  # this code came from a model folder (trust_remote_code): copy that folder's code along
                here = Path(sys.modules[type(self).__module__].__file__).parent
                for source in here.glob("surgical_skill_*.py"):
                    shutil.copy(source, tmp / source.name)

    def _sanitize_parameters(
        self,
        num_clips=None,
        clip_stride_seconds=None,
        fps=None,
        top_k=None,
        aggregation=None,
        threshold=None,
        allow_urls=None,
        **kwargs,
    ):
        preprocess = {
            k: v
            for k, v in {
                "num_clips": num_clips,
                "clip_stride_seconds": clip_stride_seconds,
                "fps": fps,
                "allow_urls": allow_urls,
            }.items()
            if v is not None
        }
        postprocess = {
            k: v
            for k, v in {"top_k": top_k, "aggregation": aggregation, "threshold": threshold}.items()
            if v is not None
        }
        if threshold is not None and not 0.0 <= float(threshold) <= 1.0:
            raise ValueError(f"threshold={threshold!r} must be a probability in [0, 1]")
        if aggregation is not None and aggregation not in AGGREGATIONS:
            raise ValueError(f"aggregation={aggregation!r} is not one of {', '.join(AGGREGATIONS)}")
        if num_clips is not None and (
            isinstance(num_clips, bool) or not isinstance(num_clips, int | np.integer) or num_clips < 1
        ):
            raise UsageError(f"num_clips={num_clips!r} must be a whole number of clips, 1 or more")
        if clip_stride_seconds is not None and (
            isinstance(clip_stride_seconds, bool)
            or not isinstance(clip_stride_seconds, int | float | np.integer | np.floating)
            or not clip_stride_seconds > 0
        ):
            raise UsageError(f"clip_stride_seconds={clip_stride_seconds!r} must be a positive number of seconds")
        return preprocess, {}, postprocess

    def __call__(self, inputs, *args, errors: str = "raise", batch_size: int | None = None, **kwargs):
        if errors not in ("raise", "skip"):
            raise ValueError(f"errors={errors!r} must be 'raise' or 'skip'")
        if batch_size is not None:
            self.clip_batch_size = batch_size
        if isinstance(inputs, list | tuple) and not _is_decoded_video(inputs):
            return list(self._each(inputs, errors, args, kwargs))
        if isinstance(inputs, types.GeneratorType | torch.utils.data.IterableDataset):
            return self._each(inputs, errors, args, kwargs)  # lazily, as transformers streams these
        if isinstance(inputs, torch.utils.data.Dataset):  # e.g. KeyDataset(dataset, "video")
            return self._each((inputs[i] for i in range(len(inputs))), errors, args, kwargs)
        return super().__call__(inputs, *args, **kwargs)

    def _each(self, inputs, errors: str, args, kwargs) -> Iterator[dict[str, Any]]:
        """Each video's result in turn (one video's clips at a time), an ``error`` record for an unreadable one
        with ``errors="skip"``."""
        for item in inputs:
            try:
                yield super().__call__(item, *args, **kwargs)
            except VideoDecodeError as err:
                if errors == "raise":
                    raise
                yield {"video": err.path or _name(item), "error": err.reason}

    def run_single(self, inputs, preprocess_params, forward_params, postprocess_params):
        # transformers' ChunkPipeline loop: preprocess yields one batch of clips at a time, each is scored before
        # the next is decoded, and postprocess sees every batch's (small) outputs. (ChunkPipeline itself would
        # send a single video through a DataLoader and its own batching; videos here go one at a time.)
        outputs = [self.forward(batch, **forward_params) for batch in self.preprocess(inputs, **preprocess_params)]
        return self.postprocess(outputs, **postprocess_params)

    def preprocess(
        self,
        video,
        num_clips: int = 8,
        clip_stride_seconds: float | None = None,
        fps: float | None = None,
        allow_urls: bool = False,
    ) -> Iterator[dict[str, Any]]:
        """The video's clips, preprocessed, a batch at a time (``{"pixel_values", "spans"}``), then its ``info``.

        The clip count is checked against ``max_clips_per_call`` before anything is decoded, and at most one
        batch of decoded clips is held at once (:meth:`_clips_per_batch`): decoding every clip first held them
        all (8000 clips of a small video took 6.8 GB). A batch decodes only its own clips' frames; each frame
        equals a whole-video decode's, so the scores do not depend on the batch size."""
        if isinstance(video, str | os.PathLike):
            name = os.fspath(video)
            check_source(name, allow_urls=allow_urls)  # before probe: no other FFmpeg protocol is ever opened
            if clip_stride_seconds is None:
                self._check_clip_count(num_clips, name)  # before probe too: nothing is read for a refused call
            meta = probe(name, allow_urls=allow_urls)
            total_num_frames, rate, duration = meta.total_num_frames, meta.fps, meta.duration
            size = self._decode_size(min(meta.height, meta.width))
            frames = None
        else:
            frames = _as_tchw(video)
            total_num_frames, rate, name = frames.shape[0], fps, "<array>"
            duration = total_num_frames / rate if rate else None
        warnings = self._input_warnings(total_num_frames, rate, name)
        self._check_clip_count(
            self._clips_asked(total_num_frames, rate, num_clips, clip_stride_seconds), name, clip_stride_seconds
        )
        windows = self._windows(total_num_frames, rate, num_clips, clip_stride_seconds)
        self._check_clip_count(len(windows), name, clip_stride_seconds)  # should _clips_asked ever drift
        windows, warnings = self._distinct_windows(windows, name, warnings)

        scored, damages = [], []
        step = self._clips_per_batch()
        for first in range(0, len(windows), step):
            batch = windows[first : first + step]
            if frames is None:
                unique, inverse = np.unique(batch.reshape(-1), return_inverse=True)
                try:
                    decoded = decode_frames(name, unique, size=size, metadata=meta, allow_urls=allow_urls)
                except FramesLostError as err:  # a damaged stretch: score the clips clear of it, never frozen frames
                    decoded = err.frames
                    damages.append(err)
                    whole = ~np.isin(batch, err.lost).any(axis=1)
                    batch, inverse = batch[whole], inverse.reshape(batch.shape)[whole]
                clips = decoded[torch.from_numpy(inverse.reshape(batch.shape))]  # (B, T, C, H, W)
                del decoded
            else:
                clips = frames[torch.from_numpy(batch)]
            scored.append(batch)
            forward = max(1, self.clip_batch_size)  # float copies for one forward batch at a time, not the decode's
            for start in range(0, len(batch), forward):
                yield {
                    "pixel_values": torch.stack([self.transforms(clip) for clip in clips[start : start + forward]]),
                    "spans": self._spans(batch[start : start + forward], total_num_frames),
                }  # pixel_values: (B, T, C, H, W) float
            del clips

        scored = np.concatenate(scored)
        info = {}
        if damages:
            damage = _combined_damage(meta, windows, damages)
            if not len(scored):
                raise damage
            dropped = len(windows) - len(scored)
            warning = f"{name}: scored on {len(scored)} of {len(windows)} clips: {damage.reason}"
            logger.warning(warning)
            warnings = [*warnings, warning]
            info = _damage_info(damage, dropped)
        yield {
            "info": {
                "video": name,
                "total_num_frames": total_num_frames,
                "fps": rate,
                "duration": duration,
                "frames_used": len(np.unique(scored)),
                "warnings": warnings,
                **info,
            }
        }

    def _forward(self, model_inputs):
        if "pixel_values" not in model_inputs:  # the video's info, after its last batch of clips
            return model_inputs
        pixel_values = model_inputs.pop("pixel_values")
        logits = clip_logits(self.model, pixel_values, batch_size=self.clip_batch_size, device=self.device)
        return {"logits": logits.cpu(), **model_inputs}

    def postprocess(
        self,
        model_outputs: list[dict[str, Any]],
        top_k: int | None = None,
        aggregation: str = "mean",
        threshold: float | None = None,
    ) -> dict[str, Any]:
        batches, (last,) = model_outputs[:-1], model_outputs[-1:]
        logits = torch.cat([batch["logits"] for batch in batches])  # (K, outputs): every clip's, in order
        spans = [span for batch in batches for span in batch["spans"]]
        info = last["info"]
        rate = info["fps"]
        reduce = {"mean": np.mean, "median": np.median, "max": np.max}[aggregation]

        def seconds(frame: int) -> float | None:
            return round(frame / rate, 3) if rate else None

        clips = []
        metadata = RenamedKeys(  # "num_frames", the video's length until it was named so, still reads
            {
                **info,
                "clips": int(logits.shape[0]),
                "sampling": self.sampling.to_dict(),
                "model": str(self.model.name_or_path),
                "aggregation": aggregation,
            },
            {"num_frames": "total_num_frames"},
            where="metadata",
            note="metadata['sampling']['num_frames'] is a clip's length",
        )
        if is_regression_model(self.model.config):
            return self._score_result(logits, spans, seconds, reduce, metadata)
        probabilities = scores_from_logits(logits, self.model.config).numpy()  # (K, num_labels)
        names = [self.model.config.id2label[i] for i in range(probabilities.shape[1])]
        for (start, end), row in zip(spans, probabilities):
            clips.append(
                {
                    "start": seconds(start),
                    "end": seconds(end),
                    "probabilities": {n: float(p) for n, p in zip(names, row)},
                }
            )
        video = reduce(probabilities, axis=0)
        video = video / video.sum()
        order = np.argsort(-video)[: top_k or len(names)]
        chosen, metadata["decision"] = self._decide(video, names, threshold)
        result = {
            "label": names[chosen],
            "score": float(video[chosen]),
            "probabilities": {names[i]: float(video[i]) for i in order},
            "spread": {n: float(s) for n, s in zip(names, probabilities.std(axis=0))},
        }
        if is_ordinal(self.model.config):  # ordered classes: where between them the video sits
            result["expected_class"] = float((video * np.arange(len(video))).sum())
        return {**result, "clips": clips, "metadata": metadata}

    def _score_result(self, logits, spans, seconds, reduce, metadata) -> dict[str, Any]:
        """A score model's result: every reported score by name (``scores``), the first also as ``score`` and
        ``predicted_score``; ``spread``/``spreads`` over clips; a distribution head's own spread of each target
        (``expected_score_spread``, the mean over clips of its distribution's standard deviation)."""
        config = self.model.config
        names = reported_score_names(config)
        scores = scores_from_logits(logits, config).numpy()  # (clips, len(names))
        own_spread = expected_score_spread(logits, config)  # (clips, targets) or None
        clips = []
        for k, ((start, end), row) in enumerate(zip(spans, scores)):
            clip = {"start": seconds(start), "end": seconds(end), "score": float(row[0])}
            clip["scores"] = {name: float(value) for name, value in zip(names, row)}
            if own_spread is not None:
                clip["expected_score_spread"] = {n: float(v) for n, v in zip(target_names(config), own_spread[k])}
            clips.append(clip)
        targets = len(target_names(config))
        video = reduce(scores[:, :targets], axis=0)  # (targets,): each score over the clips
        if len(names) > targets:  # the reported sum is the sum of the reduced scores, whatever the aggregation
            video = np.append(video, video.sum())
        result = {
            "predicted_score": float(video[0]),
            "score": float(video[0]),
            "scores": {name: float(value) for name, value in zip(names, video)},
            "spread": float(scores[:, 0].std()),
            "spreads": {name: float(value) for name, value in zip(names, scores.std(axis=0))},
        }
        if own_spread is not None:
            mean_spread = own_spread.mean(0).tolist()
            result["expected_score_spread"] = {n: float(v) for n, v in zip(target_names(config), mean_spread)}
        return {**result, "clips": clips, "metadata": metadata}

    # --------------------------------------------------------------------------------------------------

    def _decide(self, video: np.ndarray, names: list[str], threshold: float | None) -> tuple[int, dict[str, Any]]:
        """The class decided for the video, and the rule that decided it (plain JSON)."""
        source = "given"
        if threshold is None and len(names) == 2:
            threshold = getattr(self.model.config, "decision_threshold", None)
            info = getattr(self.model.config, "decision_threshold_info", None) or {}
            source = f"saved with the model (chosen on {info.get('chosen_on', 'validation data')})"
        if threshold is None or len(names) != 2:
            return int(np.argmax(video)), {"rule": "largest probability"}
        return int(video[1] >= threshold), {
            "rule": f"p({names[1]}) >= threshold",
            "threshold": float(threshold),
            "source": source,
        }

    def _input_warnings(self, total_num_frames: int, fps: float | None, name: str) -> list[str]:
        """Refuse a video too short for the model's clips; the warnings for a short video or another frame rate."""
        found = [self.sampling.check_length(total_num_frames, fps, name), self.sampling.fps_warning(fps, name)]
        for warning in filter(None, found):
            logger.warning(warning)
        return [warning for warning in found if warning]

    def _distinct_windows(self, windows: np.ndarray, name: str, warnings: list[str]) -> tuple[np.ndarray, list[str]]:
        """Each distinct clip once, in order: identical clips would count as agreeing evidence."""
        _, first = np.unique(windows, axis=0, return_index=True)
        if len(first) == len(windows):
            return windows, warnings
        warning = f"{name}: {len(windows)} clips asked, {len(first)} distinct; each is scored once"
        logger.warning(warning)
        return windows[np.sort(first)], [*warnings, warning]

    def _clips_per_batch(self) -> int:
        """Clips decoded and held at once: the ``clip_batch_size`` budget, rounded down to a whole number of
        forward batches (so the model sees the same batches as one decode of every clip would give it, and the
        scores are bit-identical), or the budget itself when it is smaller than a forward batch.

        Decoding fewer clips at a time costs time: each decode seeks on its own, and a uniform clip spans the
        whole video (64 uniform clips of a 60 s video in batches of 8: 4.4 s against 2.7 s in one decode), so the
        decode batch is the memory budget, not the forward batch."""
        budget, forward = get_limits().clip_batch_size, max(1, self.clip_batch_size)
        return max(1, budget if budget < forward else budget - budget % forward)

    def _clips_asked(
        self, total_num_frames: int, fps: float | None, num_clips: int, clip_stride_seconds: float | None
    ) -> float:
        """How many clips :meth:`_windows` would sample (before identical ones are merged), computed without
        sampling them: ``num_clips``, or the count a stride implies (possibly ``inf`` for a vanishing stride)."""
        if clip_stride_seconds is None or not fps:
            return num_clips
        if self.sampling.strategy == "clip":  # as sample_multi_clip_indices: starts a whole frame or more apart
            room = max(0, total_num_frames - self.sampling.clip_span(fps))
            return math.ceil(room / max(1, math.floor(clip_stride_seconds * fps))) + 1
        per_clip = clip_stride_seconds * fps
        return max(1, math.ceil(total_num_frames / per_clip)) if per_clip > 0 else math.inf

    def _check_clip_count(self, count: float, name: str, clip_stride_seconds: float | None = None) -> None:
        """Refuse more clips than the ``max_clips_per_call`` budget, saying how to ask for fewer."""
        if count <= get_limits().max_clips_per_call:
            return
        asked = "an unbounded number of" if math.isinf(count) else f"{int(count):,}"
        how = (
            f"one every {clip_stride_seconds:g} s; a larger clip_stride_seconds asks for fewer"
            if clip_stride_seconds is not None
            else "num_clips; ask for fewer"
        )
        raise exceeded("max_clips_per_call", name, f"{asked} clips ({how})")

    def _spans(self, windows: np.ndarray, total_num_frames: int) -> list[tuple[int, int]]:
        """Each clip's [first, last + 1) frames, for its start and end in the timeline."""
        if self.sampling.strategy == "uniform":  # each clip spans the video
            return [(0, total_num_frames)] * len(windows)
        return [(int(w[0]), int(w[-1]) + 1) for w in windows]

    def _windows(self, total_num_frames: int, fps: float | None, num_clips: int, clip_stride_seconds: float | None):
        if clip_stride_seconds is not None and self.sampling.strategy == "clip":
            if not fps:
                raise ValueError("clip_stride_seconds needs the video's frame rate (pass fps= for arrays)")
            return sample_multi_clip_indices(
                total_num_frames,
                self.sampling.num_frames,
                fps=fps,
                clip_stride_seconds=clip_stride_seconds,
                frame_stride=self.sampling.frame_stride,
                target_fps=self.sampling.target_fps,
            )
        if clip_stride_seconds is not None and fps:
            num_clips = max(1, math.ceil(total_num_frames / (clip_stride_seconds * fps)))
        return self.sampling.windows(total_num_frames, fps, num_clips=num_clips)

    def _decode_size(self, short_side: int) -> int | None:
        size = self.transforms.decode_size
        return size if short_side > 1.5 * size else None


def _damage_info(err: FramesLostError, clips_dropped: int) -> dict[str, Any]:
    """What the result's metadata says of frames a damaged stretch took: the clips over them are not scored."""
    return {
        "lost_frames": err.lost,
        "lost_seconds": [[round(a, 3), round(b, 3)] for a, b in err.lost_seconds],
        "clips_dropped": clips_dropped,
    }


def _combined_damage(meta, windows: np.ndarray, damages: list[FramesLostError]) -> FramesLostError:
    """The error one decode of every clip's frames would have raised, from the errors of the batches that met
    the damage (what the warning and the metadata report; its ``frames`` are not kept)."""
    targets = np.unique(windows)
    lost = np.unique(np.concatenate([np.asarray(err.lost, dtype=np.int64) for err in damages]))
    return _frames_lost(meta, targets, ~np.isin(targets, lost), None, None)


def _is_decoded_video(inputs) -> bool:
    return len(inputs) > 0 and isinstance(inputs[0], np.ndarray | torch.Tensor)


def _name(item) -> str:
    return os.fspath(item) if isinstance(item, str | os.PathLike) else "<array>"


def _as_tchw(video) -> torch.Tensor:
    if not isinstance(video, np.ndarray | torch.Tensor) and not (
        isinstance(video, list | tuple) and _is_decoded_video(video)  # a list of frames
    ):
        raise UsageError(
            f"cannot score an input of type {type(video).__name__}: give a video file path, an http(s) URL (with "
            "allow_urls=True), a list of them, or decoded frames (a (T, H, W, 3) uint8 array or a (T, C, H, W) "
            "tensor, with fps=)"
        )
    tensor = torch.as_tensor(np.asarray(video) if not isinstance(video, torch.Tensor) else video)
    if tensor.ndim != 4:
        raise ValueError(f"a decoded video must be (T, H, W, 3) or (T, 3, H, W), got shape {tuple(tensor.shape)}")
    if tensor.shape[-1] == 3 and tensor.shape[1] != 3:
        tensor = tensor.permute(0, 3, 1, 2)
    return tensor.to(torch.uint8)


def register_pipeline() -> None:
    """Register the ``surgical-skill`` task with transformers (done on ``import surgical_skill``)."""
    if PIPELINE_REGISTRY.supported_tasks.get("surgical-skill", {}).get("impl") is SurgicalSkillPipeline:
        return
    PIPELINE_REGISTRY.register_pipeline(
        "surgical-skill", pipeline_class=SurgicalSkillPipeline, pt_model=AutoModelForVideoClassification, type="video"
    )


def load_pipeline(
    model: str | os.PathLike, *, device: str | int | None = None, allow_pickle: bool = False, **kwargs
) -> SurgicalSkillPipeline:
    """``pipeline("surgical-skill", model=model)`` for a folder or Hub id, with the checks the command makes: the
    device exists, the folder is a model (not a run folder, videos, or weights without a config), its weights are
    safetensors (a pickle checkpoint only with ``allow_pickle``, read with ``weights_only=True``) and fit its
    config, and its video processor is there. Runs the installed code, never the copy a Hub folder carries.

    Raises:
        ModelLoadError: the model cannot be loaded (safely); the message says why and what to do.
        UsageError: ``device`` is not here (``cuda`` without a visible GPU).
    """
    register_pipeline()
    check_device(device)
    loaded = load_trained_model(model, allow_pickle=allow_pickle)
    processor = load_trained_video_processor(model, config=loaded.config)
    return SurgicalSkillPipeline(model=loaded, video_processor=processor, device=device, **kwargs)


def run_inference(
    model_or_dir, video_path: str | os.PathLike, *, device: str | int | None = None, num_clips: int = 8, **kwargs
) -> dict[str, Any]:
    """Score one video in one call: ``pipeline("surgical-skill", model=model_or_dir)(video_path)``, for a saved
    model (folder or Hub id, loaded by :func:`load_pipeline`) or a model object."""
    register_pipeline()
    if isinstance(model_or_dir, str | os.PathLike | Path):
        skill = load_pipeline(model_or_dir, device=device)
    else:
        processor = (
            build_video_processor(model_or_dir.name_or_path, config=model_or_dir.config)
            if model_or_dir.name_or_path
            else None
        )
        skill = SurgicalSkillPipeline(model=model_or_dir, video_processor=processor, device=device)
    return skill(os.fspath(video_path), num_clips=num_clips, **kwargs)
