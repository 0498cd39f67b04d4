"""What a dataset's rows may open, what text they may hold, and how much of a manifest is read (issue 19).

Each attack is reproduced against local files or a socket on 127.0.0.1 and shown refused at build time, naming
the row; beside each, the legitimate path still builds.
"""

from __future__ import annotations

import shutil
import socket
import time
from pathlib import Path

import pytest
from datasets import Dataset, DatasetDict

from surgical_skill import limits
from surgical_skill.data import ClipDecoder, ClipSampling, ClipTransforms, load_skill_dataset
from surgical_skill.data.building import check_row_sources, video_roots
from surgical_skill.data.public.common import read_csv_lines
from surgical_skill.data.splits import SkillDatasetError
from surgical_skill.errors import UsageError
from surgical_skill.limits import ResourceLimitError
from surgical_skill.training import DataArguments
from surgical_skill.training.data_setup import load_data
from tests.data.public.trees_cataract_lmm import write_cataract_lmm_tree
from tests.helpers import run_cli, write_manifest


def columns(skill_videos, count: int = 6, videos: list[str] | None = None) -> dict[str, list]:
    chosen = skill_videos[:count]
    return {
        "video": videos if videos is not None else [row["path"] for row in chosen],
        "label": [row["label"] for row in chosen],
        "subject": [row["subject"] for row in chosen],
    }


