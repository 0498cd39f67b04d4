import logging
from pathlib import Path

import datasets
import pytest
from datasets import ClassLabel, Dataset, DatasetDict

from surgical_skill.data import SkillDatasetError, load_skill_dataset, order_label_names
from surgical_skill.video import probe
from tests.helpers import write_manifest


def all_rows(data: DatasetDict) -> list[dict]:
    return [row for split in data.values() for row in split]


def test_manifest_builds_grouped_splits_with_ordered_labels_and_metadata(manifest, skill_videos):
    data = load_skill_dataset(manifest, seed=0)
    assert set(data) == {"train", "validation", "test"}
    labels = data["train"].features["labels"]
    assert isinstance(labels, ClassLabel) and labels.names == ["novice", "intermediate", "expert"]
    rows = all_rows(data)
    assert len(rows) == 18 and sorted(r["video_id"] for r in rows) == list(range(18))
    subjects = {name: set(split["subject"]) for name, split in data.items()}
    assert not subjects["train"] & subjects["validation"]
    assert not subjects["train"] & subjects["test"]
    assert not subjects["validation"] & subjects["test"]
    for row in rows:
        assert Path(row["video"]).is_absolute() and Path(row["video"]).exists()
        meta = probe(row["video"])
        assert (row["total_num_frames"], row["fps"], row["width"], row["height"]) == (
            meta.total_num_frames,
            meta.fps,
            meta.width,
            meta.height,
        )
        assert row["duration"] == pytest.approx(meta.duration)
    expected = {r["path"]: r["label"] for r in skill_videos}
    assert all(labels.int2str(r["labels"]) == expected[r["video"]] for r in rows)


def test_same_seed_same_split_other_seed_other_split(manifest):
    a = load_skill_dataset(manifest, seed=0)
    b = load_skill_dataset(manifest, seed=0)
    c = load_skill_dataset(manifest, seed=5)
    assert a["test"]["video"] == b["test"]["video"]
    assert a["test"]["video"] != c["test"]["video"]


def test_jsonl_manifest_equals_csv(manifest, skill_videos):
    jsonl = write_manifest(manifest.with_suffix(".jsonl"), skill_videos)
    from_csv, from_jsonl = load_skill_dataset(manifest), load_skill_dataset(jsonl)
    for name in from_csv:
        assert from_csv[name]["video"] == from_jsonl[name]["video"]
        assert from_csv[name]["labels"] == from_jsonl[name]["labels"]


def test_class_folder_with_metadata(class_folder):
    data = load_skill_dataset(class_folder, split_ratios=None)
    train = data["train"]
    assert len(train) == 18
    assert train.features["labels"].names == ["novice", "intermediate", "expert"]
    for row in train:
        assert train.features["labels"].int2str(row["labels"]) == Path(row["video"]).parent.name
        assert row["subject"].startswith("S")


def test_class_folder_without_metadata(class_folder, tmp_path):
    import shutil

    plain = tmp_path / "plain"
    shutil.copytree(class_folder, plain, ignore=shutil.ignore_patterns("metadata.csv"))
    data = load_skill_dataset(plain, split_ratios=(0.8, 0.0, 0.2))
    assert set(data) == {"train", "test"}
    assert sum(len(s) for s in data.values()) == 18
    assert all(s == "" for split in data.values() for s in split["subject"])


def test_in_memory_dataset_paths_and_video_feature(skill_videos):
    paths = [r["path"] for r in skill_videos]
    table = {
        "video": paths,
        "label": [r["label"] for r in skill_videos],
        "subject": [r["subject"] for r in skill_videos],
    }
    plain = load_skill_dataset(Dataset.from_dict(table), split_ratios=None)
    assert plain["train"]["video"] == paths
    # a Video feature, as datasets' own video datasets have (rows decode to torchcodec decoders)
    as_video = Dataset.from_dict(table).cast_column("video", datasets.Video())
    with_feature = load_skill_dataset(as_video, split_ratios=None)
    assert with_feature["train"]["video"] == paths


