"""The AIxSuture / OSS 2025 reader, on miniature trees built like the distributed one."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from surgical_skill.data.public import aixsuture
from surgical_skill.data.splits import SkillDatasetError
from surgical_skill.errors import UsageError
from tests.data.public.trees_aixsuture import (
    HEADER,
    VIDEOS,
    items_of,
    osats_rows,
    write_aixsuture_tree,
    write_osats_sheet,
)

ITEM_COLUMNS = (
    "osats_respect",
    "osats_motion",
    "osats_instrument",
    "osats_suture",
    "osats_flow",
    "osats_knowledge",
    "osats_performance",
    "osatsfinalquality",
)
# video -> (mean GRS, challenge class)
EXPECTED = {
    "A31H": (11.0, "novice"),
    "B12K": (23.0, "intermediate"),
    "C07D": (47 / 3, "novice"),  # 15.67: below the edge 16
    "D44F": (31.0, "proficient"),
    "E19M": (19.0, "intermediate"),
    "F28P": (26.0, "proficient"),
    "G55Q": (26 / 3, "novice"),
    "H63R": (16.0, "intermediate"),  # on the edge
    "J70S": (71 / 3, "intermediate"),  # 23.67
    "K82T": (38.0, "expert"),
}


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    return write_aixsuture_tree(tmp_path_factory.mktemp("aixsuture"))


@pytest.fixture(scope="module")
def data(tree):
    return aixsuture.read(tree)


def by_trial(data) -> dict[str, dict]:
    return {row["trial"]: row for row in data.rows}


def test_one_row_per_video_sorted_with_the_raters_averaged(tree, data):
    assert [row["trial"] for row in data.rows] == sorted(VIDEOS)
    for video, (student, group, time, sutures, grs_by_rater) in VIDEOS.items():
        row = by_trial(data)[video]
        raters = sorted(grs_by_rater)
        assert row["video"] == str(tree / "videos" / f"{video}.mp4")
        assert row["subject"] == str(student)
        assert row["group"] == group
        assert row["time"] == time.lower()
        assert row["raters"] == raters
        assert row["num_raters"] == len(raters)
        assert row["grs_ratings"] == [float(grs_by_rater[r]) for r in raters]
        assert row["grs"] == pytest.approx(EXPECTED[video][0])
        assert row["grs_bin"] == EXPECTED[video][1]
        for i, column in enumerate(ITEM_COLUMNS):
            ratings = [float(items_of(grs_by_rater[r], r)[i]) for r in raters]
            assert row[f"{column}_ratings"] == ratings
            assert row[column] == pytest.approx(sum(ratings) / len(ratings))
        counts = sutures if isinstance(sutures, tuple) else (sutures,) * len(raters)
        assert row["sutures"] == pytest.approx(sum(counts) / len(counts))
    assert by_trial(data)["K82T"]["sutures"] == pytest.approx(25 / 3)  # raters counted 8, 8 and 9
    assert by_trial(data)["C07D"]["osats_respect_ratings"] == [1.0, 2.0, 2.0]  # in raters' order B, C, F


def test_values_keep_one_type_per_column(data):
    for key in data.rows[0]:
        kinds = {type(row[key]) for row in data.rows}
        assert len(kinds) == 1, (key, kinds)


def test_a_students_pre_and_post_videos_share_the_subject(data):
    rows = by_trial(data)
    assert rows["A31H"]["subject"] == rows["B12K"]["subject"] == "101"
    assert (rows["A31H"]["time"], rows["B12K"]["time"]) == ("pre", "post")
    assert rows["K82T"]["subject"] == "201" and rows["K82T"]["group"] == "RESIDENT"
    assert sum(row["subject"] == "201" for row in data.rows) == 1
    assert any("PRE and POST" in note for note in data.notes)


def test_targets_and_subscores(data):
    assert data.format == "aixsuture"
    assert data.default_target == "grs_bins"
    assert data.target(None).name == "grs_bins"
    bins = data.targets["grs_bins"]
    assert (bins.kind, bins.column) == ("label", "grs_bin")
    assert bins.label_names == ("novice", "intermediate", "proficient", "expert")
    assert {row["grs_bin"] for row in data.rows} == set(bins.label_names)
    grs = data.targets["grs"]
    assert (grs.kind, grs.column, grs.score_range) == ("score", "grs", (8.0, 40.0))
    assert data.subscores == ITEM_COLUMNS
    for column in ITEM_COLUMNS:
        target = data.targets[column]
        assert (target.kind, target.column, target.score_range) == ("score", column, (1.0, 5.0))
    assert list(data.targets) == ["grs_bins", "grs", *ITEM_COLUMNS]
    assert data.protocols == {} and aixsuture.PROTOCOLS == {}
    with pytest.raises(UsageError, match=r"no target 'skill_level'.*grs_bins, grs"):
        data.target("skill_level")


def test_the_complete_tree_warns_only_of_the_video_with_two_raters(data):
    assert [(p.file, p.line, p.unit, p.severity) for p in data.problems] == [("OSATS.xlsx", 14, "row", "warning")]
    assert "E19M is rated by 2 raters (A, F)" in data.problems[0].message
    assert str(data.problems[0]).startswith("OSATS.xlsx, row 14: ")


def test_score_bins_give_range_named_classes(tree):
    data = aixsuture.read(tree, score_bins=[8, 20, 30])
    bins = data.targets["grs_bins"]
    assert bins.label_names == ("8-19", "20-29", "30-40")
    assert {t: r["grs_bin"] for t, r in by_trial(data).items()} == {
        "A31H": "8-19",
        "B12K": "20-29",
        "C07D": "8-19",
        "D44F": "30-40",
        "E19M": "8-19",
        "F28P": "20-29",
        "G55Q": "8-19",
        "H63R": "8-19",
        "J70S": "20-29",
        "K82T": "30-40",
    }
    assert by_trial(aixsuture.read(tree, score_bins=[8, 15.5]))["C07D"]["grs_bin"] == "15.5-40"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"score_bins": [16, 24]}, "start at 8 or below"),
        ({"score_bins": [8, 24, 41]}, "end at 40 or below"),
        ({"score_bins": [8, 8]}, "ascending"),
        ({"sheet": "Sheet9"}, "no worksheet 'Sheet9'; its sheets are Tabelle1"),
        ({"task": "Suturing"}, "no option 'task'; its options are score_bins, sheet"),
    ],
)
def test_bad_options_are_one_line_usage_errors(tree, options, message):
    with pytest.raises(UsageError, match=message):
        aixsuture.read(tree, **options)


def test_the_sheet_option_and_a_workbook_whose_first_sheet_is_not_the_ratings(tmp_path):
    root = write_aixsuture_tree(
        tmp_path, xlsx_name="OSATS_MICCAI_trainset.xlsx", sheet_name="trainset", extra_sheets=["README"]
    )
    default = aixsuture.read(root)
    assert [row["trial"] for row in default.rows] == sorted(VIDEOS)
    assert default.problems[0].file == "OSATS_MICCAI_trainset.xlsx"
    assert [row["grs"] for row in aixsuture.read(root, sheet="trainset").rows] == [r["grs"] for r in default.rows]
    with pytest.raises(SkillDatasetError, match="worksheet 'README' does not have the OSATS header"):
        aixsuture.read(root, sheet="README")


def test_a_csv_export_reads_as_the_workbook(tree, data, tmp_path):
    shutil.copytree(tree / "videos", tmp_path / "videos")
    aixsuture_csv = write_osats_sheet(tmp_path / "labels" / "OSATS.csv", osats_rows())
    from_csv = aixsuture.read(tmp_path)
    for row, expected in zip(from_csv.rows, data.rows, strict=True):
        assert row == {**expected, "video": str(tmp_path / "videos" / Path(expected["video"]).name)}
    assert [(p.file, p.line, p.unit, p.severity) for p in from_csv.problems] == [
        ("labels/OSATS.csv", 14, "line", "warning")
    ]
    assert aixsuture_csv.is_file() and aixsuture.detect(tmp_path)
    with pytest.raises(UsageError, match=r"applies to an \.xlsx"):
        aixsuture.read(tmp_path, sheet="Tabelle1")


def test_header_names_tolerate_case_spaces_and_the_grs_spellings(tmp_path):
    header = [h.lower().replace("_", " ") for h in HEADER[:-1]] + ["Global_Rating_Score"]
    root = write_aixsuture_tree(tmp_path, header=header, videos=["A31H", "B12K"], rows=osats_rows()[:6])
    data = aixsuture.read(root)
    assert [row["trial"] for row in data.rows] == ["A31H", "B12K"]
    assert by_trial(data)["B12K"]["grs"] == 23.0 and by_trial(data)["B12K"]["osats_motion_ratings"]


def irregular_rows() -> list[list]:
    """The sheet of the miniature tree, then the rows of every problem (sheet rows 32 on)."""
    rows = osats_rows()  # sheet rows 2-30
    item = items_of(16, "A")
    rows += [
        [],  # row 31: blank rows are skipped
        [101, "A", "PRE", 3, "D", "A31H", *item[:-1], "x", 16],  # 32: a non-numeric item (error)
        [101, "A", "PRE", 3, "E", "", *item, 16],  # 33: no VIDEO (error)
        [102, "A", "POST", 6, "F", "D44F", *item, 41],  # 34: GRS out of range (error)
        [103, "B", "POST", 6, "D", "F28P", *item, 16],  # 35: rater D twice on F28P (error)
        [301, "B", "PRE", 4, "A", "L10A", *item, 16],  # 36-38: rows disagree on STUDENT (error on the video)
        [302, "B", "PRE", 4, "B", "L10A", *item, 16],
        [301, "B", "PRE", 4, "C", "L10A", *item, 16],
        [303, "B", "PRE", 4, "A", "M20B", *item, 17],  # 39-41: GRS 17 is not the items' sum 16 (warning)
        [303, "B", "PRE", 4, "B", "M20B", *item, 16],
        [303, "B", "PRE", 4, "C", "M20B", *item, 16],
        [304, "B", "PRE", 4, "A", "N30C", *item, 16],  # 42-44: no video file (error)
        [304, "B", "PRE", 4, "B", "N30C", *item, 16],
        [304, "B", "PRE", 4, "C", "N30C", *item, 16],
        [101, "A", "POST", 4, "A", "P40D", *item, 16],  # 45-47: student 101's third video (warning)
        [101, "A", "POST", 4, "B", "P40D", *item, 16],
        [101, "A", "POST", 4, "C", "P40D", *item, 16],
        [305, "B", "PRE", "many", "A", "Q50E", *item, 16],  # 48: SUTURES not a count (error)
        [306, "B", "PRE", 4, "A", "R60F", *item, 16],  # 49-51: two files R60F.mp4 (error)
        [306, "B", "PRE", 4, "B", "R60F", *item, 16],
        [306, "B", "PRE", 4, "C", "R60F", *item, 16],
    ]
    return rows


@pytest.fixture(scope="module")
def irregular(tmp_path_factory):
    root = tmp_path_factory.mktemp("aixsuture_irregular")
    videos = [*VIDEOS, "L10A", "M20B", "P40D", "Q50E", "R60F", "Z99Z"]  # Z99Z has no row (warning)
    write_aixsuture_tree(root, rows=irregular_rows(), videos=videos)
    (root / "videos" / "copies").mkdir()
    shutil.copy(root / "videos" / "R60F.mp4", root / "videos" / "copies" / "R60F.mp4")
    return aixsuture.read(root)


def test_every_problem_with_its_row_and_severity(irregular):
    found = [(p.file, p.line, p.unit, p.severity) for p in irregular.problems]
    assert found == [
        ("OSATS.xlsx", 32, "row", "error"),
        ("OSATS.xlsx", 33, "row", "error"),
        ("OSATS.xlsx", 34, "row", "error"),
        ("OSATS.xlsx", 35, "row", "error"),
        ("OSATS.xlsx", 39, "row", "warning"),
        ("OSATS.xlsx", 48, "row", "error"),
        ("OSATS.xlsx", 14, "row", "warning"),  # E19M: two raters
        ("OSATS.xlsx", 36, "row", "error"),  # L10A: two students
        ("OSATS.xlsx", 42, "row", "error"),  # N30C: no file
        ("OSATS.xlsx", 49, "row", "error"),  # R60F: two files
        ("OSATS.xlsx", 45, "row", "warning"),  # student 101 has three videos
        ("videos/Z99Z.mp4", None, "line", "warning"),
    ]
    messages = [p.message for p in irregular.problems]
    assert "OSATS_FLOW" not in messages[0] and "OSATSFINALQUALITY 'x' is not a number from 1 to 5" in messages[0]
    assert messages[1] == "no VIDEO id; fill it in or delete the row"
    assert "D44F: GLOBARATINGSCORE '41' is not a number from 8 to 40" in messages[2]
    assert "F28P: rater 'D' rated it already (row 17)" in messages[3]
    assert "GLOBARATINGSCORE 17 is not the sum of the eight OSATS items (16)" in messages[4]
    assert "SUTURES 'many' is not a count" in messages[5]
    assert "different STUDENTs (301 in row 36, 302 in row 37, 301 in row 38)" in messages[7]
    assert "N30C has no file N30C.mp4" in messages[8]
    assert "R60F matches several files (videos/R60F.mp4, videos/copies/R60F.mp4); keep one" in messages[9]
    assert "student 101 has 3 videos (A31H, B12K, P40D)" in messages[10]
    assert messages[11] == "a video with no row in OSATS.xlsx; it is left out"


def test_rows_with_errors_are_left_out_and_the_rest_kept(irregular, data):
    rows = by_trial(irregular)
    assert sorted(rows) == sorted([*VIDEOS, "M20B", "P40D"])
    # the erroneous rater rows are dropped; the video keeps its other raters
    assert rows["A31H"] == by_trial(data)["A31H"] | {"video": rows["A31H"]["video"]}
    assert rows["F28P"]["raters"] == ["B", "D", "F"] and rows["F28P"]["grs"] == 26.0
    assert rows["M20B"]["grs_ratings"] == [17.0, 16.0, 16.0]  # the GRS as given, warned about
    assert rows["P40D"]["subject"] == "101"


def test_missing_required_columns_and_no_sheet_are_errors(tmp_path):
    with pytest.raises(SkillDatasetError, match="no OSATS sheet"):
        aixsuture.read(tmp_path)
    header = [h for h in HEADER if h != "INVESTIGATOR"]
    write_aixsuture_tree(tmp_path, header=header, rows=[], videos=[])
    with pytest.raises(SkillDatasetError, match="no column INVESTIGATOR"):
        aixsuture.read(tmp_path)


def test_detect(tree, tmp_path):
    assert aixsuture.detect(tree)
    nested = tmp_path / "nested"
    (nested / "AIxSuture" / "labels").mkdir(parents=True)
    shutil.copy(tree / "OSATS.xlsx", nested / "AIxSuture" / "labels" / "OSATS.xlsx")
    assert aixsuture.detect(nested)  # two folders down
    deep = tmp_path / "deep"
    (deep / "a" / "b" / "c").mkdir(parents=True)
    shutil.copy(tree / "OSATS.xlsx", deep / "a" / "b" / "c" / "OSATS.xlsx")
    assert not aixsuture.detect(deep)  # three folders down: too deep to look
    # a class folder tree with a manifest: a VIDEO column but no GRS
    classes = tmp_path / "classes"
    shutil.copytree(tree / "videos", classes / "novice")
    (classes / "metadata.csv").write_text("video,label,subject,score\nnovice/A31H.mp4,novice,101,11\n")
    assert not aixsuture.detect(classes)
    # JIGSAWS: a meta file with a GRS per trial, no spreadsheet
    jigsaws = tmp_path / "jigsaws" / "Suturing"
    (jigsaws / "video").mkdir(parents=True)
    (jigsaws / "meta_file_Suturing.txt").write_text("Suturing_B001\tN\t13\t2\t2\t2\t2\t3\t2\n")
    assert not aixsuture.detect(tmp_path / "jigsaws")
    # Cataract-LMM and HeiChole CSVs
    cataract = tmp_path / "cataract" / "annotations"
    cataract.mkdir(parents=True)
    (cataract / "skill_scores.csv").write_text("clip_key,instrument_handling,motion\nSK_0002_S1_P03,4,3\n")
    heichole = tmp_path / "heichole"
    heichole.mkdir()
    (heichole / "Hei-Chole1_Calot_Skill.csv").write_text("3,4,3,4,2\n")
    assert not aixsuture.detect(tmp_path / "cataract") and not aixsuture.detect(heichole)
    assert not aixsuture.detect(tmp_path / "no-such-folder")
    # a damaged workbook is not the sheet
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "OSATS.xlsx").write_bytes(b"not a zip")
    assert not aixsuture.detect(broken)


def test_a_second_sheet_is_named_and_not_read(tree, tmp_path):
    shutil.copytree(tree, tmp_path / "t")
    shutil.copy(tree / "OSATS.xlsx", tmp_path / "t" / "OSATS_copy.xlsx")
    data = aixsuture.read(tmp_path / "t")
    assert (data.problems[0].file, data.problems[0].severity) == ("OSATS_copy.xlsx", "warning")
    assert "another OSATS sheet, not read (OSATS.xlsx was)" in data.problems[0].message


def test_a_workbook_over_the_row_budget_is_refused_while_it_is_read(tmp_path):
    from surgical_skill import limits

    rows = osats_rows()  # 28 data rows
    root = write_aixsuture_tree(tmp_path)
    assert len(aixsuture.read(root).rows) == len(VIDEOS)
    with limits.limited(max_manifest_rows=len(rows)):
        assert len(aixsuture.read(root).rows) == len(VIDEOS)  # exactly at the budget
    with (
        limits.limited(max_manifest_rows=len(rows) - 1),
        pytest.raises(
            limits.ResourceLimitError,
            match=r"OSATS.xlsx, sheet 'Tabelle1': more than .* rows exceeds the max_manifest_rows",
        ),
    ):
        aixsuture.read(root)
