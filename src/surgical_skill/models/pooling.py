"""Temporal pooling: per-frame features (B, T, D) to one clip feature (B, D), padded frames ignored."""

from __future__ import annotations

import torch
from torch import nn

TEMPORAL_POOLING = ("mean", "max", "attention")


class TemporalPooling(nn.Module):
    """(B, T, D) -> (B, D) by mean, max or learned attention over time, ignoring padded frames.

    ``frame_mask`` (B, T) is True for real frames; ``None`` means all frames are real.
    """

    def __init__(self, mode: str, dim: int):
        super().__init__()
        if mode not in TEMPORAL_POOLING:
            raise ValueError(f"unknown temporal pooling {mode!r}; known: {', '.join(TEMPORAL_POOLING)}")
        self.mode = mode
        if mode == "attention":
            self.attention = nn.Sequential(nn.Linear(dim, max(dim // 4, 8)), nn.Tanh(), nn.Linear(max(dim // 4, 8), 1))

    def forward(self, features: torch.Tensor, frame_mask: torch.Tensor | None = None) -> torch.Tensor:
        mask = (
            torch.ones(features.shape[:2], dtype=torch.bool, device=features.device)
            if frame_mask is None
            else frame_mask.bool()
        )
        if self.mode == "mean":
            weights = mask.unsqueeze(-1).to(features.dtype)
            return (features * weights).sum(1) / weights.sum(1).clamp(min=1.0)
        if self.mode == "max":
            return features.masked_fill(~mask.unsqueeze(-1), torch.finfo(features.dtype).min).amax(1)
        scores = self.attention(features).squeeze(-1).masked_fill(~mask, torch.finfo(features.dtype).min)
        weights = scores.softmax(dim=1).unsqueeze(-1)  # (B, T, 1)
        return (weights * features).sum(1)