def test_dataset_dict_keeps_its_splits(skill_videos):
    rows = {"video": [r["path"] for r in skill_videos], "label": [r["label"] for r in skill_videos]}
    given = DatasetDict(
        {
            "train": Dataset.from_dict({k: v[:12] for k, v in rows.items()}),
            "test": Dataset.from_dict({k: v[12:] for k, v in rows.items()}),
        }
    )
    data = load_skill_dataset(given)
    assert set(data) == {"train", "test"} and len(data["train"]) == 12 and len(data["test"]) == 6


def test_videos_embedded_as_bytes_like_hub_parquet(skill_videos, tmp_path, monkeypatch):
    monkeypatch.setenv("SURGICAL_SKILL_CACHE", str(tmp_path / "cache"))
    rows = skill_videos[:4]
    embedded = Dataset.from_dict(
        {
            "video": [{"bytes": Path(r["path"]).read_bytes(), "path": r["video"]} for r in rows],
            "label": [r["label"] for r in rows],
        }
    ).cast_column("video", datasets.Video(decode=False))
    embedded.save_to_disk(tmp_path / "saved")
    data = load_skill_dataset(tmp_path / "saved", split_ratios=None)
    for row, source in zip(data["train"], rows):
        assert Path(row["video"]).parent == tmp_path / "cache" / "videos"
        assert Path(row["video"]).read_bytes() == Path(source["path"]).read_bytes()
        assert row["total_num_frames"] == probe(source["path"]).total_num_frames


def test_hub_id_that_cannot_be_loaded_says_so():
    with pytest.raises(
        SkillDatasetError,
        match="surgical-skill/no-such-dataset: not a local folder or manifest, and loading it from the Hub failed",
    ):
        load_skill_dataset("surgical-skill/no-such-dataset")


def test_scores_for_regression(manifest):
    data = load_skill_dataset(manifest, target="score", seed=0)
    feature = data["train"].features["labels"]
    assert feature.dtype == "float64"
    assert sorted(v for s in data.values() for v in s["labels"]) == [10.0 + 1.5 * i for i in range(18)]
    assert "label_name" in data["train"].column_names
    subjects = [set(s["subject"]) for s in data.values()]
    assert not subjects[0] & subjects[1] and not subjects[0] & subjects[2]


def test_split_column_in_the_manifest_wins(skill_videos, tmp_path):
    rows = [dict(r, video=r["path"], split=["train", "val", "test"][i % 3]) for i, r in enumerate(skill_videos)]
    data = load_skill_dataset(write_manifest(tmp_path / "m.csv", rows, ("video", "label", "split")))
    assert {k: len(v) for k, v in data.items()} == {"train": 6, "validation": 6, "test": 6}
    assert data["validation"]["video"] == [r["path"] for i, r in enumerate(skill_videos) if i % 3 == 1]


def test_label_order():
    assert order_label_names({"expert", "novice"}) == ["novice", "expert"]
    assert order_label_names({"higher-skilled", "lower-skilled"}) == ["lower-skilled", "higher-skilled"]
    assert order_label_names({"b", "a"}) == ["a", "b"]


# ---------------------------------------------------------------------------------------------- bad input


def test_missing_files_are_all_listed(skill_videos, tmp_path):
    rows = [dict(r, video=r["path"]) for r in skill_videos[:5]]
    rows += [{"video": str(tmp_path / f"gone_{i}.mp4"), "label": "novice", "subject": "X"} for i in range(3)]
    with pytest.raises(SkillDatasetError) as info:
        load_skill_dataset(write_manifest(tmp_path / "m.csv", rows))
    message = str(info.value)
    assert "video files not found (3)" in message
    for i, row_number in zip(range(3), (6, 7, 8)):
        assert f"row {row_number}: {tmp_path / f'gone_{i}.mp4'}" in message


def test_duplicates_unknown_and_empty_classes_and_bad_scores(skill_videos, tmp_path):
    rows = [dict(r, video=r["path"]) for r in skill_videos[:6]]
    rows.append(dict(rows[0]))
    with pytest.raises(SkillDatasetError, match=r"(?s)duplicated videos .*row 7 repeats row 1"):
        load_skill_dataset(write_manifest(tmp_path / "dup.csv", rows))
    rows = [dict(r, video=r["path"]) for r in skill_videos[:6]]
    with pytest.raises(SkillDatasetError) as info:
        load_skill_dataset(write_manifest(tmp_path / "names.csv", rows), label_names=["novice", "expert", "master"])
    assert "labels not in label_names" in str(info.value) and "'intermediate'" in str(info.value)
    assert "classes with no videos (1):\n  master" in str(info.value)
    rows[2]["score"] = "n/a"
    with pytest.raises(SkillDatasetError, match=r"(?s)scores that are not numbers .*row 3: 'n/a'"):
        load_skill_dataset(write_manifest(tmp_path / "scores.csv", rows), target="score")


