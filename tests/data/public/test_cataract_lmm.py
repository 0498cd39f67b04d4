"""The Cataract-LMM skill-subset reader, on miniature trees of both layouts."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from surgical_skill.data.public import cataract_lmm
from surgical_skill.data.splits import SkillDatasetError
from surgical_skill.errors import UsageError
from surgical_skill.testing_utils import make_test_video
from tests.data.public.trees_cataract_lmm import (
    CLIPS,
    CLUSTERS,
    HEADER,
    SCORES,
    video_stem,
    write_cataract_lmm_tree,
    write_scores_csv,
)

SUBSCORES = HEADER[1:]


@pytest.fixture(scope="module")
def scores_tree(tmp_path_factory) -> Path:
    return write_cataract_lmm_tree(tmp_path_factory.mktemp("cataract_scores"), "scores")


@pytest.fixture(scope="module")
def clusters_tree(tmp_path_factory) -> Path:
    return write_cataract_lmm_tree(tmp_path_factory.mktemp("cataract_clusters"), "clusters")


def with_lines(tree: Path, target: Path, lines) -> Path:
    """A copy of ``tree``'s videos with its CSV replaced by ``lines``."""
    shutil.copytree(tree / "videos", target / "videos")
    write_scores_csv(target, lines)
    return target


def by_trial(data) -> dict[str, dict]:
    return {row["trial"]: row for row in data.rows}


def test_scores_layout_rows(scores_tree):
    data = cataract_lmm.read(scores_tree)
    assert data.format == "cataract-lmm"
    stems = sorted(video_stem(clip_id, site) for clip_id, site, _ in CLIPS)
    assert [row["trial"] for row in data.rows] == stems
    for clip_id, site, _ in CLIPS:
        row = by_trial(data)[video_stem(clip_id, site)]
        scores = dict(zip(SUBSCORES, map(float, SCORES[clip_id])))
        assert row == {
            "video": str(scores_tree / "videos" / f"{video_stem(clip_id, site)}.mp4"),
            "subject": "",
            "trial": video_stem(clip_id, site),
            "clip_key": video_stem(clip_id, site),
            "clip_id": clip_id,
            "site": f"S{site}",
            **scores,
            "total": pytest.approx(sum(scores.values())),
        }
    assert by_trial(data)["SK_0003_S1_P03"]["total"] == 13.5
    assert {row["site"] for row in data.rows} == {"S1", "S2"}
    assert data.problems == []
    assert data.notes == [cataract_lmm.NO_SURGEON_NOTE]
    assert "no surgeon id" in data.notes[0] and "optimistic" in data.notes[0]


def test_scores_layout_targets(scores_tree):
    data = cataract_lmm.read(scores_tree)
    assert data.default_target == "total"
    assert list(data.targets) == ["total", *SUBSCORES]
    assert data.subscores == SUBSCORES
    for name, target in data.targets.items():
        assert (target.kind, target.column, target.score_range) == ("score", name, None)  # no documented range
    assert data.protocols == {}


def test_every_accepted_form_of_clip_key(scores_tree, tmp_path):
    keys = {
        "0002": "SK_0002_S1_P03",  # the file stem
        "0003": "TR_0003_S1_P03",  # the tracking stem of the same clip
        "0005": "5",  # the ClipID without zeros
        "0007": "SK_0007",  # with the prefix
        "0011": "SK_0011_S2",  # with prefix and site
    }
    lines = [HEADER, *([keys[c], *(f"{s:g}" for s in SCORES[c])] for c, _, _ in CLIPS)]
    data = cataract_lmm.read(with_lines(scores_tree, tmp_path, lines))
    assert data.problems == []
    assert [(row["clip_id"], row["clip_key"]) for row in data.rows] == sorted(keys.items())
    assert cataract_lmm.read(with_lines(scores_tree, tmp_path / "b", [HEADER, ["0011", *"123456"]])).rows[0][
        "trial"
    ] == ("SK_0011_S2_P03")


