"""The HeiChole reader: per-phase modified-GOALS ratings, each row covering its phase's frames of the operation."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from datasets import Dataset

from surgical_skill.data import ClipDecoder, ClipSampling, add_video_metadata, expand_clips
from surgical_skill.data.public import heichole
from surgical_skill.data.splits import SkillDatasetError
from surgical_skill.errors import UsageError
from surgical_skill.testing_utils import make_test_video, read_frame_index
from tests.data.public.trees_heichole import (
    FRAMES,
    PHASE_LENGTHS,
    SCORES,
    phase_lines,
    phase_path,
    phase_starts,
    skill_path,
    video_path,
    write_heichole_tree,
    write_phase_file,
    write_skill_file,
)

ITEMS = ("depth_perception", "bimanual_dexterity", "efficiency", "tissue_handling", "difficulty")
PHASE_NAMES = {"Calot": ("calot", 1), "Dissection": ("dissection", 3), None: ("full", None)}


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    return write_heichole_tree(tmp_path_factory.mktemp("heichole"))


@pytest.fixture
def copy(tree, tmp_path) -> Path:
    """A copy of the miniature tree to spoil."""
    return Path(shutil.copytree(tree, tmp_path / "heichole"))


def expected_row(root: Path, number: int, phase: str | None) -> dict:
    name, known = PHASE_NAMES[phase]
    segment = (None, None)
    if known is not None and number in PHASE_LENGTHS:
        start = phase_starts(number)[known]
        segment = (start, start + PHASE_LENGTHS[number][known])
    scores = SCORES[number, phase]
    return {
        "video": str(video_path(root, number).resolve()),
        "subject": f"Hei-Chole{number}",
        "trial": f"Hei-Chole{number}",
        "phase": name,
        "phase_id": known,
        **dict(zip(ITEMS, scores)),
        "total": sum(scores),
        "segment_start": segment[0],
        "segment_end": segment[1],
    }


def problems_of(data) -> list[tuple[str, int | None, str]]:
    return [(p.file, p.line, p.severity) for p in data.problems]


def the_problem(data, file: str, severity: str | None = None):
    found = [p for p in data.problems if p.file == file and severity in (None, p.severity)]
    assert len(found) == 1, data.problems
    return found[0]


def rows_by(data) -> dict[tuple[str, str], dict]:
    return {(row["trial"], row["phase"]): row for row in data.rows}


# ------------------------------------------------------------------------------------------- the miniature tree


def test_one_row_per_operation_and_rated_phase_in_order(tree):
    data = heichole.read(tree)
    order = [(1, "Calot"), (1, "Dissection"), (1, None), (2, "Calot"), (2, "Dissection"), (2, None)]
    order += [(3, "Calot"), (3, "Dissection")]  # Hei-Chole4's phase ratings cannot be placed: no annotation
    assert data.rows == [expected_row(tree, number, phase) for number, phase in order]
    assert data.format == "heichole" and data.root == tree


def test_phase_ratings_cover_their_phase_from_the_phase_annotation(tree):
    rows = rows_by(heichole.read(tree))
    assert (rows["Hei-Chole1", "calot"]["segment_start"], rows["Hei-Chole1", "calot"]["segment_end"]) == (6, 12)
    assert (rows["Hei-Chole1", "dissection"]["segment_start"], rows["Hei-Chole1", "dissection"]["segment_end"]) == (
        18,
        24,
    )
    assert (rows["Hei-Chole2", "calot"]["segment_start"], rows["Hei-Chole2", "calot"]["segment_end"]) == (4, 12)
    assert (rows["Hei-Chole2", "dissection"]["segment_start"], rows["Hei-Chole2", "dissection"]["segment_end"]) == (
        17,
        24,
    )
    assert rows["Hei-Chole3", "calot"]["segment_start"] == 6  # read past the annotation's header line
    assert rows["Hei-Chole1", "full"]["segment_start"] is None  # the whole operation's rating: the whole video
    assert ("Hei-Chole4", "calot") not in rows  # no phase annotation: left out, not put on the whole video


def test_targets_and_subscores(tree):
    data = heichole.read(tree)
    assert data.default_target == "total" and data.subscores == ITEMS
    assert list(data.targets) == ["total", *ITEMS]
    total = data.target(None)
    assert (total.name, total.column, total.kind, total.score_range) == ("total", "total", "score", (5.0, 25.0))
    for name in ITEMS:
        assert (data.targets[name].column, data.targets[name].kind) == (name, "score")
        assert data.targets[name].score_range == (1.0, 5.0)
    assert data.protocols == {} and data.protocol_sources == {}
    with pytest.raises(UsageError, match="no target 'grs'; its targets are total, depth_perception"):
        data.target("grs")


def test_the_only_problem_is_the_operation_without_phase_annotation(tree):
    """Its phase ratings cannot be placed on their phases' frames: put on the whole video they would be two
    different scores of one input, so they are errors (rows left out) with what to do."""
    data = heichole.read(tree)
    problem = the_problem(data, "Videos/Full/Hei-Chole4.mp4")
    assert (problem.line, problem.severity) == (None, "error")
    assert (
        "no readable Hei-Chole4_Annotation_Phase.csv, so its phase ratings (calot, dissection) cannot be placed on their "
        "frames: left out (add the phase annotation, or read only the whole-operation ratings: phase='full')"
    ) in str(problem)
    assert data.problems == data.errors == [problem]


def test_notes_say_how_rows_are_grouped_and_that_the_fifth_item_is_uncertain(tree):
    notes = heichole.read(tree).notes
    assert any("no surgeon ids are distributed" in n and "both sides of a split" in n for n in notes)
    assert any("read as depth_perception, bimanual_dexterity" in n and "degree of difficulty" in n for n in notes)
    assert any("segment_start/segment_end" in n for n in notes)
    assert all("\n" not in note for note in notes)


def test_rows_make_a_dataset_whose_clips_lie_inside_each_phase(tree):
    rows = heichole.read(tree).rows
    data = Dataset.from_list([{**row, "labels": float(row["total"]), "video_id": i} for i, row in enumerate(rows)])
    assert data.features["segment_start"].dtype == "int64" and data.features["phase_id"].dtype == "int64"
    data = add_video_metadata(data)
    batch = expand_clips(data, 3).with_transform(ClipDecoder(ClipSampling(num_frames=4), None, training=True))[:]
    for video_id, clip in zip(batch["video_id"], batch["pixel_values"]):
        row = rows[video_id]
        start, end = row["segment_start"] or 0, row["segment_end"] or FRAMES
        indices = [read_frame_index(frame.permute(1, 2, 0).numpy()) for frame in clip]
        assert all(start <= i < end for i in indices), (row["trial"], row["phase"], indices)


# ------------------------------------------------------------------------------------------- options


def test_option_phase_keeps_one_phase(tree):
    assert [row["trial"] for row in heichole.read(tree, phase="calot").rows] == [f"Hei-Chole{n}" for n in (1, 2, 3)]
    assert {row["phase"] for row in heichole.read(tree, phase="Dissection").rows} == {"dissection"}
    full = heichole.read(tree, phase="full")  # Hei-Chole4's unplaceable phase ratings are not asked for: no error
    assert [row["trial"] for row in full.rows] == ["Hei-Chole1", "Hei-Chole2"] and full.errors == []
    with pytest.raises(UsageError, match="phase 'packaging' is not one of the rated phases calot, dissection, full"):
        heichole.read(tree, phase="packaging")


def test_option_subscore_names_names_the_items(tree):
    names = ["a", "b", "c", "d", "case_difficulty"]
    data = heichole.read(tree, subscore_names=names)
    assert data.subscores == tuple(names) and list(data.targets) == ["total", *names]
    assert {k: data.rows[0][k] for k in names} == dict(zip(names, SCORES[1, "Calot"]))
    assert any("read as a, b, c, d, case_difficulty (subscore_names)" in n for n in data.notes)
    assert heichole.read(tree, subscore_names="A, B ,c,d,e").subscores == ("a", "b", "c", "d", "e")


def test_fewer_subscore_names_than_items_is_an_error_in_every_file(tree):
    data = heichole.read(tree, subscore_names=["a", "b", "c", "d"])
    assert data.rows == [] and data.targets["total"].score_range == (4.0, 20.0)
    assert len(data.errors) == 10
    assert all("5 scores where 4 items (a, b, c, d) are expected" in p.message for p in data.errors)
    header_warning = the_problem(data, "Annotations/Skill/Hei-Chole2_Calot_Skill.csv", "warning")
    assert header_warning.severity == "warning" and "header names the items depth_perception" in header_warning.message


@pytest.mark.parametrize("names", [[], ["a", "a", "b", "c", "d"], ["a", "", "b", "c", "d"], 5])
def test_bad_subscore_names_are_refused(tree, names):
    with pytest.raises(UsageError, match="subscore_names must be distinct item names"):
        heichole.read(tree, subscore_names=names)


def test_subscore_names_may_not_take_a_row_column(tree):
    with pytest.raises(UsageError, match=r"may not use the row columns \['total'\]"):
        heichole.read(tree, subscore_names=["total", "b", "c", "d", "e"])


def test_unknown_options_are_refused(tree):
    with pytest.raises(UsageError, match="the heichole reader has no option 'view'; its options are phase, subscore"):
        heichole.read(tree, view="left")


@pytest.mark.parametrize(
    ("name", "phase"),
    [
        ("Calot", 1),
        ("calot_triangle_dissection", 1),
        ("Dissection", 3),
        ("GallbladderDissection", 3),
        ("gallbladder_dissection", 3),
        ("Preparation", 0),
        ("ClippingCutting", 2),
        ("Packaging", 4),
        ("CleaningCoagulation", 5),
        ("Retraction", 6),
        ("Phase2", 2),
        ("Suturing", None),
        ("Gallbladder", None),
    ],
)
def test_phase_names_map_to_phase_ids(name, phase):
    assert heichole.phase_id(name) == phase


# ------------------------------------------------------------------------------------------- problems


SKILL = "Annotations/Skill"


@pytest.mark.parametrize(
    ("lines", "line", "message"),
    [
        (["3,4,3,4,2", "4,4,4,4,4"], 2, "2 rows of scores where one is expected (lines 1, 2); keep one"),
        (["3,4,3.5,4,2"], 1, "efficiency '3.5' is not an integer"),
        (["3,4,x,4,2"], 1, "efficiency 'x' is not an integer"),
        (["3,4,3,6,2"], 1, "tissue_handling 6 is outside 1-5"),
        (["0,4,3,4,2"], 1, "depth_perception 0 is outside 1-5"),
        (["3,4,3,4"], 1, "4 scores where 5 items"),
        (["3,4,3,4,2,5"], 1, "6 scores where 5 items"),
        (
            ["Depth perception;Bimanual dexterity;Efficiency;Tissue handling;Difficulty"],
            None,
            "no scores; it should hold one row of 5 integers",
        ),
        (["Depth,Bimanual", "3,4,3,4,2", "3,3,3,3,3"], 3, "2 rows of scores"),
    ],
)
def test_a_bad_skill_file_is_an_error_at_its_line_and_its_row_is_left_out(copy, lines, line, message):
    write_skill_file(copy, 1, "Calot", lines)
    data = heichole.read(copy)
    problem = the_problem(data, f"{SKILL}/Hei-Chole1_Calot_Skill.csv", "error")
    assert (problem.line, problem.severity) == (line, "error") and message in problem.message
    assert ("Hei-Chole1", "calot") not in rows_by(data) and len(data.rows) == 7


def test_a_trailing_separator_and_semicolons_are_read(copy):
    write_skill_file(copy, 1, "Calot", ["1;2;3;4;5;"])
    row = rows_by(heichole.read(copy))["Hei-Chole1", "calot"]
    assert [row[name] for name in ITEMS] == [1, 2, 3, 4, 5] and row["total"] == 15


def test_a_rating_without_its_video_is_an_error(copy):
    write_skill_file(copy, 9, "Calot", ["3,3,3,3,3"])
    data = heichole.read(copy)
    problem = the_problem(data, f"{SKILL}/Hei-Chole9_Calot_Skill.csv")
    assert (problem.line, problem.severity) == (None, "error")
    assert "a rating of Hei-Chole9, whose video Hei-Chole9.mp4 is not under the root" in problem.message
    assert "Hei-Chole9" not in {row["trial"] for row in data.rows}


def test_a_video_without_a_rating_is_a_warning(copy):
    make_test_video(video_path(copy, 5), 12, height=24, width=32, fps=25, seed=5)
    data = heichole.read(copy)
    problem = the_problem(data, "Videos/Full/Hei-Chole5.mp4")
    assert (problem.line, problem.severity, problem.message) == (
        None,
        "warning",
        "a video with no skill file; it is left out",
    )
    assert len(data.rows) == 8


def test_one_rating_twice_is_an_error(copy):
    (copy / "More").mkdir()
    shutil.copy(skill_path(copy, 1, "Calot"), copy / "More" / "Hei-Chole1_calot_Skill.csv")
    data = heichole.read(copy)
    problem = the_problem(data, "More/Hei-Chole1_calot_Skill.csv")
    assert problem.severity == "error"
    assert f"Hei-Chole1's calot rating is in {SKILL}/Hei-Chole1_Calot_Skill.csv already" in problem.message
    assert len(data.rows) == 8


def test_one_phase_rated_under_two_names_is_an_error(copy):
    shutil.copy(skill_path(copy, 1, "Calot"), skill_path(copy, 1, "CalotTriangleDissection"))
    data = heichole.read(copy)
    problem = the_problem(data, f"{SKILL}/Hei-Chole1_Calot_Skill.csv")  # read second (file names in order)
    assert problem.severity == "error"
    assert f"calot rating is in {SKILL}/Hei-Chole1_CalotTriangleDissection_Skill.csv already" in problem.message
    phases = [r["phase"] for r in data.rows if r["trial"] == "Hei-Chole1"]
    assert phases == ["calottriangledissection", "dissection", "full"]


def test_two_videos_of_one_operation_are_an_error_for_its_ratings(copy):
    make_test_video(copy / "Hei-Chole1.avi", 12, height=24, width=32, fps=25, seed=1)
    data = heichole.read(copy)
    errors = [p for p in data.errors if "Hei-Chole1 has several videos" in p.message]
    assert len(errors) == 3 and "Hei-Chole1" not in {row["trial"] for row in data.rows}


def test_a_malformed_phase_line_is_a_warning_and_the_others_are_read(copy):
    lines = phase_lines(PHASE_LENGTHS[1])
    lines[7] = "7;one"  # line 8
    lines[20] = "20,9"  # line 21: no such phase
    write_phase_file(copy, 1, lines)
    data = heichole.read(copy)
    found = [p for p in data.problems if p.file == "Annotations/Phase/Hei-Chole1_Annotation_Phase.csv"]
    assert [(p.line, p.severity) for p in found] == [(8, "warning"), (21, "warning")]
    assert "not a 'frame,phase' line of two integers" in found[0].message
    assert "phase 9 is not a HeiChole phase (0-6); skipped" in found[1].message
    rows = rows_by(data)
    assert (rows["Hei-Chole1", "calot"]["segment_start"], rows["Hei-Chole1", "calot"]["segment_end"]) == (6, 12)
    assert (rows["Hei-Chole1", "dissection"]["segment_start"], rows["Hei-Chole1", "dissection"]["segment_end"]) == (
        18,
        24,
    )


def test_a_phase_absent_from_the_annotation_leaves_its_rating_out(copy):
    write_phase_file(copy, 1, phase_lines((10, 10, 10, 12), (0, 1, 2, 4)))  # no gallbladder dissection (3)
    data = heichole.read(copy)
    problem = the_problem(data, "Annotations/Phase/Hei-Chole1_Annotation_Phase.csv")
    assert (problem.line, problem.severity) == (None, "error")
    assert "phase 3 (gallbladder dissection) never occurs, so Hei-Chole1's dissection rating" in problem.message
    assert "cannot be placed on its frames: left out" in problem.message
    rows = rows_by(data)
    assert ("Hei-Chole1", "dissection") not in rows
    assert (rows["Hei-Chole1", "calot"]["segment_start"], rows["Hei-Chole1", "calot"]["segment_end"]) == (10, 20)


def test_a_phase_in_several_stretches_spans_from_its_first_to_its_last_frame(copy):
    write_phase_file(copy, 1, phase_lines((4, 6, 4, 5, 8, 15), (0, 1, 2, 1, 3, 4)))
    data = heichole.read(copy)
    problem = the_problem(data, "Annotations/Phase/Hei-Chole1_Annotation_Phase.csv")
    assert problem.severity == "warning"
    assert "phase 1 (calot triangle dissection) occurs in 2 stretches (frames 4-9, 14-18)" in problem.message
    assert "covers frames 4-18, from its first to its last frame" in problem.message
    row = rows_by(data)["Hei-Chole1", "calot"]
    assert (row["segment_start"], row["segment_end"]) == (4, 19)


def test_an_unknown_phase_name_is_an_error(copy):
    write_skill_file(copy, 1, "Suturing", ["2,2,2,2,2"])
    data = heichole.read(copy)
    problem = the_problem(data, f"{SKILL}/Hei-Chole1_Suturing_Skill.csv")
    assert (problem.line, problem.severity) == (None, "error")
    assert "phase 'suturing' is not a HeiChole phase" in problem.message and "left out" in problem.message
    assert [r["phase"] for r in data.rows if r["trial"] == "Hei-Chole1"] == ["calot", "dissection", "full"]


def test_other_phases_are_read_by_their_names(copy):
    write_skill_file(copy, 2, "GallbladderPackaging", ["4,4,4,4,4"])
    row = rows_by(heichole.read(copy))["Hei-Chole2", "gallbladderpackaging"]
    start = phase_starts(2)[4]
    assert (row["phase_id"], row["segment_start"], row["segment_end"]) == (4, start, start + PHASE_LENGTHS[2][4])


def test_a_header_naming_other_items_is_a_warning(copy):
    write_skill_file(copy, 1, "Calot", ["Item1,Item2,Item3,Item4,Item5", "3,4,3,4,2"])
    data = heichole.read(copy)
    problem = the_problem(data, f"{SKILL}/Hei-Chole1_Calot_Skill.csv")
    assert (problem.line, problem.severity) == (1, "warning")
    assert "the header names the items item1, item2, item3, item4, item5, read as depth_perception" in problem.message
    assert rows_by(data)["Hei-Chole1", "calot"]["total"] == 16


def test_a_tree_without_skill_files_is_refused(tmp_path):
    make_test_video(tmp_path / "Hei-Chole1.mp4", 12, height=24, width=32)
    with pytest.raises(SkillDatasetError, match=r"no Hei-Chole<N>_<Phase>_Skill\.csv files"):
        heichole.read(tmp_path)


# ------------------------------------------------------------------------------------------- detection


def test_detect(tree, tmp_path):
    assert heichole.detect(tree)
    assert heichole.detect(tree / "Annotations")  # the skill files a level or two below
    class_folder = tmp_path / "classes"
    for label in ("novice", "expert"):
        make_test_video(class_folder / label / "a.mp4", 4, height=24, width=32)
    assert not heichole.detect(class_folder)
    assert not heichole.detect(tmp_path / "missing")
    phases_only = tmp_path / "phases_only"  # HeiChole's phase-recognition release carries no skill files
    write_phase_file(phases_only, 1, phase_lines((3, 3)))
    assert phase_path(phases_only, 1).is_file() and not heichole.detect(phases_only)
    write_skill_file(tmp_path / "deep" / "a" / "b" / "c", 1, "Calot", ["3,3,3,3,3"])  # under c/Annotations/Skill/
    assert not heichole.detect(tmp_path / "deep")  # five levels down: too far to look for cheaply
    assert heichole.detect(tmp_path / "deep" / "a")  # four