def test_unknown_split_name(skill_videos, tmp_path):
    rows = [dict(r, video=r["path"], split="train") for r in skill_videos[:4]]
    rows[1]["split"] = "holdout"
    with pytest.raises(SkillDatasetError, match=r"(?s)unknown split names .*row 2: 'holdout'"):
        load_skill_dataset(write_manifest(tmp_path / "m.csv", rows, ("video", "label", "split")))


def test_unreadable_videos_raise_or_are_dropped(skill_videos, tmp_path, caplog):
    bad = tmp_path / "broken.mp4"
    bad.write_text("not a video")
    rows = [dict(r, video=r["path"]) for r in skill_videos[:6]] + [{"video": str(bad), "label": "expert"}]
    path = write_manifest(tmp_path / "m.csv", rows)
    with pytest.raises(SkillDatasetError, match=r"unreadable videos \(1\):\n  row 7: .*broken.mp4: not a readable"):
        load_skill_dataset(path)
    with caplog.at_level(logging.WARNING):
        data = load_skill_dataset(path, drop_unreadable=True, split_ratios=None)
    assert len(data["train"]) == 6 and "broken.mp4" in caplog.text


def test_subject_with_conflicting_labels_warns(skill_videos, tmp_path, caplog):
    rows = [dict(r, video=r["path"]) for r in skill_videos[:4]]
    rows[1]["label"] = "expert"  # S0 rated novice in one trial and expert in the other
    with caplog.at_level(logging.WARNING):
        load_skill_dataset(write_manifest(tmp_path / "m.csv", rows), split_ratios=None)
    assert "S0: ['expert', 'novice']" in caplog.text


def test_no_label_or_score_and_no_such_source(skill_videos, tmp_path):
    rows = [{"video": r["path"]} for r in skill_videos[:3]]
    with pytest.raises(SkillDatasetError, match="no 'label' column"):
        load_skill_dataset(write_manifest(tmp_path / "m.csv", rows, ("video",)), target="label")
    with pytest.raises(SkillDatasetError, match="no such folder or manifest"):
        load_skill_dataset(tmp_path / "nothing.csv")


def test_a_supplied_split_that_shares_a_surgeon_is_refused_naming_them(skill_videos, tmp_path):
    # S0's two trials (rows 1 and 2) go to train and test; everyone else stays on one side
    rows = [dict(r, video=r["path"], split="train" if int(r["subject"][1:]) < 5 else "test") for r in skill_videos]
    rows[1]["split"] = "test"
    path = write_manifest(tmp_path / "m.csv", rows, ("video", "label", "subject", "split"))
    with pytest.raises(SkillDatasetError) as caught:
        load_skill_dataset(path)
    message = str(caught.value)
    assert "surgeons in more than one split" in message
    assert "subject 'S0': train (row 1), test (row 2)" in message
    assert "S1" not in message and "allow_shared_subjects" in message
    data = load_skill_dataset(path, allow_shared_subjects=True)  # the explicit opt-out
    assert "S0" in set(data["train"]["subject"]) & set(data["test"]["subject"])


def test_without_subjects_splits_per_video_loudly_or_refuses(skill_videos, tmp_path, caplog):
    rows = [dict(r, video=r["path"]) for r in skill_videos]
    path = write_manifest(tmp_path / "m.csv", rows, ("video", "label"))
    with caplog.at_level(logging.WARNING):
        load_skill_dataset(path, seed=0)
    assert "no subject (surgeon) column" in caplog.text and "optimistic" in caplog.text
    with pytest.raises(SkillDatasetError, match=r"no row has a subject \(surgeon id\): add a 'subject' column"):
        load_skill_dataset(path, require_subjects=True)
    rows[3]["subject"] = rows[5]["subject"] = ""
    some = write_manifest(tmp_path / "some.csv", rows, ("video", "label", "subject"))
    with pytest.raises(SkillDatasetError, match=r"(?s)rows without a subject \(surgeon id\) \(2\).*row 4\n  row 6\n"):
        load_skill_dataset(some, require_subjects=True)


