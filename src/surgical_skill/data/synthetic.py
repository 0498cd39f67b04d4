"""Built-in data: procedurally generated bench-top suturing videos whose skill label lives in the motion.

Each video shows a textured tissue pad with an incision seen from above, a needle driver and forceps (shaded,
articulated), a curved needle and thread, and the planned stitch marks. A trial is generated from a surgeon
profile (``subject``) and a latent skill in [0, 1] that drives *only how the instruments move*:

- high skill: minimum-jerk reaches along direct paths, a still hand, no wasted movement;
- low skill: overshoot and corrective sub-movements, curved paths, physiological tremor (4-9 Hz), idle
  pauses, regrasps and failed bites, crammed into the same time (so hurried, jerky reaches).

Nothing static carries the label (measured with :func:`~surgical_skill.evaluation.static_baselines`, see the
README): the trial's length, and so the file's size, is drawn per trial independently of skill (every trial
places the same number of stitches, in whatever time the surgeon's personal pace gives); the stitches land
where they were planned, give or take the same scatter for everyone, so the finished suture (the last frame)
looks alike; tissue colour, lighting, drape, camera framing, instrument look, handedness and where the
instruments rest come from the surgeon's profile or the trial's randomness. A model has to watch the motion.
Trials of one surgeon share a profile, so a model that memorises surgeons does not generalise across a
subject-grouped split.

Two static cues that real recordings often carry can be switched on, to see what a shortcut looks like (and
that :func:`~surgical_skill.evaluation.static_baselines` finds it): ``outcome_cues`` (the final product:
irregular stitch placement and bleeding puncture marks when unskilled, visible in the last frame) and
``duration_cue`` (slower surgeons take longer: time-to-complete predicts skill, as on JIGSAWS).

Besides the label and ``score``, each trial is rated like the field's datasets (JIGSAWS: 1-5 items summing to a
GRS; AIxSuture: several raters a video), by :func:`rate_trials`. Five OSATS-like items, 1-5 each, are half the
trial's latent skill and half what its motion shows of the feature the item rates (the feature read back as a
sloppiness by inverting its mean for a given skill), rounded:

- ``respect_for_tissue``: the tremor's amplitude (the surgeon's tremor scale included);
- ``suture_needle_handling``: failed bites (the needle backed out and driven again) a stitch;
- ``instrument_handling``: regrasps of the needle with the forceps a stitch;
- ``time_and_motion``: idle pauses (share of the trial) and economy (path length over the direct path), averaged;
- ``flow_of_operation``: smoothness, the corrective sub-movements a reach.

``grs`` is their sum (5-25); ``grs_rater_1`` to ``grs_rater_3`` are that GRS as three raters give it, each with
a bias of their own and noise, rounded and clipped to 5-25. The quality of the final product is not an item:
the finished suture shows no skill unless ``outcome_cues``. The ratings draw from a generator of their own, so
they change no video (``subscores=False`` leaves them out).

    >>> generate_dataset("data/synthetic", SyntheticConfig(num_videos=120, seed=0))
    PosixPath('data/synthetic/metadata.csv')
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from ..files import write_json_atomic, write_text_atomic
from ..video import write_video

# Bumped whenever the same config renders other videos (2: no static shortcuts, constant bitrate).
GENERATOR_VERSION = 2
BINARY_LABELS = ("lower-skilled", "higher-skilled")
THREE_CLASS_LABELS = ("novice", "intermediate", "expert")


@dataclass(frozen=True)
class SyntheticConfig:
    """How many videos, how they look, and how they are written."""

    num_videos: int = 100
    num_classes: int = 2  # 2: lower-/higher-skilled; 3: novice/intermediate/expert
    trials_per_subject: int = 2
    height: int = 128
    width: int = 128
    fps: float = 15.0
    duration: float = 10.0  # seconds for a mid-pace trial; the surgeon's pace (not skill) stretches it
    camera_shake: bool = False
    noise: float = 3.0  # camera noise, standard deviation in 8-bit levels
    seed: int = 0
    # Constant bitrate (bits per pixel and frame): with a quality target instead (CRF), busier motion takes more
    # bits, and the file's size would tell a less skilled surgeon's hurried, trembling hands apart.
    bits_per_pixel: float = 0.6
    outcome_cues: bool = False  # static cue: the finished suture (last frame) shows the skill
    duration_cue: bool = False  # static cue: less skilled surgeons take longer
    # metadata only (the videos are the same either way): OSATS-like items, their sum ``grs`` and three raters' GRS
    subscores: bool = True

    def __post_init__(self):
        if self.num_classes not in (2, 3):
            raise ValueError(f"num_classes must be 2 or 3, got {self.num_classes}")
        if self.num_videos < self.num_classes:
            raise ValueError(f"need at least one video per class ({self.num_classes}), got {self.num_videos}")
        if self.height % 2 or self.width % 2 or min(self.height, self.width) < 32:
            raise ValueError(f"height and width must be even and at least 32, got {self.height}x{self.width}")
        if self.fps <= 0 or self.duration <= 0 or self.trials_per_subject < 1 or self.bits_per_pixel <= 0:
            raise ValueError("fps, duration, trials_per_subject and bits_per_pixel must be positive")

    @property
    def labels(self) -> tuple[str, ...]:
        return BINARY_LABELS if self.num_classes == 2 else THREE_CLASS_LABELS


@dataclass(frozen=True)
class SurgeonProfile:
    """A surgeon: skill level plus a personal style that has nothing to do with skill."""

    subject: str
    label: str
    skill: float  # latent, in [0, 1]
    left_handed: bool
    pace: float  # > 1 is slower; independent of skill
    tremor_scale: float
    appearance_seed: int


@dataclass(frozen=True)
class Trial:
    video: str
    profile: SurgeonProfile
    skill: float  # this trial's latent skill (the surgeon's, plus day-to-day variation)
    score: int  # GRS-like, 8..40
    seed: int


def plan_trials(config: SyntheticConfig) -> list[Trial]:
    """Surgeons and their trials: classes balanced to within one video, trials grouped by surgeon."""
    rng = np.random.default_rng([config.seed, 0])
    labels = config.labels
    per_class = [config.num_videos // len(labels) + (i < config.num_videos % len(labels)) for i in range(len(labels))]
    width = 1.0 / len(labels)
    trials: list[Trial] = []
    subject_number = 0
    for class_index, (label, count) in enumerate(zip(labels, per_class)):
        for start in range(0, count, config.trials_per_subject):
            # Skill inside the inner 80 % of the class band, concentrated towards its middle: neighbouring
            # classes are close (a fifth of a band apart) but a rater would not confuse them.
            skill = (class_index + 0.1 + 0.8 * rng.beta(2.5, 2.5)) * width
            profile = SurgeonProfile(
                subject=f"S{subject_number:03d}",
                label=label,
                skill=float(skill),
                left_handed=bool(rng.random() < 0.25),
                pace=float(rng.uniform(0.8, 1.25)),
                tremor_scale=float(rng.uniform(0.85, 1.15)),
                appearance_seed=int(rng.integers(2**31)),
            )
            subject_number += 1
            for trial_index in range(min(config.trials_per_subject, count - start)):
                trial_skill = float(np.clip(skill + rng.normal(0, 0.04), 0.0, 1.0))
                score = int(np.clip(round(8 + 32 * trial_skill + rng.normal(0, 1.5)), 8, 40))
                trials.append(
                    Trial(
                        video=f"videos/{profile.subject}_trial{trial_index + 1}.mp4",
                        profile=profile,
                        skill=trial_skill,
                        score=score,
                        seed=int(rng.integers(2**31)),
                    )
                )
    return trials


# ------------------------------------------------------------------------------------------- motion


def _min_jerk(p0: np.ndarray, p1: np.ndarray, n: int) -> np.ndarray:
    """n positions from p0 to p1 along the minimum-jerk profile (bell-shaped speed, zero end velocity)."""
    s = np.linspace(0.0, 1.0, max(n, 2))[:, None]
    tau = 10 * s**3 - 15 * s**4 + 6 * s**5
    path = p0 + (p1 - p0) * tau
    return path[:n] if n > 1 else path[-1:]


@dataclass
class _Track:
    """Per-frame state of both instruments, built phase by phase."""

    driver: list[np.ndarray] = field(default_factory=list)
    forceps: list[np.ndarray] = field(default_factory=list)
    driver_jaw: list[np.ndarray] = field(default_factory=list)
    forceps_jaw: list[np.ndarray] = field(default_factory=list)
    needle_turn: list[np.ndarray] = field(default_factory=list)
    stitches_done: list[np.ndarray] = field(default_factory=list)

    def add(self, driver, forceps, driver_jaw, forceps_jaw, needle_turn, done):
        n = len(driver)
        self.driver.append(driver)
        self.forceps.append(forceps)
        self.driver_jaw.append(np.broadcast_to(driver_jaw, (n,)).astype(float))
        self.forceps_jaw.append(np.broadcast_to(forceps_jaw, (n,)).astype(float))
        self.needle_turn.append(np.broadcast_to(needle_turn, (n,)).astype(float))
        self.stitches_done.append(np.full(n, done))

    def hold(self, n: int) -> None:
        """``n`` more frames of the last state."""
        for name in ("driver", "forceps", "driver_jaw", "forceps_jaw", "needle_turn", "stitches_done"):
            parts = getattr(self, name)
            parts.append(np.repeat(parts[-1][-1:], n, axis=0))

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            name: np.concatenate(getattr(self, name))
            for name in ("driver", "forceps", "driver_jaw", "forceps_jaw", "needle_turn", "stitches_done")
        }


class _Mover:
    """Generates reaches for one trial: smooth and direct when skilled, sloppy and corrected when not."""

    def __init__(self, skill: float, fps: float, tempo: float, rng: np.random.Generator):
        self.sloppiness = 1.0 - skill
        self.fps, self.tempo, self.rng = fps, tempo, rng
        # what the reaches looked like, for the sub-scores (counted only: nothing here draws from ``rng``)
        self.reaches = self.corrections = 0
        self.path_length = self.direct_length = 0.0

    def frames(self, seconds: float) -> int:
        # every movement's time varies a little, for everyone: where a trial is at a given moment (so what a
        # single frame shows) is then not set by skill
        return max(2, round(seconds * self.tempo * self.fps * self.rng.lognormal(0.0, 0.4)))

    def reach(self, p0: np.ndarray, p1: np.ndarray, seconds: float) -> np.ndarray:
        n = self.frames(seconds)
        distance = math.hypot(*(p1 - p0))  # not np.linalg.norm: BLAS may round differently run to run
        if distance < 1e-6:
            return np.repeat(p1[None], n, axis=0)
        direction = (p1 - p0) / distance
        normal = np.array([-direction[1], direction[0]])
        sloppy = self.sloppiness
        # primary sub-movement: aims past (overshoot) and beside the target, along a curved path
        aim = (
            p1
            + direction * distance * sloppy * self.rng.uniform(0.1, 0.35)
            + normal * distance * sloppy * self.rng.normal(0, 0.15)
        )
        corrections = int(self.rng.binomial(2, min(1.0, sloppy * 1.2)))
        primary_share = 1.0 if corrections == 0 else self.rng.uniform(0.55, 0.75)
        n_primary = max(2, round(n * primary_share))
        via = (p0 + aim) / 2 + normal * distance * sloppy * self.rng.normal(0, 0.25)
        first = _min_jerk(p0, via, n_primary // 2 + 1)
        second = _min_jerk(via, aim, n_primary - len(first) + 1)[1:]
        path = [first, second]
        position = aim
        remaining = n - n_primary
        for k in range(corrections):
            share = remaining if k == corrections - 1 else max(2, remaining // 2)
            # each correction halves the error, the last lands on target
            target = p1 if k == corrections - 1 else p1 + (position - p1) * -0.4
            path.append(_min_jerk(position, target, share + 1)[1:])
            position, remaining = target, remaining - share
        out = np.concatenate(path)[:n]
        if len(out) < n:
            out = np.concatenate([out, np.repeat(out[-1:], n - len(out), axis=0)])
        self.reaches += 1
        self.corrections += corrections
        self.direct_length += distance
        self.path_length += float(np.sqrt((np.diff(out, axis=0) ** 2).sum(1)).sum())
        return out

    def hold(self, p: np.ndarray, seconds: float) -> np.ndarray:
        return np.repeat(p[None], self.frames(seconds), axis=0)


def _jaw(n: int, start: float, end: float) -> np.ndarray:
    s = np.linspace(0, 1, n)
    return start + (end - start) * (10 * s**3 - 15 * s**4 + 6 * s**5)


def _scene_layout(rng: np.random.Generator) -> dict[str, float]:
    """Where the pad and incision sit: set per surgeon (camera set-up), not by skill."""
    return {
        "incision_y": rng.uniform(0.42, 0.52),
        "incision_x0": rng.uniform(0.18, 0.26),
        "incision_x1": rng.uniform(0.74, 0.82),
        "tilt": rng.uniform(-0.03, 0.03),
        "bite": rng.uniform(0.055, 0.07),
    }


# seconds of the phases of one stitch (approach, bite, grasp, pull, hand back) and of the final rest
_SECONDS_PER_STITCH, _SECONDS_OF_REST = 0.9 + 0.95 + 0.8 + 0.8 + 0.6, 0.8


def plan_motion(trial: Trial, config: SyntheticConfig) -> tuple[dict[str, np.ndarray], dict]:
    """Per-frame instrument positions (normalised 0..1 coordinates) and the stitches placed, for one trial."""
    # One generator for the whole trial: every step below draws from it in this order, so the order is part of
    # what a seed means (changing it changes every video: bump GENERATOR_VERSION).
    rng = np.random.default_rng([trial.seed, 1])
    layout = _scene_layout(np.random.default_rng([trial.profile.appearance_seed, 0]))
    sloppy = 1.0 - trial.skill
    n_stitches, n_frames, tempo = _trial_timing(trial, config, sloppy, rng)
    placement = _StitchPlacement.draw(layout, n_stitches, sloppy, config.outcome_cues, rng)
    hands = _Hands(_Mover(trial.skill, config.fps, tempo, rng), sloppy, rng)
    # a moment before starting, as long for everyone
    hands.wait(max(1, round(rng.uniform(0.0, 2.5) * tempo * config.fps)))
    for i in range(n_stitches):
        hands.stitch(*placement.entry_and_exit(i, layout, rng))
    hands.rest()
    planned = hands.track.arrays()
    motion = _retime(planned, n_frames)
    tremor = (0.0015 + 0.045 * sloppy**2) * trial.profile.tremor_scale
    _add_tremor(motion, tremor, config.fps, rng)
    mover = hands.mover
    features = {  # what the motion shows, as the sub-scores rate it (see rate_trial)
        "tremor": tremor,
        "failed_bites_per_stitch": hands.failed_bites / n_stitches,
        "regrasps_per_stitch": hands.regrasps / n_stitches,
        "pause_share": hands.pause_frames / len(planned["driver"]),
        "path_ratio": mover.path_length / max(mover.direct_length, 1e-9),
        "corrections_per_reach": mover.corrections / max(mover.reaches, 1),
    }
    extras = {"layout": layout, "planned_x": placement.planned_x, "bleeding": placement.bleeding}
    return motion, {"stitches": hands.stitches, "features": features, **extras}


def _trial_timing(
    trial: Trial, config: SyntheticConfig, sloppy: float, rng: np.random.Generator
) -> tuple[int, int, float]:
    """(stitches, frames, tempo): the task is the same for everyone, its length the surgeon's, not the skill's.

    Every trial places the same number of stitches. Its length comes from the surgeon's personal pace and the
    day, not skill (unless ``duration_cue``). The motion is planned at a natural tempo and then fitted into
    this length, so a less skilled surgeon's extra movements, pauses and regrasps make the reaches hurried,
    not the trial long.
    """
    n_stitches = max(1, round((config.duration - _SECONDS_OF_REST) / _SECONDS_PER_STITCH))
    length = config.duration * trial.profile.pace * rng.uniform(0.92, 1.08)
    if config.duration_cue:
        length *= 0.7 + 0.8 * sloppy
    n_frames = max(4, round(length * config.fps))
    tempo = config.duration / (n_stitches * _SECONDS_PER_STITCH + _SECONDS_OF_REST)
    return n_stitches, n_frames, tempo


@dataclass(frozen=True)
class _StitchPlacement:
    """Where the stitches were planned and where they land.

    By default the same small scatter for everyone: the finished suture says nothing of skill. With
    ``outcome_cues``, irregular spacing and depth when unskilled (and bleeding puncture marks).
    """

    planned_x: np.ndarray
    placed_x: np.ndarray
    placed_depth: np.ndarray
    bleeding: list[float]
    scatter: float

    @classmethod
    def draw(
        cls, layout: dict[str, float], n_stitches: int, sloppy: float, outcome_cues: bool, rng: np.random.Generator
    ) -> _StitchPlacement:
        x0, x1 = layout["incision_x0"], layout["incision_x1"]
        planned_x = np.linspace(x0 + 0.1, x1 - 0.1, n_stitches) if n_stitches > 1 else np.array([(x0 + x1) / 2])
        scatter = sloppy if outcome_cues else 0.35
        placed_x = planned_x + rng.normal(0, 0.004 + 0.03 * scatter, n_stitches)
        placed_depth = layout["bite"] * (1 + rng.normal(0, 0.05 + 0.3 * scatter, n_stitches))
        bleeding = [
            float(size) if outcome_cues and rng.random() < 1.5 * sloppy else 0.0
            for size in (0.3 + sloppy) * rng.uniform(0.7, 1.3, n_stitches)
        ]
        return cls(planned_x, placed_x, placed_depth, bleeding, scatter)

    def entry_and_exit(
        self, i: int, layout: dict[str, float], rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Where stitch ``i``'s needle goes in (above the incision) and comes out (below it)."""
        x = self.placed_x[i]
        incision_y = layout["incision_y"] + layout["tilt"] * (x - 0.5)
        entry = np.array([x, incision_y - self.placed_depth[i]])
        exit_ = np.array([x + rng.normal(0, 0.01 * self.scatter), incision_y + self.placed_depth[i]])
        return entry, exit_


