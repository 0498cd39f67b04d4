"""A reference checkpoint, converted and loaded through ``load_pretrained_backbone``, gives the reference
implementation's features (stored golden outputs; see tests/models/golden.py): the converter puts every tensor
where the reference uses it, which names and shapes alone cannot show (two tensors of one shape swapped)."""

from __future__ import annotations

import pytest
import torch

from surgical_skill.models import build_model
from tests.models.golden import CASES, load_golden, seeded_clip, seeded_reference_state


@pytest.mark.parametrize("name", CASES)
def test_converted_reference_weights_give_the_reference_features(name, tmp_path):
    path = tmp_path / "reference.pt"
    torch.save({"model_state": seeded_reference_state(name)}, path)  # the model zoo's layout
    model = build_model(name, id2label=["lower-skilled", "higher-skilled"]).eval()
    model.load_pretrained_backbone(path)
    frames, size = CASES[name]
    with torch.no_grad():
        features = model.base_model(seeded_clip(frames, size)).pooler_output
    expected = load_golden(name)
    scale = float(expected.abs().max())  # (un-normalised random weights: features in the thousands for the R50s)
    assert (expected[0] - expected[1]).abs().max() > 0.01 * scale  # the features depend on the clip
    torch.testing.assert_close(features, expected, rtol=1e-4, atol=1e-5 * scale)
