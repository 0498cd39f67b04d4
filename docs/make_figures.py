"""Regenerate the figures in docs/images from the package (python docs/make_figures.py)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from surgical_skill.data.synthetic import SyntheticConfig, plan_motion, plan_trials, save_previews

IMAGES = Path(__file__).parent / "images"


def synthetic_frames(config: SyntheticConfig) -> None:
    for path in save_previews(IMAGES, config, scale=2):
        path.rename(IMAGES / path.name.replace("preview_", "synthetic_"))


def synthetic_trajectories(config: SyntheticConfig) -> None:
    """Needle-driver tip paths and speeds of one lower- and one higher-skilled trial."""
    trials = plan_trials(config)
    picks = [next(t for t in trials if t.profile.label == label) for label in config.labels]
    fig, axes = plt.subplots(2, 2, figsize=(9, 6), gridspec_kw={"height_ratios": [3, 2]})
    for column, trial in enumerate(picks):
        path = plan_motion(trial, config)[0]["driver"] * [config.width, config.height]
        time = np.arange(len(path)) / config.fps
        speed = np.linalg.norm(np.diff(path, axis=0), axis=1) * config.fps
        ax = axes[0, column]
        ax.plot(path[:, 0], path[:, 1], lw=0.8)
        ax.set(
            xlim=(0, config.width),
            ylim=(config.height, 0),
            aspect="equal",
            title=f"{trial.profile.label} (skill {trial.skill:.2f}, GRS {trial.score})",
        )
        ax.set_xlabel("x (px)")
        axes[1, column].plot(time[1:], speed, lw=0.8)
        axes[1, column].set(xlabel="time (s)", ylabel="tip speed (px/s)", ylim=(0, 400))
    fig.suptitle("Needle-driver tip: direct, smooth reaches vs overshoot, corrections, tremor and pauses")
    fig.tight_layout()
    fig.savefig(IMAGES / "synthetic_trajectories.png", dpi=90)


if __name__ == "__main__":
    IMAGES.mkdir(exist_ok=True)
    config = SyntheticConfig(seed=0)
    synthetic_frames(config)
    synthetic_trajectories(config)
    print("wrote", ", ".join(sorted(p.name for p in IMAGES.glob("*.png"))))