def test_a_surgeon_column_is_the_subject_and_extra_columns_are_kept(scores_tree, tmp_path):
    header = ["Clip Key", "Surgeon ID", "Instrument Handling", *SUBSCORES[1:], "Duration (s)", "Rater"]
    lines = [header]
    for i, (clip_id, site, _) in enumerate(CLIPS):
        lines.append([video_stem(clip_id, site), f"D{i % 2}", *(f"{s:g}" for s in SCORES[clip_id]), str(60 + i), "R1"])
    lines[-1][-2] = ""  # an empty number in an extra column is None
    data = cataract_lmm.read(with_lines(scores_tree, tmp_path, lines))
    rows = by_trial(data)
    assert [row["subject"] for row in data.rows] == ["D0", "D1", "D0", "D1", "D0"]
    assert rows["SK_0002_S1_P03"]["duration_s"] == 60.0 and rows["SK_0011_S2_P03"]["duration_s"] is None
    assert rows["SK_0002_S1_P03"]["rater"] == "R1"
    assert "surgeon_id" not in rows["SK_0002_S1_P03"]
    assert rows["SK_0002_S1_P03"]["instrument_handling"] == 4.0
    assert data.notes == []


def test_a_missing_indicator_column_is_a_warning_and_total_sums_the_others(scores_tree, tmp_path):
    lines = [[h for h in HEADER if h != "motion"], ["SK_0002_S1_P03", "4", "4", "5", "3", "4"]]
    data = cataract_lmm.read(with_lines(scores_tree, tmp_path, lines))
    assert data.subscores == tuple(h for h in SUBSCORES if h != "motion")
    assert data.rows[0]["total"] == 20.0
    problems = [(p.file, p.line, p.severity) for p in data.problems]
    assert problems[0] == ("annotations/skill_scores.csv", 1, "warning")
    assert "no column motion" in data.problems[0].message
    assert all(p.severity == "warning" and p.message.startswith("a video with no line") for p in data.problems[1:])


@pytest.fixture(scope="module")
def irregular(scores_tree, tmp_path_factory):
    root = tmp_path_factory.mktemp("cataract_irregular")
    shutil.copytree(scores_tree / "videos", root / "videos")
    make_test_video(root / "videos" / "SK_0002_S2_P03.mp4", 12, height=24, width=32, seed=7)
    make_test_video(root / "videos" / "clip_extra.mp4", 12, height=24, width=32, seed=8)
    make_test_video(root / "videos" / "SK_0013_S1_P03.mp4", 12, height=24, width=32, seed=9)
    write_scores_csv(
        root,
        [
            HEADER,  # 1
            "SK_0002_S1_P03,4,3,4,5,3,4",  # 2
            "SK_0003_S1_P03,2,2,3",  # 3: too few fields (error)
            "SK_0005_S2_P03,5,five,4,5,5,5",  # 4: not a number (error)
            "SK_0099_S1_P03,1,1,1,1,1,1",  # 5: no such video (error)
            "0002,1,1,1,1,1,1",  # 6: ClipID 0002 is a clip of both sites (error)
            "SK_0007_S1_P03,3,4,3,4,3,3",  # 7
            "7,3,4,3,4,3,3",  # 8: the same clip again (error)
            "SK_0011_S2_P03,1,2,2,3,1,",  # 9: an empty score (error)
            "clip_extra,3,3,3,3,3,3",  # 10: a file stem that is not SK_..., matched as is
            ",3,3,3,3,3,3",  # 11: no clip_key (error)
        ],
    )
    return cataract_lmm.read(root)


def test_every_problem_with_its_file_line_and_severity(irregular):
    found = [(p.file, p.line, p.severity) for p in irregular.problems]
    assert found == [
        ("videos/clip_extra.mp4", None, "warning"),  # the name does not follow the pattern
        ("annotations/skill_scores.csv", 3, "error"),
        ("annotations/skill_scores.csv", 4, "error"),
        ("annotations/skill_scores.csv", 5, "error"),
        ("annotations/skill_scores.csv", 6, "error"),
        ("annotations/skill_scores.csv", 8, "error"),
        ("annotations/skill_scores.csv", 9, "error"),
        ("annotations/skill_scores.csv", 11, "error"),
        ("videos/SK_0013_S1_P03.mp4", None, "warning"),  # no line names it
    ]
    messages = [p.message for p in irregular.problems]
    assert "does not follow SK_<ClipID>_S<Site>_P03" in messages[0]
    assert messages[1] == "4 fields where the header has 7; fix the line"
    assert messages[2] == "clip SK_0005_S2_P03: motion 'five' is not a number"
    assert messages[3] == "clip SK_0099_S1_P03 has no video under the root; add it or delete the line"
    assert "clip 0002 matches several videos (videos/SK_0002_S1_P03.mp4, videos/SK_0002_S2_P03.mp4)" in messages[4]
    assert messages[5] == "clip 7: SK_0007_S1_P03 is scored already on line 7; delete one"
    assert messages[6] == "clip SK_0011_S2_P03: circular_completion '' is not a number"
    assert messages[7] == "no clip_key; fill it in or delete the line"
    assert messages[8] == "a video with no line in annotations/skill_scores.csv; it is left out"
    assert all(p.unit == "line" for p in irregular.problems)


