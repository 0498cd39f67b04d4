"""surgical_skill.deprecation: an old name keeps working for one release and says what replaced it."""

from __future__ import annotations

import copy
import json
import pickle

import pytest

from surgical_skill.deprecation import REMOVED_IN, RenamedKeys, renamed_class, renamed_keywords


def test_an_old_keyword_works_and_names_the_new_one():
    @renamed_keywords(num_frames="total_num_frames")
    def sample(total_num_frames: int, clip_len: int = 4) -> int:
        return total_num_frames - clip_len

    with pytest.warns(
        FutureWarning, match=rf"`sample\(num_frames=...\)` .* {REMOVED_IN}; use `sample\(total_num_frames"
    ):
        assert sample(num_frames=10) == 6
    with pytest.raises(TypeError, match=r"both num_frames= .* and total_num_frames="):
        sample(num_frames=10, total_num_frames=12)


def test_an_old_class_name_builds_the_new_class_with_a_warning():
    class ClipDecoder:
        def __init__(self, size: int) -> None:
            self.size = size

    Old = renamed_class(ClipDecoder, "VideoClipLoader")
    with pytest.warns(FutureWarning, match="`VideoClipLoader` is deprecated"):
        old = Old(3)
    assert isinstance(old, ClipDecoder) and old.size == 3 and Old.__name__ == "VideoClipLoader"


def test_an_old_key_reads_with_a_warning_and_is_never_written():
    metadata = RenamedKeys({"total_num_frames": 90, "fps": 30.0}, {"num_frames": "total_num_frames"}, where="metadata")
    with pytest.warns(FutureWarning, match=r'`metadata\["num_frames"\]` .* use `metadata\["total_num_frames"\]`'):
        assert metadata["num_frames"] == 90
    assert json.loads(json.dumps(metadata)) == {"total_num_frames": 90, "fps": 30.0}
    assert "num_frames" not in metadata and metadata.get("num_frames") is None
    for copied in (pickle.loads(pickle.dumps(metadata)), copy.deepcopy(metadata)):
        assert type(copied) is dict and copied == metadata
    with pytest.raises(KeyError, match="nope"):
        metadata["nope"]