@pytest.fixture
def listener():
    """A socket listening on 127.0.0.1 that nothing should ever connect to."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.setblocking(False)
    yield server
    server.close()


def never_connected(server: socket.socket) -> bool:
    try:
        connection, _ = server.accept()
    except BlockingIOError:
        return True
    connection.close()
    return False


def decoder(**sources) -> ClipDecoder:
    return ClipDecoder(ClipSampling(num_frames=4), ClipTransforms(resize=32, crop_size=32), training=False, **sources)


# --------------------------------------------------------------------------- protocols in a dataset's path column


@pytest.mark.parametrize("kind", ["file", "concat", "subfile", "tcp", "tcp-listen"])
def test_a_saved_dataset_whose_path_column_names_another_protocol_is_refused_naming_the_row(
    kind, skill_videos, listener, tmp_path
):
    port = listener.getsockname()[1]
    local = skill_videos[0]["path"]
    hostile = {
        "file": "file:///etc/passwd",
        "concat": f"concat:{local}|{local}",
        "subfile": f"subfile,,start,0,end,0,,:file://{local}",
        "tcp": f"tcp://127.0.0.1:{port}",
        "tcp-listen": f"tcp://127.0.0.1:{port + 1}?listen=1",
    }[kind]
    videos = [row["path"] for row in skill_videos[:6]]
    videos[3] = hostile
    # a Hub-like dataset: built in memory, saved with save_to_disk, read back by load_from_disk
    DatasetDict({"train": Dataset.from_dict(columns(skill_videos, videos=videos))}).save_to_disk(tmp_path / "hub")
    started = time.perf_counter()
    with pytest.raises(SkillDatasetError) as caught:
        load_skill_dataset(str(tmp_path / "hub"), split_ratios=None)
    message = str(caught.value)
    assert "\n" not in message and "split 'train', index 3" in message and str(tmp_path / "hub") in message
    assert f"the '{kind.split('-')[0]}' protocol is not allowed" in message
    assert time.perf_counter() - started < 10  # before: tcp:// connected and hung until killed
    assert never_connected(listener)


def test_a_dataset_given_in_memory_is_checked_too(skill_videos):
    videos = [row["path"] for row in skill_videos[:6]]
    videos[1] = "file:///etc/passwd"
    with pytest.raises(SkillDatasetError, match=r"the given dataset, index 1: video 'file:///etc/passwd'"):
        load_skill_dataset(Dataset.from_dict(columns(skill_videos, videos=videos)), split_ratios=None)


def test_every_refused_row_is_counted_on_the_one_line(skill_videos):
    videos = ["file:///etc/passwd", "concat:/etc/passwd|/etc/passwd", *[r["path"] for r in skill_videos[2:6]]]
    with pytest.raises(SkillDatasetError) as caught:
        load_skill_dataset(Dataset.from_dict(columns(skill_videos, videos=videos)), split_ratios=None)
    assert "index 0" in str(caught.value) and "(and 1 more such row)" in str(caught.value)


def test_a_manifest_row_with_a_url_of_another_protocol_is_refused_not_made_a_path(skill_videos, tmp_path):
    rows = [dict(row, video=row["path"]) for row in skill_videos[:6]]
    rows[2]["video"] = "file:///etc/passwd"
    manifest = write_manifest(tmp_path / "ratings.csv", rows)
    with pytest.raises(SkillDatasetError, match=r"ratings.csv, row 3: video 'file:///etc/passwd' is refused"):
        load_skill_dataset(manifest, split_ratios=None)


def test_an_http_url_is_refused_unless_asked_for(skill_videos, tmp_path):
    rows = [dict(row, video=row["path"]) for row in skill_videos[:6]]
    rows[4]["video"] = "http://127.0.0.1:9/trial.mp4"
    manifest = write_manifest(tmp_path / "ratings.jsonl", rows, fields=("video", "label", "subject"))
    with pytest.raises(SkillDatasetError, match=r"row 5: video 'http://127.0.0.1:9/trial.mp4' is a URL.*allow-urls"):
        load_skill_dataset(manifest, split_ratios=None, probe_videos=False)
    # asked for: the row keeps its URL as written (not made a path beside the manifest)
    data = load_skill_dataset(manifest, split_ratios=None, probe_videos=False, allow_urls=True)
    assert data["train"]["video"][4] == "http://127.0.0.1:9/trial.mp4"
    # a recipe says so with allow_urls (and the CLI with --allow-urls)
    with pytest.raises(SkillDatasetError, match="is a URL"):
        load_data(DataArguments(dataset=str(manifest), split_ratios=[1.0, 0.0, 0.0]))


# --------------------------------------------------------------------------------------------------- root


@pytest.fixture
def rooted(skill_videos, tmp_path) -> tuple[Path, Path]:
    """root/videos/*.mp4 (6 videos) and a video outside the root."""
    root = tmp_path / "root"
    (root / "videos").mkdir(parents=True)
    for row in skill_videos[:6]:
        shutil.copy(row["path"], root / "videos" / row["video"])
    outside = shutil.copy(skill_videos[6]["path"], tmp_path / "outside.mp4")
    return root, Path(outside)


def test_a_path_climbing_out_of_the_root_is_refused(skill_videos, rooted):
    root, _ = rooted
    rows = [dict(row, video=f"videos/{row['video']}") for row in skill_videos[:6]]
    rows[1]["video"] = "../outside.mp4"
    manifest = write_manifest(root / "ratings.csv", rows)
    assert load_skill_dataset(manifest, split_ratios=None, probe_videos=False)  # without a root: allowed
    with pytest.raises(
        SkillDatasetError, match=r"row 2: video '.*outside.mp4' resolves to .*outside the dataset root"
    ):
        load_skill_dataset(manifest, split_ratios=None, root=root)
    with pytest.raises(UsageError, match="is not a folder"):
        load_skill_dataset(manifest, split_ratios=None, root=root / "typo")


def test_a_symlink_inside_the_root_pointing_outside_is_refused(skill_videos, rooted, tmp_path):
    root, outside = rooted
    (root / "videos" / "link.mp4").symlink_to(outside)
    relative = [f"videos/{row['video']}" for row in skill_videos[:6]]
    relative[5] = "videos/link.mp4"
    saved = Dataset.from_dict(columns(skill_videos, videos=relative))
    with pytest.raises(
        SkillDatasetError, match=r"index 5: video '.*videos/link.mp4' resolves to .*outside.mp4, outside"
    ):
        load_skill_dataset(saved, split_ratios=None, root=root)
    # a manifest's rows are resolved when read (symlinks followed), and refused the same
    rows = [dict(row, video=path) for row, path in zip(skill_videos[:6], relative)]
    with pytest.raises(SkillDatasetError, match=r"ratings.csv, row 6: .*outside.mp4, outside the dataset root"):
        load_skill_dataset(write_manifest(root / "ratings.csv", rows), split_ratios=None, root=root)


def test_a_dataset_with_relative_paths_inside_the_root_builds_and_decodes(skill_videos, rooted, tmp_path):
    root, _ = rooted
    relative = [f"videos/{row['video']}" for row in skill_videos[:6]]
    Dataset.from_dict(columns(skill_videos, videos=relative)).save_to_disk(tmp_path / "saved")
    data = load_skill_dataset(str(tmp_path / "saved"), split_ratios=None, root=root)
    train = data["train"]
    assert train["video"][0] == str(root / relative[0])  # relative to the root, whatever the working folder
    assert train["total_num_frames"][0] == 24  # probed
    sample = train.with_transform(decoder(root=root))[0]
    assert sample["decode_error"] is None and sample["pixel_values"].shape == (4, 3, 32, 32)


def test_the_clip_decoder_checks_a_path_edited_after_the_build(skill_videos, rooted):
    root, outside = rooted
    rows = [dict(row, video=f"videos/{row['video']}") for row in skill_videos[:6]]
    data = load_skill_dataset(write_manifest(root / "ratings.csv", rows), split_ratios=None, root=root)
    edited = data["train"].map(lambda row, i: {"video": str(outside) if i == 0 else row["video"]}, with_indices=True)
    sample = edited.with_transform(decoder(root=root))[0]
    assert sample["pixel_values"] is None and "outside the dataset root" in sample["decode_error"]
    assert edited.with_transform(decoder(root=root))[1]["decode_error"] is None
    # several roots (the dataset's and its proxies'): a path inside any passes
    assert edited.with_transform(decoder(root=[root, outside.parent]))[0]["decode_error"] is None
    # no root: still no other protocol
    protocol = data["train"].map(lambda row: {"video": "file:///etc/passwd"}).with_transform(decoder())[0]
    assert protocol["pixel_values"] is None and "'file' protocol is not allowed" in protocol["decode_error"]


def test_a_recipe_root_reaches_the_build(skill_videos, rooted, manifest):
    root, _ = rooted
    args = DataArguments(dataset=str(manifest), split_ratios=[1.0, 0.0, 0.0], root=str(root))
    with pytest.raises(SkillDatasetError, match="outside the dataset root"):
        load_data(args)


# ---------------------------------------------------------------------------------------- control characters


@pytest.mark.parametrize(
    ("column", "value", "shown"),
    [
        ("label", "expert\n=cmd", "expert\\n=cmd"),
        ("subject", "S1\tX", "S1\\tX"),
        ("video", "trial\r.mp4", "\\r"),
        ("label", "expert\u2028# Injected heading", "expert\\u2028# Injected"),  # a line break to splitlines
        ("subject", "S1\x85X", "S1\\x85X"),
    ],
)
def test_control_characters_are_refused_naming_the_row(column, value, shown, skill_videos, tmp_path):
    rows = [dict(row, video=row["path"]) for row in skill_videos[:6]]
    if column == "video":  # a real file with a carriage return in its name
        value = str(shutil.copy(rows[2]["video"], tmp_path / value))
    rows[2][column] = value
    manifest = write_manifest(tmp_path / "ratings.csv", rows)
    with pytest.raises(SkillDatasetError) as caught:
        load_skill_dataset(manifest, split_ratios=None, probe_videos=False)
    message = str(caught.value)
    assert "\n" not in message and "\t" not in message and "\r" not in message
    assert "ratings.csv, row 3" in message and shown in message and "control character" in message


def test_control_characters_in_a_hub_dataset_name_its_split_and_index(skill_videos):
    values = columns(skill_videos)
    values["label"][4] = "novice\x00"
    with pytest.raises(SkillDatasetError, match=r"split 'test', index 4: the label 'novice\\x00'"):
        load_skill_dataset(DatasetDict({"test": Dataset.from_dict(values)}), split_ratios=None)


def test_clean_rows_pass_the_checks(skill_videos):
    rows = [{"video": row["path"], "label": row["label"], "subject": row["subject"]} for row in skill_videos]
    check_row_sources(rows, "here")  # nothing raised


# -------------------------------------------------------------------------------------------- manifest budget


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_a_million_row_manifest_is_refused_at_the_budget_without_reading_it_all(suffix, tmp_path):
    path = tmp_path / f"huge{suffix}"
    line = "trial.mp4,novice,S1\n" if suffix == ".csv" else '{"video": "trial.mp4", "label": "novice"}\n'
    path.write_text(("video,label,subject\n" if suffix == ".csv" else "") + line * 1_000_000)
    started = time.perf_counter()
    with limits.limited(max_manifest_rows=1000), pytest.raises(ResourceLimitError) as caught:
        load_skill_dataset(path)
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0, elapsed  # before: 57 s and 1.5 GB before the rows were refused
    assert "max_manifest_rows" in str(caught.value) and "more than 1,000 rows" in str(caught.value)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_a_line_over_the_budget_is_refused_before_it_is_read_whole(tmp_path):
    path = tmp_path / "long.csv"
    path.write_text("video,label\n" + "x" * 5_000_000)  # one line with no end
    with limits.limited(max_manifest_line_chars=1000), pytest.raises(ResourceLimitError) as caught:
        load_skill_dataset(path)
    assert "long.csv, line 2" in str(caught.value) and "max_manifest_line_chars" in str(caught.value)


def test_a_manifest_within_the_budget_still_builds(manifest):
    with limits.limited(max_manifest_rows=18):  # the fixture's 18 rows: exactly the budget
        assert sum(len(split) for split in load_skill_dataset(manifest, seed=0).values()) == 18
    with limits.limited(max_manifest_rows=17), pytest.raises(ResourceLimitError, match="more than 17 rows"):
        load_skill_dataset(manifest, seed=0)


def test_label_files_of_public_datasets_and_folder_metadata_are_held_to_the_budget(class_folder, tmp_path):
    scores = tmp_path / "skill_scores.csv"
    scores.write_text("video;grs\n" + "SK_1;3\n" * 1_000_000)
    with limits.limited(max_manifest_rows=1000), pytest.raises(ResourceLimitError, match="max_manifest_rows"):
        list(read_csv_lines(scores))
    scores.write_text("video;grs\n" + "SK_1;3\n" * 1000)
    with limits.limited(max_manifest_rows=1000):
        lines = list(read_csv_lines(scores))
    assert len(lines) == 1001 and lines[-1] == (1001, ["SK_1", "3"])  # the delimiter still sniffed
    # a class folder's metadata.csv (18 rows), which datasets' folder builder would read whole
    with limits.limited(max_manifest_rows=10), pytest.raises(ResourceLimitError, match=r"metadata\.csv"):
        load_skill_dataset(class_folder, probe_videos=False)


# ------------------------------------------------------------------------------------------------ command line


def test_prepare_refuses_a_manifest_row_of_another_protocol_before_opening_anything(skill_videos, tmp_path):
    rows = [dict(row, video=row["path"]) for row in skill_videos[:3]]
    rows[1]["video"] = "file:///etc/passwd"
    manifest = write_manifest(tmp_path / "ratings.csv", rows)
    result = run_cli("prepare", manifest, "--cache-dir", tmp_path / "cache")
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "ratings.csv, row 2: video 'file:///etc/passwd' is refused" in result.stderr
    assert not (tmp_path / "cache").exists()
    outside = run_cli("prepare", skill_videos[0]["path"], "--cache-dir", tmp_path / "cache", "--root", tmp_path)
    assert outside.returncode == 2 and "outside the dataset root" in outside.stderr


def test_inspect_lists_a_url_row_as_a_problem_unless_urls_are_allowed(skill_videos, tmp_path):
    rows = [dict(row, video=row["path"]) for row in skill_videos[:6]]
    rows[0]["video"] = "https://127.0.0.1:9/a.mp4"
    manifest = write_manifest(tmp_path / "ratings.csv", rows)
    refused = run_cli("inspect", manifest)
    assert refused.returncode == 0 and "row 1: video 'https://127.0.0.1:9/a.mp4' is a URL" in refused.stdout
    allowed = run_cli("inspect", manifest, "--allow-urls")
    assert allowed.returncode == 0 and "is a URL" not in allowed.stdout and "6" in allowed.stdout


def test_a_public_dataset_tree_is_confined_to_its_root_symlinks_included(tmp_path):
    tree = write_cataract_lmm_tree(tmp_path / "cataract", "scores")
    first = sorted((tree / "videos").glob("*.mp4"))[0]
    moved = shutil.move(first, tmp_path / "elsewhere.mp4")
    first.symlink_to(moved)  # the tree's video is a link to a file outside it
    assert load_skill_dataset(tree, split_ratios=None, probe_videos=False)  # no root: links are followed
    with pytest.raises(SkillDatasetError, match=r"row 1 \(trial .*\): video .* resolves to .*elsewhere.mp4, outside"):
        load_skill_dataset(tree, split_ratios=None, probe_videos=False, root=tree)
    first.unlink()
    shutil.move(moved, first)
    assert load_skill_dataset(tree, split_ratios=None, probe_videos=False, root=tree)


def test_videos_embedded_in_a_dataset_pass_its_root_from_the_toolkits_cache(
    skill_videos, rooted, tmp_path, monkeypatch
):
    """Hub parquet rows carry the video's bytes; the toolkit writes them to its cache, which a root admits."""
    import datasets

    root, outside = rooted
    monkeypatch.setenv("SURGICAL_SKILL_CACHE", str(tmp_path / "cache"))
    chosen = skill_videos[:6]
    embedded = Dataset.from_dict(
        {
            "video": [{"bytes": Path(row["path"]).read_bytes(), "path": row["video"]} for row in chosen],
            "label": [row["label"] for row in chosen],
            "subject": [row["subject"] for row in chosen],
        }
    ).cast_column("video", datasets.Video(decode=False))
    train = load_skill_dataset(embedded, split_ratios=None, root=root)["train"]
    assert all(path.startswith(str(tmp_path / "cache" / "videos")) for path in train["video"])
    assert train.with_transform(decoder(root=video_roots(root)))[0]["decode_error"] is None
    # a path column pointing at the same files is not embedded: outside the root, refused
    listed = Dataset.from_dict(columns(skill_videos, videos=[str(outside)] * 6))
    with pytest.raises(SkillDatasetError, match="outside"):
        load_skill_dataset(listed, split_ratios=None, root=root)


def test_media_columns_besides_the_video_are_never_opened(skill_videos, listener):
    """datasets' Video/Audio/Image features fetch their paths when a row is read: every one stays undecoded."""
    import datasets

    url = f"http://127.0.0.1:{listener.getsockname()[1]}/x.mp4"
    values = columns(skill_videos)
    values["extra"] = [url] * len(values["video"])
    values["frame"] = [url] * len(values["video"])
    data = Dataset.from_dict(values).cast_column("extra", datasets.Video()).cast_column("frame", datasets.Image())
    train = load_skill_dataset(data, split_ratios=None, probe_videos=False)["train"]
    assert len(train) == 6 and never_connected(listener)


def test_a_dataset_over_the_row_budget_is_refused_before_its_rows_are_read(skill_videos, tmp_path):
    data = Dataset.from_dict(columns(skill_videos))
    with (
        limits.limited(max_manifest_rows=5),
        pytest.raises(ResourceLimitError, match="6 rows exceeds the max_manifest"),
    ):
        load_skill_dataset(data, split_ratios=None, probe_videos=False)
    with limits.limited(max_manifest_rows=6):
        assert len(load_skill_dataset(data, split_ratios=None, probe_videos=False)["train"]) == 6


def test_a_root_given_with_a_tilde_is_the_home_folder(skill_videos, rooted, monkeypatch):
    root, _ = rooted
    monkeypatch.setenv("HOME", str(root.parent))
    relative = [f"videos/{row['video']}" for row in skill_videos[:6]]
    data = load_skill_dataset(
        Dataset.from_dict(columns(skill_videos, videos=relative)), split_ratios=None, root="~/root"
    )
    assert data["train"]["video"][0] == str(root / relative[0])


def test_a_class_folder_with_more_videos_than_the_budget_is_refused_while_it_is_walked(skill_videos, tmp_path):
    for row in skill_videos[:3]:
        (tmp_path / row["label"]).mkdir(exist_ok=True)
        shutil.copy(row["path"], tmp_path / row["label"] / row["video"])
    with limits.limited(max_manifest_rows=2), pytest.raises(ResourceLimitError, match="more than 2 videos"):
        load_skill_dataset(tmp_path, split_ratios=None, probe_videos=False)
    with limits.limited(max_manifest_rows=3):
        assert len(load_skill_dataset(tmp_path, split_ratios=None, probe_videos=False)["train"]) == 3