def test_rows_with_errors_are_left_out(irregular):
    rows = by_trial(irregular)
    assert sorted(rows) == ["SK_0002_S1_P03", "SK_0007_S1_P03", "clip_extra"]
    assert rows["SK_0007_S1_P03"]["clip_key"] == "SK_0007_S1_P03"  # the first line, not the repeat
    assert (rows["clip_extra"]["clip_id"], rows["clip_extra"]["site"], rows["clip_extra"]["total"]) == ("", "", 18.0)


def test_the_datasets_top_folder_is_read_through_its_skill_subset(scores_tree, tmp_path):
    shutil.copytree(scores_tree, tmp_path / "5_Skill_Assessment")
    (tmp_path / "4_Instrument_Tracking" / "videos").mkdir(parents=True)
    shutil.copy(
        scores_tree / "videos" / "SK_0002_S1_P03.mp4", tmp_path / "4_Instrument_Tracking/videos/TR_0002_S1_P03.mp4"
    )
    assert cataract_lmm.detect(tmp_path)
    data = cataract_lmm.read(tmp_path)
    assert [row["trial"] for row in data.rows] == [row["trial"] for row in cataract_lmm.read(scores_tree).rows]
    assert data.rows[0]["video"] == str(tmp_path / "5_Skill_Assessment/videos/SK_0002_S1_P03.mp4")
    assert data.problems == []
    write_scores_csv(tmp_path / "5_Skill_Assessment", [HEADER, "SK_0099_S1_P03,1,1,1,1,1,1"])
    assert "has no video under 5_Skill_Assessment" in cataract_lmm.read(tmp_path).problems[0].message
    assert cataract_lmm.read(tmp_path).problems[0].file == "5_Skill_Assessment/annotations/skill_scores.csv"


def test_a_tree_without_the_header_it_needs_is_refused(scores_tree, tmp_path):
    with pytest.raises(SkillDatasetError, match="no clip_key column"):
        cataract_lmm.read(with_lines(scores_tree, tmp_path / "a", [["clip", *SUBSCORES]]))
    with pytest.raises(SkillDatasetError, match="none of the six skill indicators"):
        cataract_lmm.read(with_lines(scores_tree, tmp_path / "b", [["clip_key", "a", "b"]]))
    with pytest.raises(SkillDatasetError, match="is empty"):
        cataract_lmm.read(with_lines(scores_tree, tmp_path / "c", []))
    with pytest.raises(
        SkillDatasetError, match=re.escape("no annotations/skill_scores.csv and no cluster_<k>/ folders")
    ):
        cataract_lmm.read(tmp_path / "a" / "videos")


def test_clusters_layout_rows_and_target(clusters_tree):
    data = cataract_lmm.read(clusters_tree)
    cluster_of = {clip_id: folder for folder, clip_ids in CLUSTERS.items() for clip_id in clip_ids}
    expected = sorted(
        (f"SK_{clip_id}_S{site}_{raw}_Capsulorhexis", clip_id, f"S{site}", cluster_of[clip_id])
        for clip_id, site, raw in CLIPS
    )
    assert [(r["trial"], r["clip_id"], r["site"], r["cluster"]) for r in data.rows] == expected
    for row in data.rows:
        assert row["video"] == str(clusters_tree / row["cluster"] / f"{row['trial']}.avi")
        assert row["subject"] == ""
        assert set(row) == {"video", "subject", "trial", "clip_id", "site", "cluster"}
    assert data.default_target == "cluster" and list(data.targets) == ["cluster"]
    target = data.targets["cluster"]
    assert (target.kind, target.column, target.label_names) == (
        "label",
        "cluster",
        ("cluster_0", "cluster_1", "cluster_2"),
    )
    assert data.subscores == () and data.problems == []
    assert data.notes[0] == cataract_lmm.NO_SURGEON_NOTE and "not an order of skill" in data.notes[1]