def test_numeric_labels_keep_numeric_order():
    assert order_label_names({"1", "10", "2"}) == ["1", "2", "10"]
    assert order_label_names({"2.5", "10", "-1"}) == ["-1", "2.5", "10"]
    assert order_label_names({"b", "a", "10"}) == ["10", "a", "b"]  # not all numbers: sorted as text
    assert order_label_names({"expert", "novice"}) == ["novice", "expert"]  # a known scale keeps its order


def test_datasets_saved_before_the_column_rename_still_load(manifest, skill_videos, tmp_path):
    # Datasets built before total_num_frames was named so carry the video's length as "num_frames".
    old = load_skill_dataset(manifest, split_ratios=None)["train"].rename_column("total_num_frames", "num_frames")
    old.save_to_disk(tmp_path / "old")
    for probe_videos in (False, True):
        data = load_skill_dataset(
            tmp_path / "old", label_column="labels", split_ratios=None, probe_videos=probe_videos
        )
        data = data["train"]
        assert "num_frames" not in data.column_names
        assert data["total_num_frames"] == [probe(path).total_num_frames for path in data["video"]]


def test_a_manifest_with_an_old_num_frames_column(skill_videos, tmp_path):
    rows = [{**row, "num_frames": probe(row["path"]).total_num_frames} for row in skill_videos]
    path = write_manifest(tmp_path / "old.csv", rows, fields=("video", "label", "subject", "num_frames"))
    for row in rows:
        (tmp_path / row["video"]).symlink_to(row["path"])
    data = load_skill_dataset(path, split_ratios=None, probe_videos=False)["train"]
    assert "num_frames" not in data.column_names
    assert [int(n) for n in data["total_num_frames"]] == [row["num_frames"] for row in rows]


# ------------------------------------------------------------------------------------ columns and labels


def test_the_path_column_may_be_file_name_or_path_as_datasets_folders_name_it(skill_videos, tmp_path):
    rows = [dict(r, video=r["path"]) for r in skill_videos]
    expected = load_skill_dataset(write_manifest(tmp_path / "video.csv", rows), split_ratios=None)["train"]
    for column, suffix in (("file_name", ".csv"), ("path", ".jsonl")):
        renamed = [{column: r["video"], "label": r["label"], "subject": r["subject"]} for r in rows]
        manifest = write_manifest(tmp_path / f"{column}{suffix}", renamed, (column, "label", "subject"))
        data = load_skill_dataset(manifest, split_ratios=None)["train"]
        assert data["video"] == expected["video"] and data["labels"] == expected["labels"]
        assert column not in data.column_names
    # an in-memory dataset too
    data = load_skill_dataset(Dataset.from_list(renamed), split_ratios=None)["train"]
    assert data["video"] == expected["video"]


def test_no_path_column_or_several_candidates_name_the_columns_found(skill_videos, tmp_path):
    rows = [{"clip": r["path"], "file_name": r["path"], "path": r["path"], "label": r["label"]} for r in skill_videos]
    with pytest.raises(
        SkillDatasetError,
        match=r"no 'video' column, and 2 columns that could hold the video paths \('file_name', 'path'\): rename "
        r"the one with the paths to 'video'",
    ):
        load_skill_dataset(write_manifest(tmp_path / "two.csv", rows, ("file_name", "path", "label")))
    with pytest.raises(
        SkillDatasetError,
        match=r"no column with the video paths: looked for 'video' and 'file_name', 'path', 'video_path', found "
        r"'clip', 'label'\. Rename the column with the paths to 'video'",
    ):
        load_skill_dataset(write_manifest(tmp_path / "none.csv", rows, ("clip", "label")))
    with pytest.raises(SkillDatasetError, match=r"no 'movie' column \(video_column\) .*columns are 'clip', 'label'"):
        load_skill_dataset(write_manifest(tmp_path / "none.jsonl", rows, ("clip", "label")), video_column="movie")