class _Hands:
    """Both instruments through one trial, phase by phase, recorded frame by frame in a :class:`_Track`."""

    def __init__(self, mover: _Mover, sloppy: float, rng: np.random.Generator):
        self.mover, self.sloppy, self.rng = mover, sloppy, rng
        self.track = _Track()
        self.stitches: list[tuple[np.ndarray, np.ndarray]] = []
        self.done = 0
        self.pause_frames = self.failed_bites = self.regrasps = 0  # counted for the sub-scores
        # where the instruments start and rest: the trial's randomness (a fixed spot would let a single frame
        # measure how far a trembling hand is from it)
        self.driver = np.array([0.8, 0.75]) + rng.uniform(-0.05, 0.05, 2)
        self.forceps = np.array([0.25, 0.78]) + rng.uniform(-0.05, 0.05, 2)

    def _still(self, point: np.ndarray, n: int) -> np.ndarray:
        return np.repeat(point[None], n, 0)

    def wait(self, n: int) -> None:
        """``n`` frames at the start position."""
        self.track.add(self._still(self.driver, n), self._still(self.forceps, n), 0.0, 0.3, 0.0, self.done)

    def pause(self, probability: float) -> None:
        """With ``probability``, a still hand for a moment: every part stays as it is."""
        if self.rng.random() < probability:
            seconds = self.rng.uniform(0.3, 1.2)
            n = self.mover.frames(seconds)
            self.track.hold(n)
            self.pause_frames += n

    def stitch(self, entry: np.ndarray, exit_: np.ndarray) -> None:
        """One stitch from ``entry`` to ``exit_``: approach, bite, grasp, pull, hand the needle back."""
        hover = entry + np.array([0.03, -0.05])
        self._approach(hover, exit_)
        self.pause(0.8 * self.sloppy**2)
        self._bite(entry, exit_, hover)
        self._grasp(exit_)
        self.pause(0.6 * self.sloppy**2)
        self._pull()
        self.stitches.append((entry, exit_))
        self._hand_back()
        self.pause(0.5 * self.sloppy**2)

    def _approach(self, hover: np.ndarray, exit_: np.ndarray) -> None:
        # the driver to above the entry point, the forceps to beside the exit point
        d = self.mover.reach(self.driver, hover, 0.9)
        f = self.mover.reach(self.forceps, exit_ + np.array([-0.07, 0.06]), 0.9)
        n = max(len(d), len(f))
        d, f = _pad(d, n), _pad(f, n)
        self.track.add(d, f, 0.0, 0.3, 0.0, self.done)
        self.driver, self.forceps = d[-1], f[-1]

    def _bite(self, entry: np.ndarray, exit_: np.ndarray, hover: np.ndarray) -> None:
        # the needle goes in at the entry and comes out at the exit, turning about its centre
        attempts = 1 + int(self.rng.random() < 0.45 * self.sloppy**2)  # a failed bite is backed out and retried
        self.failed_bites += attempts - 1
        for attempt in range(attempts):
            target = exit_ if attempt == attempts - 1 else (entry + exit_) / 2
            insert = self.mover.reach(entry, target, 0.6)
            d = np.concatenate([self.mover.reach(self.driver, entry, 0.35), insert])
            turn = np.concatenate([np.zeros(len(d) - len(insert)), np.linspace(0, 1, len(insert))])
            self.track.add(d, self._still(self.forceps, len(d)), 0.0, 0.3, turn, self.done)
            self.driver = d[-1]
            if attempt < attempts - 1:
                back = self.mover.reach(self.driver, hover, 0.5)
                turn = np.linspace(1, 0, len(back))
                self.track.add(back, self._still(self.forceps, len(back)), 0.0, 0.3, turn, self.done)
                self.driver = back[-1]

    def _grasp(self, exit_: np.ndarray) -> None:
        # the forceps grasp the needle tip at the exit; the driver lets go (regrasping when unskilled)
        f = self.mover.reach(self.forceps, exit_ + np.array([-0.015, 0.02]), 0.5)
        self.track.add(self._still(self.driver, len(f)), f, 0.0, _jaw(len(f), 1.0, 0.0), 1.0, self.done)
        self.forceps = f[-1]
        regrasps = int(self.rng.binomial(2, 0.5 * self.sloppy))
        self.regrasps += regrasps
        for _ in range(regrasps):
            n = self.mover.frames(0.5)
            jaw = np.concatenate([_jaw(n // 2, 0.0, 1.0), _jaw(n - n // 2, 1.0, 0.0)])
            self.track.add(self._still(self.driver, n), self._still(self.forceps, n), jaw, 0.0, 1.0, self.done)
        n = self.mover.frames(0.3)
        let_go = _jaw(n, 0.0, 1.0)
        self.track.add(self._still(self.driver, n), self._still(self.forceps, n), let_go, 0.0, 1.0, self.done)

    def _pull(self) -> None:
        # the thread is pulled through: the stitch is placed
        f = self.mover.reach(self.forceps, self.forceps + np.array([-0.05, 0.12]), 0.8)
        d = self.mover.reach(self.driver, self.driver + np.array([0.08, 0.02]), 0.8)
        n = max(len(d), len(f))
        d, f = _pad(d, n), _pad(f, n)
        self.track.add(d, f, 1.0, 0.0, 1.0, self.done)
        self.driver, self.forceps = d[-1], f[-1]
        self.done += 1

    def _hand_back(self) -> None:
        # the needle goes back to the driver, ready for the next stitch
        d = self.mover.reach(self.driver, self.forceps + np.array([0.04, -0.02]), 0.6)
        self.track.add(d, self._still(self.forceps, len(d)), _jaw(len(d), 1.0, 0.0), 0.0, 0.0, self.done)
        self.driver = d[-1]

    def rest(self) -> None:
        """The instruments drawn back at the end."""
        d = self.mover.reach(self.driver, np.array([0.82, 0.8]) + self.rng.uniform(-0.05, 0.05, 2), 0.8)
        f = self.mover.reach(self.forceps, np.array([0.2, 0.82]) + self.rng.uniform(-0.05, 0.05, 2), 0.8)
        n = max(len(d), len(f))
        self.track.add(_pad(d, n), _pad(f, n), 0.0, 0.3, 0.0, self.done)


def _add_tremor(motion: dict[str, np.ndarray], amplitude: float, fps: float, rng: np.random.Generator) -> None:
    """Physiological tremor on both instruments: a few sinusoids at 4-9 Hz, large when unskilled (the caller's
    ``amplitude``); everyone has a trace of it."""
    t = np.arange(len(motion["driver"])) / fps
    for name in ("driver", "forceps"):
        freqs = rng.uniform(4, 9, (3, 2))
        phases = rng.uniform(0, 2 * np.pi, (3, 2))
        weights = rng.uniform(0.5, 1.0, (3, 2))
        waves = weights[None] * np.sin(2 * np.pi * freqs[None] * t[:, None, None] + phases[None])
        wobble = (waves[:, 0] + waves[:, 1] + waves[:, 2]) / 2.2  # explicit sum: the same rounding every run
        motion[name] = motion[name] + amplitude * wobble


def _retime(motion: dict[str, np.ndarray], n_frames: int) -> dict[str, np.ndarray]:
    """The planned motion stretched or squeezed in time to ``n_frames`` frames (linear interpolation; the
    stitch count steps at the same moments of the trial)."""
    n = len(motion["driver"])
    position = np.linspace(0, n - 1, n_frames)
    source = np.arange(n)
    out = {}
    for name, values in motion.items():
        if name == "stitches_done":
            out[name] = values[np.floor(position + 1e-9).astype(int)]
        elif values.ndim == 2:
            out[name] = np.stack([np.interp(position, source, values[:, k]) for k in range(values.shape[1])], 1)
        else:
            out[name] = np.interp(position, source, values)
    return out


def _pad(path: np.ndarray, n: int) -> np.ndarray:
    return path if len(path) >= n else np.concatenate([path, np.repeat(path[-1:], n - len(path), axis=0)])


# ------------------------------------------------------------------------------------------ drawing


class _Canvas:
    """Anti-aliased drawing on a float32 (3, H, W) image (channels first: numpy blends long rows fast)."""

    def __init__(self, height: int, width: int):
        self.height, self.width = height, width
        self.ys, self.xs = np.mgrid[0:height, 0:width].astype(np.float32)  # for whole-image effects
        self.columns = np.arange(width, dtype=np.float32)[None, :]
        self.rows = np.arange(height, dtype=np.float32)[:, None]

    def segments(self, image, starts, ends, radius, color, shaded=False, alpha=1.0):
        """Thick lines from ``starts[k]`` to ``ends[k]`` (pixel coordinates) in one pass over their bounding box,
        each pixel painted by its nearest line. One call for a whole polyline keeps numpy overhead low."""
        starts = np.asarray(starts, np.float32).reshape(-1, 2)
        ends = np.asarray(ends, np.float32).reshape(-1, 2)
        box = self._box(np.concatenate([starts, ends]), radius)
        if box is None:
            return
        x_lo, x_hi, y_lo, y_hi = box
        # (K, 1, w) and (K, h, 1) offsets broadcast to contiguous (K, h, w) arrays
        rx = self.columns[None, :, x_lo:x_hi] - starts[:, 0, None, None]
        ry = self.rows[None, y_lo:y_hi] - starts[:, 1, None, None]
        dx = (ends[:, 0] - starts[:, 0])[:, None, None]
        dy = (ends[:, 1] - starts[:, 1])[:, None, None]
        inv_length = 1.0 / np.sqrt(np.maximum(dx * dx + dy * dy, 1e-6))
        distance, across = self._offsets(rx, ry, dx, dy, inv_length, shaded)
        nearest = distance.argmin(0)[None]
        distance = np.take_along_axis(distance, nearest, 0)[0]
        across = np.take_along_axis(across, nearest, 0)[0] if shaded else None
        self._paint(image, box, distance, across, radius, color, alpha)

    def segment(self, image, p0, p1, radius, color, shaded=False, alpha=1.0):
        """One thick line, optionally shaded like a metal cylinder (set-up on Python floats: a frame draws a
        dozen strokes and per-call numpy overhead would dominate)."""
        x0, y0, x1, y1 = float(p0[0]), float(p0[1]), float(p1[0]), float(p1[1])
        box = self._box(((x0, y0), (x1, y1)), radius)
        if box is None:
            return
        x_lo, x_hi, y_lo, y_hi = box
        dx, dy = x1 - x0, y1 - y0
        inv_length = 1.0 / math.sqrt(max(dx * dx + dy * dy, 1e-6))
        distance, across = self._offsets(
            self.columns[:, x_lo:x_hi] - x0, self.rows[y_lo:y_hi] - y0, dx, dy, inv_length, shaded
        )
        self._paint(image, box, distance, across, radius, color, alpha)

    def _box(self, points, radius) -> tuple[int, int, int, int] | None:
        xs = [float(p[0]) for p in points]
        ys = [float(p[1]) for p in points]
        x_lo, x_hi = max(0, math.floor(min(xs) - radius - 1)), min(self.width, math.ceil(max(xs) + radius + 2))
        y_lo, y_hi = max(0, math.floor(min(ys) - radius - 1)), min(self.height, math.ceil(max(ys) + radius + 2))
        return None if x_lo >= x_hi or y_lo >= y_hi else (x_lo, x_hi, y_lo, y_hi)

    @staticmethod
    def _offsets(rx, ry, dx, dy, inv_length, shaded):
        """Distance of each pixel (offset ``rx``, ``ry`` from the start) to the segment, and, for shading, its
        signed position across the segment in pixels."""
        along = rx * (dx * inv_length * inv_length) + ry * (dy * inv_length * inv_length)
        np.clip(along, 0.0, 1.0, out=along)
        ox = rx - along * dx
        oy = ry - along * dy
        distance = ox * ox
        distance += oy * oy
        np.sqrt(distance, out=distance)
        across = (oy * (dx * inv_length) - ox * (dy * inv_length)) if shaded else None
        return distance, across

    def _paint(self, image, box, distance, across, radius, color, alpha):
        x_lo, x_hi, y_lo, y_hi = box
        coverage = np.subtract(radius + 0.5, distance, out=distance)  # 1 inside, 0 outside, a ramp at the edge
        np.clip(coverage, 0.0, 1.0, out=coverage)
        if alpha != 1.0:
            coverage *= alpha
        region = image[:, y_lo:y_hi, x_lo:x_hi]
        color = np.asarray(color, np.float32)
        if across is not None:
            # across the shaft: a highlight left of centre, darker towards both edges
            light = across / radius + 0.3
            np.square(light, out=light)
            light = 1.05 - 0.45 * light
            np.maximum(light, 0.45, out=light)
            paint = np.multiply.outer(color, light)
        else:
            paint = color[:, None, None]
        paint = paint - region
        paint *= coverage
        region += paint

    def polyline(self, image, points, radius, color, alpha=1.0):
        points = np.asarray(points, np.float32)
        self.segments(image, points[:-1], points[1:], radius, color, alpha=alpha)


def _smooth_noise(rng: np.random.Generator, height: int, width: int, cell: int) -> np.ndarray:
    """Value noise: random values on a coarse grid, bilinearly interpolated (numpy only)."""
    gh, gw = height // cell + 2, width // cell + 2
    grid = rng.random((gh, gw)).astype(np.float32)
    y = np.linspace(0, gh - 1.001, height)
    x = np.linspace(0, gw - 1.001, width)
    y0, x0 = y.astype(int), x.astype(int)
    fy, fx = (y - y0)[:, None], (x - x0)[None, :]
    top = grid[y0][:, x0] * (1 - fx) + grid[y0][:, x0 + 1] * fx
    bottom = grid[y0 + 1][:, x0] * (1 - fx) + grid[y0 + 1][:, x0 + 1] * fx
    return (top * (1 - fy) + bottom * fy).astype(np.float32)


def _background(
    config: SyntheticConfig, profile: SurgeonProfile, layout: dict, planned_x: np.ndarray, margin: int
) -> tuple[np.ndarray, _Canvas]:
    """Drape, tissue pad, incision and planned stitch marks: the surgeon's set-up, the same every frame."""
    rng = np.random.default_rng([profile.appearance_seed, 1])
    height, width = config.height + 2 * margin, config.width + 2 * margin
    canvas = _Canvas(height, width)
    drape = np.array(rng.choice([[40, 110, 120], [50, 95, 140], [60, 120, 90]]), np.float32) * rng.uniform(0.85, 1.1)
    image = drape[:, None, None] * (0.85 + 0.3 * _smooth_noise(rng, height, width, max(4, height // 6)))[None]
    # the pad: a rounded rectangle of pink, textured tissue
    top, bottom = layout["incision_y"] - 0.3, layout["incision_y"] + 0.32
    left, right = layout["incision_x0"] - 0.1, layout["incision_x1"] + 0.1
    ys, xs = (canvas.ys - margin) / config.height, (canvas.xs - margin) / config.width
    inside_y = np.clip(np.minimum(ys - top, bottom - ys) * config.height, -1, 1)
    inside_x = np.clip(np.minimum(xs - left, right - xs) * config.width, -1, 1)
    pad = np.clip(np.minimum(inside_x, inside_y) * 0.5 + 0.5, 0, 1)
    tissue_color = np.array([205, 120, 115], np.float32) * rng.uniform(0.88, 1.08, 3)
    texture = (
        0.78
        + 0.16 * _smooth_noise(rng, height, width, max(3, height // 12))
        + 0.1 * _smooth_noise(rng, height, width, 2)
    )
    tissue = tissue_color[:, None, None] * texture[None]
    edge = np.clip(np.minimum(inside_x, inside_y), 0, 1)  # slightly darker rim
    image = image * (1 - pad[None]) + tissue * (pad * (0.9 + 0.1 * edge))[None]
    # the incision: a dark red line, a little uneven
    x_px = np.linspace(layout["incision_x0"], layout["incision_x1"], 24)
    y_px = layout["incision_y"] + layout["tilt"] * (x_px - 0.5) + rng.normal(0, 0.003, len(x_px))
    points = np.stack([x_px * config.width + margin, y_px * config.height + margin], 1)
    canvas.polyline(image, points, max(0.7, config.height / 110), (110, 30, 35))
    # planned stitch marks: faint dots either side of the incision
    for x in planned_x:
        for side in (-1, 1):
            y = layout["incision_y"] + layout["tilt"] * (x - 0.5) + side * layout["bite"]
            p = (x * config.width + margin, y * config.height + margin)
            canvas.segment(image, p, p, max(0.6, config.height / 150), (70, 50, 90), alpha=0.6)
    image *= rng.uniform(0.85, 1.1)  # the room's lighting
    return image.astype(np.float32), canvas


def render_trial(trial: Trial, config: SyntheticConfig) -> Iterator[np.ndarray]:
    """The frames (H, W, 3) uint8 of one trial, in order."""
    motion, extras = plan_motion(trial, config)
    rng = np.random.default_rng([trial.seed, 2])
    margin = 3 if config.camera_shake else 0
    background, canvas = _background(config, trial.profile, extras["layout"], extras["planned_x"], margin)
    scale = np.array([config.width, config.height], np.float32)
    size = min(config.height, config.width)
    shaft_r, jaw_r, needle_r = size * 0.028, size * 0.012, size * 0.05
    metal = np.array([175, 178, 185], np.float32) * np.random.default_rng([trial.profile.appearance_seed, 2]).uniform(
        0.92, 1.05
    )
    thread_color = (60, 25, 95)
    # shafts enter from below, the driver on the dominant-hand side
    driver_base = np.array([1.25, 1.35]) * scale + margin
    forceps_base = np.array([-0.25, 1.35]) * scale + margin
    n_frames = len(motion["driver"])
    drift_phase, drift_period = rng.uniform(0, 2 * np.pi), rng.uniform(6, 12)
    noise_bank = rng.normal(0, config.noise, (4, 3, config.height, config.width)).astype(np.float32)
    shake = np.zeros((n_frames, 2), int)
    if config.camera_shake:
        walk = np.cumsum(rng.normal(0, 0.35, (n_frames, 2)), 0)
        walk -= np.linspace(0, 1, n_frames)[:, None] * walk[-1]  # wander and come back
        shake = np.clip(np.round(walk), -margin, margin).astype(int)
    static = background.copy()
    drawn = 0
    for i in range(n_frames):
        while drawn < motion["stitches_done"][i]:  # a finished stitch becomes part of the scene
            entry, exit_ = extras["stitches"][drawn]
            a, b = entry * scale + margin, exit_ * scale + margin
            if extras["bleeding"][drawn]:  # outcome_cues: a bleeding puncture where the needle went in
                radius = size * 0.05 * extras["bleeding"][drawn]
                canvas.segment(static, a, a, radius, (125, 18, 22), alpha=0.85)
                canvas.segment(static, b, b, radius * 0.7, (125, 18, 22), alpha=0.85)
            canvas.segment(static, a, b, max(0.6, size / 140), thread_color)
            canvas.segment(static, a, a, max(0.9, size / 90), thread_color)
            drawn += 1
        frame = static.copy()
        tip_d = motion["driver"][i] * scale + margin
        tip_f = motion["forceps"][i] * scale + margin
        # shadows first, offset down-right, then the instruments
        for base, tip in ((driver_base, tip_d), (forceps_base, tip_f)):
            canvas.segment(frame, base + size * 0.03, tip + size * 0.03, shaft_r * 1.1, (20, 15, 15), alpha=0.25)
        _instrument(canvas, frame, driver_base, tip_d, motion["driver_jaw"][i], shaft_r, jaw_r, metal)
        _instrument(
            canvas, frame, forceps_base, tip_f, motion["forceps_jaw"][i], shaft_r * 0.8, jaw_r * 0.8, metal * 0.95
        )
        # curved needle held in the driver's jaws; it turns through the tissue during a bite
        axis = (tip_d - driver_base) / (math.hypot(*(tip_d - driver_base)) + 1e-6)
        start = math.atan2(axis[1], axis[0]) + 0.5 + 2.2 * motion["needle_turn"][i]
        centre = tip_d + axis * needle_r * 0.6
        angles = start + np.linspace(0, 2.4, 9)
        arc = np.stack([centre[0] + needle_r * np.cos(angles), centre[1] + needle_r * np.sin(angles)], 1)
        canvas.polyline(frame, arc, max(0.55, size / 170), (225, 228, 235))
        # thread from the needle's tail to the last stitch (or to the pad's edge before the first)
        anchor = (
            (extras["stitches"][drawn - 1][1] * scale + margin) if drawn else np.array([0.5, 0.9]) * scale + margin
        )
        tail = arc[-1]
        sag = (tail + anchor) / 2 + np.array([0, size * 0.05])
        s = np.linspace(0, 1, 7)[:, None]
        curve = (1 - s) ** 2 * tail + 2 * (1 - s) * s * sag + s**2 * anchor
        canvas.polyline(frame, curve, max(0.5, size / 180), thread_color, alpha=0.9)
        t = i / config.fps
        frame *= 1.0 + 0.05 * math.sin(2 * math.pi * t / drift_period + drift_phase)  # lighting drift
        if margin:
            dy, dx = shake[i]
            frame = frame[:, margin + dy : margin + dy + config.height, margin + dx : margin + dx + config.width]
        frame += noise_bank[i % len(noise_bank)]
        np.clip(frame, 0, 255, out=frame)
        out = np.empty((config.height, config.width, 3), np.uint8)
        for channel in range(3):  # (3, H, W) -> (H, W, 3); per channel is much faster than a transposing copy
            out[..., channel] = frame[channel, :, ::-1] if trial.profile.left_handed else frame[channel]
        yield out


def _instrument(canvas, frame, base, tip, jaw_open, shaft_r, jaw_r, metal):
    """A shaft from ``base`` to ``tip`` and two jaws opening by ``jaw_open`` (0 closed, 1 open)."""
    axis = tip - base
    axis = axis / (math.hypot(*axis) + 1e-6)
    canvas.segment(frame, base, tip, shaft_r, metal, shaded=True)
    canvas.segment(frame, tip - axis * shaft_r * 2.2, tip, shaft_r * 1.25, metal * 0.8, shaded=True)  # joint
    length = shaft_r * 4.0
    jaws = []
    for side in (-1, 1):
        angle = side * (0.08 + 0.45 * jaw_open)
        cos, sin = math.cos(angle), math.sin(angle)
        jaws.append(tip + np.array([axis[0] * cos - axis[1] * sin, axis[0] * sin + axis[1] * cos]) * length)
    canvas.segments(frame, [tip, tip], jaws, jaw_r, metal * 1.05, shaded=True)


# ------------------------------------------------------------------------------- sub-scores and raters

SUBSCORE_ITEMS = (
    "respect_for_tissue",
    "suture_needle_handling",
    "instrument_handling",
    "time_and_motion",
    "flow_of_operation",
)
ITEM_RANGE = (1, 5)
GRS_RANGE = (ITEM_RANGE[0] * len(SUBSCORE_ITEMS), ITEM_RANGE[1] * len(SUBSCORE_ITEMS))
NUM_RATERS = 3
RATER_COLUMNS = tuple(f"grs_rater_{k + 1}" for k in range(NUM_RATERS))
SCORE_COLUMNS = (*SUBSCORE_ITEMS, "grs", *RATER_COLUMNS)


def _sloppiness_seen(features: dict[str, float]) -> dict[str, float]:
    """Per item, the sloppiness (1 - skill, 0..1) that the trial's motion shows, read from the features
    :func:`plan_motion` counted by inverting what each is on average for a given sloppiness ``s``."""

    def unit(value: float) -> float:
        return min(1.0, max(0.0, value))

    tremor = unit(math.sqrt(max(0.0, features["tremor"] - 0.0015) / 0.045))  # amplitude (0.0015 + 0.045 s^2) x scale
    pauses = unit(math.sqrt(features["pause_share"] / 0.2))  # share of the trial spent still: about 0.2 s^2
    excess = max(0.0, features["path_ratio"] - 1.0)  # path length over the direct one: about 1 + 0.3 s + 0.56 s^2
    economy = unit((math.sqrt(0.09 + 2.24 * excess) - 0.3) / 1.12)
    return {
        "respect_for_tissue": tremor,
        "suture_needle_handling": unit(math.sqrt(features["failed_bites_per_stitch"] / 0.45)),  # 0.45 s^2 a stitch
        "instrument_handling": unit(features["regrasps_per_stitch"]),  # s a stitch
        "time_and_motion": (pauses + economy) / 2,
        "flow_of_operation": unit(features["corrections_per_reach"] / 2.4),  # 2 min(1, 1.2 s) a reach
    }


def rate_trial(trial: Trial, config: SyntheticConfig) -> dict[str, int]:
    """The OSATS-like items (1-5) of one trial and ``grs``, their sum: half the trial's latent skill, half what
    its motion shows of the feature the item rates (see the module's docstring). No randomness of its own: the
    motion is planned again (a few milliseconds, no rendering) from the trial's own seed."""
    features = plan_motion(trial, config)[1]["features"]
    seen = _sloppiness_seen(features)
    low, high = ITEM_RANGE
    items = {}
    for item in SUBSCORE_ITEMS:
        quality = 0.5 * trial.skill + 0.5 * (1.0 - seen[item])
        items[item] = int(min(high, max(low, math.floor(low + (high - low) * quality + 0.5))))
    return {**items, "grs": sum(items.values())}


def rate_trials(trials: list[Trial], config: SyntheticConfig) -> list[dict[str, int]]:
    """Per trial, its items, ``grs`` and three raters' GRS (``grs_rater_1`` ...): the true GRS plus the rater's
    own bias (normal, sd 1 GRS point, the same for every video) and noise (normal, the rater's sd drawn in 1-2),
    rounded and clipped to the GRS range.

    The raters' randomness comes from a generator of its own (``[config.seed, 16]``), never from the ones the
    videos are drawn from: asking for the scores changes no video and no other column.
    """
    rng = np.random.default_rng([config.seed, 16])
    bias = rng.normal(0.0, 1.0, NUM_RATERS)
    spread = rng.uniform(1.0, 2.0, NUM_RATERS)
    low, high = GRS_RANGE
    out = []
    for trial in trials:
        scores = rate_trial(trial, config)
        given = scores["grs"] + bias + rng.normal(0.0, spread)
        raters = {name: int(min(high, max(low, math.floor(g + 0.5)))) for name, g in zip(RATER_COLUMNS, given)}
        out.append({**scores, **raters})
    return out


# -------------------------------------------------------------------------------------------- writing


def write_trial(trial: Trial, config: SyntheticConfig, out_dir: str | os.PathLike) -> dict:
    """Render and encode one trial; returns its metadata row."""
    path = Path(out_dir) / trial.video
    frames = list(render_trial(trial, config))
    rate = round(config.bits_per_pixel * config.height * config.width * config.fps)
    write_video(
        path,
        frames,
        config.fps,
        crf=None,
        preset="veryfast",
        keyframe_interval=round(config.fps),
        threads=1,
        deterministic=True,
        codec_options={"b": str(rate), "maxrate": str(rate), "bufsize": str(rate), "x264-params": "nal-hrd=cbr"},
    )
    return {
        "video": trial.video,
        "label": trial.profile.label,
        "score": trial.score,
        "subject": trial.profile.subject,
        "duration": round(len(frames) / config.fps, 3),
        "skill": round(trial.skill, 4),
        "left_handed": int(trial.profile.left_handed),
    }


def generate_dataset(
    out_dir: str | os.PathLike,
    config: SyntheticConfig | None = None,
    *,
    workers: int | None = None,
    progress: bool = False,
) -> Path:
    """Write ``config.num_videos`` videos under ``out_dir/videos`` and ``out_dir/metadata.csv``; returns the csv.

    The csv has ``video`` (relative path), ``label``, ``score`` (GRS-like, 8-40), ``subject``, ``duration``
    (seconds) and, for analysis only, the latent ``skill`` and ``left_handed``; then, with ``config.subscores``,
    the OSATS-like items (1-5 each, :data:`SUBSCORE_ITEMS`), ``grs`` (their sum, 5-25) and ``grs_rater_1`` to
    ``grs_rater_3`` (see :func:`rate_trials`). Load it with :func:`surgical_skill.data.load_skill_dataset`. The
    same config (seed included) gives the same videos; ``subscores`` changes only the columns.
    """
    config = config or SyntheticConfig()
    out = Path(out_dir)
    (out / "videos").mkdir(parents=True, exist_ok=True)
    trials = plan_trials(config)
    if workers is None:
        workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(write_trial, t, config, out) for t in trials]
            rows = [f.result() for f in tqdm(futures, desc="Rendering", unit="video", disable=not progress)]
    else:
        rows = [
            write_trial(t, config, out) for t in tqdm(trials, desc="Rendering", unit="video", disable=not progress)
        ]
    if config.subscores:
        rows = [{**row, **scores} for row, scores in zip(rows, rate_trials(trials, config))]
    table = io.StringIO(newline="")
    writer = csv.DictWriter(table, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    manifest = write_text_atomic(out / "metadata.csv", table.getvalue())
    write_json_atomic(out / "synthetic_config.json", _settings(config))
    return manifest


def _settings(config: SyntheticConfig) -> dict:
    return {"generator_version": GENERATOR_VERSION, **asdict(config)}


def is_generated(out_dir: str | os.PathLike, config: SyntheticConfig) -> bool:
    """Whether ``out_dir`` already holds exactly what :func:`generate_dataset` would write for ``config`` with
    this version of the generator (every video of ``metadata.csv`` present), so it need not be rendered again."""
    out = Path(out_dir)
    try:
        if json.loads((out / "synthetic_config.json").read_text()) != _settings(config):
            return False
        with (out / "metadata.csv").open(newline="") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, ValueError):
        return False
    return len(rows) == config.num_videos and all((out / row["video"]).is_file() for row in rows)


def save_previews(out_dir: str | os.PathLike, config: SyntheticConfig | None = None, scale: int = 2) -> list[Path]:
    """Save one frame of a trial of each class as ``preview_<label>.png`` (a third of the way through)."""
    config = config or SyntheticConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    saved = []
    trials = plan_trials(config)
    for label in config.labels:
        trial = next(t for t in trials if t.profile.label == label)
        frames = list(render_trial(trial, config))
        image = Image.fromarray(frames[len(frames) // 3])
        image = image.resize((config.width * scale, config.height * scale), Image.Resampling.LANCZOS)
        path = out / f"preview_{label}.png"
        image.save(path)
        saved.append(path)
    return saved