def test_clusters_in_numeric_order_and_their_problems(tmp_path):
    root = write_cataract_lmm_tree(
        tmp_path,
        "clusters",
        clusters={"cluster_10": ("0002",), "cluster_2": ("0003", "0005"), "cluster_1": ("0007", "0002")},
    )
    (root / "cluster_3").mkdir()
    make_test_video(root / "cluster_2" / "odd_name.avi", 12, height=24, width=32)
    (root / "cluster_2" / "notes.txt").write_text("not a video")
    data = cataract_lmm.read(root)
    assert data.targets["cluster"].label_names == ("cluster_1", "cluster_2", "cluster_3", "cluster_10")
    assert [(p.file, p.line, p.severity) for p in data.problems] == [
        ("cluster_2/odd_name.avi", None, "warning"),
        ("cluster_3", None, "warning"),
        ("cluster_10/SK_0002_S1_1006_Capsulorhexis.avi", None, "error"),
    ]
    assert "the same clip is in cluster_1/SK_0002_S1_1006_Capsulorhexis.avi already" in data.problems[2].message
    assert [(r["trial"], r["cluster"]) for r in data.rows] == [
        ("SK_0002_S1_1006_Capsulorhexis", "cluster_1"),
        ("SK_0003_S1_0412_Capsulorhexis", "cluster_2"),
        ("SK_0005_S2_2931_Capsulorhexis", "cluster_2"),
        ("SK_0007_S1_0077_Capsulorhexis", "cluster_1"),
        ("odd_name", "cluster_2"),
    ]
    assert by_trial(data)["odd_name"]["clip_id"] == ""


def test_the_layout_option(scores_tree, clusters_tree, tmp_path):
    both = tmp_path / "both"
    shutil.copytree(scores_tree, both)
    shutil.copytree(clusters_tree / "cluster_0", both / "cluster_0")
    assert "total" in cataract_lmm.read(both).targets  # the distributed layout first
    assert list(cataract_lmm.read(both, layout="clusters").targets) == ["cluster"]
    with pytest.raises(SkillDatasetError, match=re.escape("no annotations/skill_scores.csv")):
        cataract_lmm.read(clusters_tree, layout="scores")
    with pytest.raises(SkillDatasetError, match="no cluster_<k>/ folders"):
        cataract_lmm.read(scores_tree, layout="clusters")
    with pytest.raises(UsageError, match="layout 'phases' is not one of scores, clusters"):
        cataract_lmm.read(scores_tree, layout="phases")
    with pytest.raises(UsageError, match="no option 'score_bins'; its options are layout"):
        cataract_lmm.read(scores_tree, score_bins=[1, 2])


def test_detect(scores_tree, clusters_tree, tmp_path):
    assert cataract_lmm.detect(scores_tree) and cataract_lmm.detect(clusters_tree)
    # a class folder tree, and cluster folders without SK_ clips
    classes = tmp_path / "classes"
    shutil.copytree(scores_tree / "videos", classes / "novice")
    shutil.copytree(scores_tree / "videos", classes / "expert")
    assert not cataract_lmm.detect(classes)
    other = tmp_path / "other"
    (other / "cluster_0").mkdir(parents=True)
    make_test_video(other / "cluster_0" / "trial_01.mp4", 12, height=24, width=32)
    assert not cataract_lmm.detect(other)
    # the other formats' signatures
    aixsuture = tmp_path / "aixsuture"
    (aixsuture / "videos").mkdir(parents=True)
    (aixsuture / "OSATS.csv").write_text("STUDENT,INVESTIGATOR,VIDEO,GLOBARATINGSCORE\n1,A,A31H,12\n")
    jigsaws = tmp_path / "jigsaws" / "Suturing"
    (jigsaws / "video").mkdir(parents=True)
    (jigsaws / "meta_file_Suturing.txt").write_text("Suturing_B001\tN\t13\t2\t2\t2\t2\t3\t2\n")
    heichole = tmp_path / "heichole"
    heichole.mkdir()
    (heichole / "Hei-Chole1_Calot_Skill.csv").write_text("3,4,3,4,2\n")
    for root in (aixsuture, tmp_path / "jigsaws", jigsaws, heichole, tmp_path / "missing"):
        assert not cataract_lmm.detect(root), root