def test_a_semicolon_separated_csv_reads_as_one(skill_videos, tmp_path):
    lines = ["video;label;subject"] + [f"{r['path']};{r['label']};{r['subject']}" for r in skill_videos]
    (tmp_path / "excel.csv").write_text("\n".join(lines) + "\n")
    data = load_skill_dataset(tmp_path / "excel.csv", split_ratios=None)["train"]
    assert len(data) == len(skill_videos) and set(data["subject"]) == {r["subject"] for r in skill_videos}


def test_a_jsonl_line_that_is_not_an_object_is_named(tmp_path):
    (tmp_path / "m.jsonl").write_text('{"video": "a.mp4", "label": "novice"}\n["b.mp4", "expert"]\n')
    with pytest.raises(SkillDatasetError, match=r"m\.jsonl, line 2: not a JSON object"):
        load_skill_dataset(tmp_path / "m.jsonl")


def test_a_column_asked_for_by_name_must_exist(skill_videos, tmp_path):
    rows = [dict(r, video=r["path"]) for r in skill_videos]
    path = write_manifest(tmp_path / "m.csv", rows)
    for argument in ("label_column", "subject_column", "split_column", "score_column"):
        with pytest.raises(
            SkillDatasetError,
            match=rf"no such column: {argument}='grade'; its columns are 'video', 'label', 'subject'",
        ):
            load_skill_dataset(path, **{argument: "grade"})
    # one that exists wins over a column that merely has our name
    graded = [dict(r, grade="expert" if r["label"] == "novice" else "novice") for r in rows]
    data = load_skill_dataset(
        write_manifest(tmp_path / "g.csv", graded, ("video", "label", "grade", "subject")),
        label_column="grade",
        split_ratios=None,
    )["train"]
    names = data.features["labels"].names
    assert [names[k] for k in data["labels"]] == [r["grade"] for r in graded]


def test_labels_that_mix_numbers_and_names_or_spell_a_number_twice_are_refused(skill_videos, tmp_path):
    rows = [dict(r, video=r["path"]) for r in skill_videos]
    rows[2]["label"], rows[7]["label"] = "3", "4"  # a score typed into the class column
    with pytest.raises(
        SkillDatasetError,
        match=r"(?s)labels that mix numbers and names \(2 rows have numbers, 16 names\); the rows with numbers \(2\):"
        r"\n  row 3: '3'\n  row 8: '4'\n.*if the numbers are scores, put them in a 'score' column",
    ):
        load_skill_dataset(write_manifest(tmp_path / "mixed.csv", rows))
    numeric = [dict(r, label=str(i % 3 + 1)) for i, r in enumerate(rows)]
    numeric[4]["label"] = "2.0"
    with pytest.raises(SkillDatasetError, match=r"one number written in two ways .*\n  '2' and '2\.0'"):
        load_skill_dataset(write_manifest(tmp_path / "spelled.csv", numeric))


def test_numbers_that_look_like_scores_in_the_label_column_get_a_warning(skill_videos, tmp_path, caplog):
    rows = [dict(r, video=r["path"], label=str(8 + i)) for i, r in enumerate(skill_videos)]  # 18 GRS-like values
    path = write_manifest(tmp_path / "grs.csv", rows)
    with caplog.at_level(logging.WARNING):
        data = load_skill_dataset(path, split_ratios=None, probe_videos=False)
    assert data["train"].features["labels"].num_classes == 18
    assert "the label column holds 18 different numbers, each read as a class. If they are scores" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        load_skill_dataset(path, split_ratios=None, probe_videos=False, target="label")  # asked for: no warning
    assert "different numbers" not in caplog.text


def test_a_row_with_an_empty_path_is_named(skill_videos, tmp_path):
    rows = [dict(r, video=r["path"]) for r in skill_videos[:5]]
    rows[3]["video"] = ""
    with pytest.raises(
        SkillDatasetError, match=r"(?s)cannot build the dataset\nrows without a video path \(1\):\n  row 4$"
    ):
        load_skill_dataset(write_manifest(tmp_path / "m.csv", rows))
