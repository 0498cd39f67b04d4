"""The JIGSAWS reader on a miniature tree laid out as distributed (tests/data/public/trees_jigsaws.py)."""

from __future__ import annotations

import shutil
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from surgical_skill.data.public import jigsaws
from surgical_skill.data.public.common import score_bin_names
from surgical_skill.data.splits import SkillDatasetError
from surgical_skill.errors import UsageError
from surgical_skill.testing_utils import make_test_video
from tests.data.public.trees_jigsaws import jigsaws_meta, jigsaws_trials, meta_line, write_jigsaws_tree

SUBSCORES = (
    "respect_for_tissue",
    "suture_needle_handling",
    "time_and_motion",
    "flow_of_operation",
    "overall_performance",
    "quality_of_final_product",
)
LEVELS = {"N": "novice", "I": "intermediate", "E": "expert"}
USER_OUT = "Experimental_setup/Suturing/unBalanced/GestureClassification/UserOut"
SUPERTRIAL_OUT = "Experimental_setup/Suturing/unBalanced/GestureClassification/SuperTrialOut"
FOLD_COLUMNS = ("fold_louo", "fold_loso")


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """Suturing (39 trials) and Needle_Passing (28), both views, official split files."""
    return write_jigsaws_tree(tmp_path_factory.mktemp("jigsaws") / "JIGSAWS")


@pytest.fixture(scope="module")
def data(tree):
    return jigsaws.read(tree)


def suturing_copy(tree: Path, tmp_path: Path, *, splits: bool = True) -> Path:
    """A copy of the tree's Suturing folder (and its split files) to break."""
    root = tmp_path / "JIGSAWS"
    shutil.copytree(tree / "Suturing", root / "Suturing")
    if splits:
        shutil.copytree(tree / "Experimental_setup" / "Suturing", root / "Experimental_setup" / "Suturing")
    return root


def meta_lines(root: Path) -> dict[str, int]:
    """trial -> its line number in the Suturing meta file."""
    text = (root / "Suturing" / "meta_file_Suturing.txt").read_text()
    return {line.split()[0]: n for n, line in enumerate(text.splitlines(), 1) if line.strip()}


def replace_meta_line(root: Path, trial: str, new: str | None) -> int:
    """Replace (or with None, delete) ``trial``'s meta line; its line number."""
    path = root / "Suturing" / "meta_file_Suturing.txt"
    lines = path.read_text().splitlines()
    number = meta_lines(root)[trial]
    if new is None:
        del lines[number - 1]
    else:
        lines[number - 1] = new
    path.write_text("\n".join(lines) + "\n")
    return number


def problem(data, file: str, line: int | None, severity: str, *words: str):
    """The one problem at ``file``/``line`` of ``severity`` whose message has every word."""
    found = [
        p
        for p in data.problems
        if p.file == file and p.line == line and p.severity == severity and all(w in p.message for w in words)
    ]
    assert len(found) == 1, f"no single {severity} at {file}:{line} with {words}; problems:\n" + "\n".join(
        f"{p.severity} {p}" for p in data.problems
    )
    return found[0]


def by_trial(rows) -> dict[str, dict]:
    return {row["trial"]: row for row in rows}


# the tree and its rows


def test_the_miniature_tree_is_laid_out_and_formatted_as_distributed(tree):
    meta = (tree / "Suturing" / "meta_file_Suturing.txt").read_text()
    first = meta.splitlines()[0]
    _, grs, items = jigsaws_meta("Suturing")["Suturing_B001"]
    assert first == f"Suturing_B001\t\tN\t{grs}\t\t" + "\t".join(map(str, items))
    assert meta.endswith("\n\n") and any(line.endswith(" ") for line in meta.splitlines())
    assert (tree / "Suturing" / "video" / "Suturing_B001_capture2.avi").is_file()
    assert not (tree / "Suturing" / "video" / "Suturing_H002_capture1.avi").exists()
    assert not list((tree / "Needle_Passing" / "video").glob("Needle_Passing_G*"))
    segments = (tree / USER_OUT / "1_Out" / "itr_1" / "Test.txt").read_text().splitlines()
    assert segments[0].split() == ["Suturing_B001_000001_000004.txt", "G1"]
    assert sorted(
        p.name
        for p in (tree / "Experimental_setup/Needle_Passing/unBalanced/GestureClassification" / "UserOut").iterdir()
    ) == ["1_Out", "2_Out", "3_Out", "4_Out", "5_Out", "7_Out", "8_Out"]  # no 6_Out: Needle_Passing has no user G
    kinematics = (tree / "Suturing" / "kinematics" / "AllGestures" / "Suturing_B001.txt").read_text().splitlines()
    assert [len(line.split()) for line in kinematics] == [76, 76, 76]


def test_every_row_of_the_tree(data, tree):
    expected = {**jigsaws_meta("Suturing"), **jigsaws_meta("Needle_Passing")}
    assert len(expected) == 39 + 28
    assert [row["trial"] for row in data.rows] == sorted(expected)
    assert data.problems == []
    for row in data.rows:
        trial = row["trial"]
        task, user, number = trial[:-5], trial[-4], int(trial[-3:])
        level, grs, items = expected[trial]
        assert row["video"] == str(tree.resolve() / task / "video" / f"{trial}_capture1.avi")
        assert Path(row["video"]).is_file()
        assert (row["subject"], row["task"], row["supertrial"], row["view"]) == (user, task, number, "capture1")
        assert (row["skill_level_code"], row["skill_level"]) == (level, LEVELS[level])
        assert row["grs"] == grs == sum(items)
        assert tuple(row[name] for name in SUBSCORES) == items
        assert row["transcription"] == str(tree.resolve() / task / "transcriptions" / f"{trial}.txt")
        assert row["kinematics"] == str(tree.resolve() / task / "kinematics" / "AllGestures" / f"{trial}.txt")
        assert (row["fold_louo"], row["fold_loso"]) == (f"user-{user}", f"supertrial-{number}")
        assert "fold_4fold" not in row
    # one type per column, Arrow-friendly
    for column in data.rows[0]:
        assert len({type(row[column]) for row in data.rows}) == 1, column


def test_the_real_irregularities_come_through(data):
    rows = by_trial(data.rows)
    assert "Suturing_H002" not in rows
    assert sum(row["task"] == "Suturing" for row in data.rows) == 39
    assert {row["subject"] for row in data.rows if row["task"] == "Needle_Passing"} == set("BCDEFHI")
    levels = {row["subject"]: row["skill_level"] for row in data.rows}
    assert levels == {
        "B": "novice",
        "C": "intermediate",
        "D": "expert",
        "E": "expert",
        "F": "novice",
        "G": "novice",
        "H": "novice",
        "I": "novice",
    }
    # self-proclaimed level and GRS disagree; both are kept as they are
    assert (rows["Suturing_E003"]["skill_level"], rows["Suturing_E003"]["grs"]) == ("expert", 8)
    assert (rows["Suturing_B005"]["skill_level"], rows["Suturing_B005"]["grs"]) == ("novice", 27)
    assert any("self-proclaimed" in note for note in data.notes)


def test_transcriptions_and_kinematics_are_empty_strings_when_absent(tree, tmp_path):
    root = suturing_copy(tree, tmp_path)
    (root / "Suturing" / "transcriptions" / "Suturing_C003.txt").unlink()
    shutil.rmtree(root / "Suturing" / "kinematics")
    rows = by_trial(jigsaws.read(root).rows)
    assert rows["Suturing_C003"]["transcription"] == ""
    assert rows["Suturing_C004"]["transcription"].endswith("Suturing_C004.txt")
    assert {row["kinematics"] for row in rows.values()} == {""}


# targets


def test_targets(data):
    assert data.format == "jigsaws"
    assert data.default_target == "skill_level"
    assert data.target(None).name == "skill_level"
    level = data.targets["skill_level"]
    assert (level.kind, level.column, level.label_names) == (
        "label",
        "skill_level",
        ("novice", "intermediate", "expert"),
    )
    grs = data.targets["grs"]
    assert (grs.kind, grs.column, grs.score_range) == ("score", "grs", (6.0, 30.0))
    assert data.subscores == SUBSCORES
    for name in SUBSCORES:
        assert (data.targets[name].kind, data.targets[name].column, data.targets[name].score_range) == (
            "score",
            name,
            (1.0, 5.0),
        )
    assert set(data.targets) == {"skill_level", "grs", *SUBSCORES}
    with pytest.raises(UsageError, match="no target 'grs_bins'"):
        data.target("grs_bins")


def test_grs_bins(tree):
    data = jigsaws.read(tree, score_bins=[6, 14, 22])
    names = score_bin_names([6, 14, 22], 30)
    assert names == ("6-13", "14-21", "22-30")
    target = data.target("grs_bins")
    assert (target.kind, target.column, target.label_names) == ("label", "grs_bins", names)
    assert len(data.rows) == 67 and data.problems == []
    for row in data.rows:
        expected = "6-13" if row["grs"] < 14 else "14-21" if row["grs"] < 22 else "22-30"
        assert row["grs_bins"] == expected
    assert {row["grs_bins"] for row in data.rows} == set(names)


def test_a_grs_below_the_first_bin_is_an_error_for_its_row(tree):
    data = jigsaws.read(tree, task="Suturing", score_bins=[10, 20])
    low = sorted(t for t, (_, grs, _) in jigsaws_meta("Suturing").items() if grs < 10)
    assert "Suturing_E003" in low
    assert sorted(p.message.split(":")[0] for p in data.errors) == low
    problem(
        data,
        "Suturing/meta_file_Suturing.txt",
        meta_lines(tree)["Suturing_E003"],
        "error",
        "GRS 8",
        "below the first score bin",
    )
    assert {row["trial"] for row in data.rows} == set(jigsaws_trials("Suturing")) - set(low)
    both = jigsaws.read(tree, task="Suturing", score_bins=[10, 20], view="both")
    assert both.problems == data.problems  # one per trial, not per view
    assert len(both.rows) == 2 * len(data.rows)


@pytest.mark.parametrize("bins", [[14, 6], [6], [6, 20, 31]])
def test_score_bins_that_cannot_be_used_are_refused(tree, bins):
    with pytest.raises(UsageError, match="score_bins"):
        jigsaws.read(tree, score_bins=bins)


# views


def test_capture2(tree, data):
    second = jigsaws.read(tree, view="capture2")
    assert [row["trial"] for row in second.rows] == [row["trial"] for row in data.rows]
    for row in second.rows:
        assert row["view"] == "capture2"
        assert row["video"].endswith(f"/video/{row['trial']}_capture2.avi")


def test_both_views_give_two_rows_per_trial_in_the_same_folds(tree, data):
    both = jigsaws.read(tree, view="both")
    assert len(both.rows) == 2 * len(data.rows)
    per_trial = defaultdict(list)
    for row in both.rows:
        per_trial[row["trial"]].append(row)
    assert list(per_trial) == [row["trial"] for row in data.rows]
    for trial, (first, second) in per_trial.items():
        assert (first["view"], second["view"]) == ("capture1", "capture2")
        assert first["video"] != second["video"]
        strip = lambda row: {k: v for k, v in row.items() if k not in ("video", "view")}  # noqa: E731
        assert strip(first) == strip(second) == strip(by_trial(data.rows)[trial])
    assert any("two rows per trial" in note for note in both.notes)


def test_an_unknown_view_is_refused(tree):
    with pytest.raises(UsageError, match="capture1, capture2, both"):
        jigsaws.read(tree, view="capture3")


# tasks


def test_task_selection_from_the_folder_of_tasks(tree):
    suturing = jigsaws.read(tree, task="Suturing")
    assert len(suturing.rows) == 39 and {row["task"] for row in suturing.rows} == {"Suturing"}
    with pytest.raises(UsageError, match=r"no JIGSAWS task folder 'Knot_Tying'.*Suturing, Needle_Passing"):
        jigsaws.read(tree, task="Knot_Tying")
    with pytest.raises(UsageError, match="Suturing, Knot_Tying, Needle_Passing"):
        jigsaws.read(tree, task="Cutting")


def test_reading_one_task_folder(tree, data):
    folder = jigsaws.read(tree / "Needle_Passing")
    assert len(folder.rows) == 28 and {row["task"] for row in folder.rows} == {"Needle_Passing"}
    assert folder.problems == []
    assert jigsaws.read(tree / "Needle_Passing", task="Needle_Passing").rows == folder.rows
    expected = [row for row in data.rows if row["task"] == "Needle_Passing"]
    assert folder.rows == expected
    # the official split files beside the task folder are found
    assert (
        "Experimental_setup/Needle_Passing/unBalanced/GestureClassification/UserOut"
        in folder.protocol_sources["jigsaws-louo"]
    )
    with pytest.raises(UsageError, match=r"task folder Needle_Passing.*task='Suturing' cannot"):
        jigsaws.read(tree / "Needle_Passing", task="Suturing")


def test_a_nested_unzip_is_read(tmp_path):
    root = write_jigsaws_tree(tmp_path / "JIGSAWS", tasks=("Needle_Passing",), supertrials=(1, 2), nested=True)
    assert (root / "Needle_Passing" / "Needle_Passing" / "meta_file_Needle_Passing.txt").is_file()
    for where in (root, root / "Needle_Passing", root / "Needle_Passing" / "Needle_Passing"):
        assert jigsaws.detect(where)
        data = jigsaws.read(where)
        assert [row["trial"] for row in data.rows] == jigsaws_trials("Needle_Passing", (1, 2)), where
        assert data.problems == []
        assert data.protocol_sources["jigsaws-loso"].endswith(
            "Experimental_setup/Needle_Passing/unBalanced/GestureClassification/SuperTrialOut"
        )


def test_every_task_present_with_knot_tying(tmp_path):
    root = write_jigsaws_tree(
        tmp_path / "J",
        tasks=("Suturing", "Knot_Tying", "Needle_Passing"),
        supertrials=(1,),
        views=("capture1",),
        official_splits=False,
    )
    data = jigsaws.read(root)
    assert Counter(row["task"] for row in data.rows) == {"Suturing": 8, "Knot_Tying": 7, "Needle_Passing": 5}
    assert data.protocol_sources["jigsaws-louo"].startswith("Suturing: derived from the trial names")
    assert "Knot_Tying: derived" in data.protocol_sources["jigsaws-louo"]
    assert any("same surgeon in every task" in note for note in data.notes)


# folds


def test_louo_and_loso_folds(data):
    assert data.protocols == {"jigsaws-louo": "fold_louo", "jigsaws-loso": "fold_loso"}
    for task, users in (("Suturing", "BCDEFGHI"), ("Needle_Passing", "BCDEFHI")):
        rows = [row for row in data.rows if row["task"] == task]
        louo = defaultdict(set)
        for row in rows:
            louo[row["fold_louo"]].add(row["subject"])
        assert sorted(louo) == [f"user-{u}" for u in users]  # 8 folds for Suturing, 7 for Needle_Passing
        assert all(len(held) == 1 for held in louo.values())
        assert sum(len(held) for held in louo.values()) == len(users)  # no user in two folds
        loso = defaultdict(set)
        for row in rows:
            loso[row["fold_loso"]].add(row["supertrial"])
        assert loso == {f"supertrial-{k}": {k} for k in range(1, 6)}
    # leave one supertrial out keeps every surgeon in training: the note says so
    assert {row["subject"] for row in data.rows if row["fold_loso"] == "supertrial-3"} == set("BCDEFGHI")
    note = next(note for note in data.notes if "jigsaws-loso" in note)
    assert "not new surgeons" in note and "jigsaws-louo" in note


def test_protocols_constant_lists_the_4fold_scheme_too():
    assert jigsaws.PROTOCOLS == {
        "jigsaws-louo": "fold_louo",
        "jigsaws-loso": "fold_loso",
        "jigsaws-4fold": "fold_4fold",
    }
    assert jigsaws.OPTIONS == ("task", "view", "fold_file", "score_bins")


def test_official_split_files_and_derived_folds_agree(tree, data, tmp_path):
    needle = {folder: folder.replace("Suturing", "Needle_Passing") for folder in (USER_OUT, SUPERTRIAL_OUT)}
    assert data.protocol_sources == {
        "jigsaws-louo": f"Suturing: the official split files in {USER_OUT}; Needle_Passing: the official split "
        f"files in {needle[USER_OUT]}",
        "jigsaws-loso": f"Suturing: the official split files in {SUPERTRIAL_OUT}; Needle_Passing: the official "
        f"split files in {needle[SUPERTRIAL_OUT]}",
    }
    root = tmp_path / "without"
    for task in ("Suturing", "Needle_Passing"):
        shutil.copytree(tree / task, root / task)
    derived = jigsaws.read(root)
    assert derived.protocol_sources["jigsaws-louo"].startswith("Suturing: derived from the trial names (user letter")
    assert "supertrial number" in derived.protocol_sources["jigsaws-loso"]
    assert derived.problems == []
    assert [(r["trial"], r["fold_louo"], r["fold_loso"]) for r in derived.rows] == [
        (r["trial"], r["fold_louo"], r["fold_loso"]) for r in data.rows
    ]


def test_a_tampered_official_split_file_is_used_and_warned_about(tree, tmp_path):
    root = suturing_copy(tree, tmp_path)
    second = root / USER_OUT / "2_Out" / "itr_1" / "Test.txt"
    first = root / USER_OUT / "1_Out" / "itr_1" / "Test.txt"
    lines = second.read_text().splitlines(keepends=True)
    moved = [line for line in lines if line.startswith("Suturing_C001_")]
    second.write_text("".join(line for line in lines if line not in moved))
    first_lines = first.read_text().splitlines(keepends=True)
    first.write_text("".join(first_lines) + "".join(moved))
    data = jigsaws.read(root)
    assert data.errors == []
    # the published split is what is used
    assert by_trial(data.rows)["Suturing_C001"]["fold_louo"] == "user-B"
    assert by_trial(data.rows)["Suturing_C002"]["fold_louo"] == "user-C"
    problem(
        data, USER_OUT, None, "warning", "Suturing_C001 (official user-B, by name user-C)", "official folds are used"
    )
    line = len(first_lines) + 1
    test_file = f"{USER_OUT}/1_Out/itr_1/Test.txt"
    problem(data, test_file, line, "warning", "does not hold out exactly one user", "Suturing_C001")
    problem(data, test_file, line, "warning", "Suturing_C001 is in both this Test.txt and the fold's Train.txt")
    assert len(data.warnings) == 3
    assert data.protocol_sources["jigsaws-louo"] == f"the official split files in {USER_OUT}"


def test_split_file_problems(tree, tmp_path):
    root = suturing_copy(tree, tmp_path)
    fold3 = root / USER_OUT / "3_Out" / "itr_1" / "Test.txt"
    fold3.write_text(
        "".join(line for line in fold3.read_text().splitlines(keepends=True) if not line.startswith("Suturing_D003_"))
    )
    train = root / SUPERTRIAL_OUT / "2_Out" / "itr_1" / "Train.txt"
    count = len(train.read_text().splitlines())
    with train.open("a") as handle:
        handle.write("Suturing_H002_000001_000004.txt           G1\n")
        handle.write("Suturing_H002_000005_000008.txt           G5\n")
        handle.write("notes about this split\n")
    data = jigsaws.read(root)
    assert data.errors == []
    problem(data, USER_OUT, None, "warning", "Suturing_D003 is in no fold's Test.txt")
    assert by_trial(data.rows)["Suturing_D003"]["fold_louo"] == "user-D"  # derived from its name
    train_file = f"{SUPERTRIAL_OUT}/2_Out/itr_1/Train.txt"
    problem(
        data, train_file, count + 1, "warning", "Suturing_H002", "neither a line in meta_file_Suturing.txt nor a video"
    )
    problem(data, train_file, count + 3, "warning", "does not name a JIGSAWS trial")
    assert len(data.warnings) == 3  # one warning per unknown trial and file, not per line


def test_split_folders_preferred_and_found_in_any_case(tree, tmp_path):
    root = suturing_copy(tree, tmp_path)
    setups = root / "Experimental_setup" / "Suturing"
    # a Balanced copy holding other folds is not used while unBalanced is there
    shutil.copytree(setups / "unBalanced", setups / "Balanced")
    shutil.rmtree(setups / "Balanced" / "GestureClassification" / "UserOut" / "1_Out")
    assert jigsaws.read(root).protocol_sources["jigsaws-louo"] == f"the official split files in {USER_OUT}"
    # SkillDetection is preferred over GestureClassification; its files may list whole trials with a level
    trials = jigsaws_trials("Suturing")
    levels = {trial: level for trial, (level, _, _) in jigsaws_meta("Suturing").items()}
    for k, user in enumerate("BCDEFGHI", start=1):
        fold = setups / "unBalanced" / "SkillDetection" / "UserOut" / f"{k}_Out" / "itr_1"
        fold.mkdir(parents=True)
        for name, listed in (
            ("Test", [t for t in trials if t[-4] == user]),
            ("Train", [t for t in trials if t[-4] != user]),
        ):
            (fold / f"{name}.txt").write_text("".join(f"{t}.txt    {levels[t]}\n" for t in listed))
    data = jigsaws.read(root)
    official = "the official split files in "
    assert data.protocol_sources["jigsaws-louo"] == official + USER_OUT.replace(
        "GestureClassification", "SkillDetection"
    )
    assert data.protocol_sources["jigsaws-loso"] == official + SUPERTRIAL_OUT  # SkillDetection has no SuperTrialOut
    assert data.problems == []
    assert [row["fold_louo"] for row in data.rows] == [f"user-{t[-4]}" for t in trials]
    # only Balanced, under a differently cased Experimental_setup
    shutil.rmtree(setups / "unBalanced")
    shutil.rmtree(setups / "Balanced" / "GestureClassification" / "UserOut")
    (root / "Experimental_setup").rename(root / "Experimental_Setup")
    data = jigsaws.read(root)
    assert data.protocol_sources["jigsaws-loso"] == (
        "the official split files in Experimental_Setup/Suturing/Balanced/GestureClassification/SuperTrialOut"
    )
    assert data.protocol_sources["jigsaws-louo"].startswith("derived from the trial names")
    assert data.problems == []


# the 4-fold scheme


def test_the_4fold_file(tree, tmp_path):
    trials = jigsaws_trials("Suturing")
    lines = ["# folds of the action-quality literature", "trial,fold"]
    lines += [f"{trial},{i % 4 + 1}" for i, trial in enumerate(trials)]
    lines += ["Needle_Passing_B001,2"]  # a trial of a task not read
    fold_file = tmp_path / "folds.csv"
    fold_file.write_text("\n".join(lines) + "\n")
    data = jigsaws.read(tree, task="Suturing", fold_file=fold_file)
    assert data.problems == []
    assert data.protocols["jigsaws-4fold"] == "fold_4fold"
    assert data.protocol_sources["jigsaws-4fold"] == f"fold file {fold_file.resolve()}"
    assert [row["fold_4fold"] for row in data.rows] == [f"fold-{i % 4 + 1}" for i in range(len(trials))]
    # the other protocols are unchanged
    assert [row["fold_louo"] for row in data.rows] == [f"user-{t[-4]}" for t in trials]
    # without a fold file there is no such column or protocol, though the format offers it
    plain = jigsaws.read(tree, task="Suturing")
    assert "jigsaws-4fold" not in plain.protocols and "jigsaws-4fold" in jigsaws.PROTOCOLS
    assert all("fold_4fold" not in row for row in plain.rows)


def test_4fold_file_problems(tree, tmp_path):
    trials = jigsaws_trials("Suturing")
    lines = [f"{trial},{i % 4}" for i, trial in enumerate(trials) if trial not in ("Suturing_B002", "Suturing_C003")]
    lines += [
        "Suturing_H002,1",  # not in the data
        "Suturing_B001",  # no fold
        "Suturing_B003,1,2",  # three fields
        "Suturing_B004,1",  # again, with another fold (B004 is fold 3 above)
        "Suturing_B005,0",  # again, the same fold: fine
    ]
    fold_file = tmp_path / "folds.csv"
    fold_file.write_text("\n".join(lines) + "\n")
    data = jigsaws.read(tree, task="Suturing", fold_file=fold_file)
    n = len(trials) - 2
    where = str(fold_file.resolve())  # outside the root: named in full
    problem(data, where, n + 1, "error", "Suturing_H002", "no meta file lists")
    problem(data, where, n + 2, "error", "expected 'trial,fold'")
    problem(data, where, n + 3, "error", "expected 'trial,fold'")
    problem(data, where, n + 4, "error", "Suturing_B004 is given fold '1' here and '3' on line 3")
    problem(data, where, None, "error", "Suturing_B002 is not in the fold file")
    problem(data, where, None, "error", "Suturing_C003 is not in the fold file")
    assert len(data.errors) == 6 and data.warnings == []
    assert {row["trial"] for row in data.rows} == set(trials) - {"Suturing_B002", "Suturing_C003", "Suturing_B004"}


def test_a_fold_file_that_does_not_exist_is_refused(tree, tmp_path):
    with pytest.raises(UsageError, match="fold_file"):
        jigsaws.read(tree, fold_file=tmp_path / "nope.csv")


def test_a_fold_file_relative_to_the_root(tree, tmp_path):
    root = suturing_copy(tree, tmp_path, splits=False)
    (root / "folds.csv").write_text("".join(f"{t},{i % 4}\n" for i, t in enumerate(jigsaws_trials("Suturing"))))
    data = jigsaws.read(root, fold_file="folds.csv")
    assert data.problems == [] and data.rows[0]["fold_4fold"] == "fold-0"


# problems in the meta file, videos, transcriptions and kinematics


def test_meta_file_problems(tree, tmp_path):
    root = suturing_copy(tree, tmp_path)
    meta = jigsaws_meta("Suturing")
    file = "Suturing/meta_file_Suturing.txt"
    lines = {}

    def broken(trial: str, *fields) -> None:
        lines[trial] = replace_meta_line(root, trial, "\t".join(str(f) for f in fields))

    broken("Suturing_B001", "Suturing_B001", "N", 13, 3, 2, 1, 2, 2)  # five items
    broken("Suturing_B002", "Suturing_B002", "X", 13, 3, 2, 1, 2, 2, 3)
    broken("Suturing_B003", "Suturing_B003", "N", 13, 3, 2, "1.5", 2, 2, 3)
    broken("Suturing_B004", "Suturing_B004", "N", 14, 3, 2, 6, 1, 1, 1)
    broken("Suturing_C001", "Suturing_C001", "I", 5, 1, 1, 1, 1, 0, 1)  # an item of 0 too
    broken("Suturing_C002", "Suturing_C002", "I", 31, 5, 5, 5, 5, 5, 6)
    broken("Suturing_C003", "Suturing_C003", "I", 4, 1, 1, 1, 1, 1, 1)  # items fine, GRS 4
    broken("Suturing_C004", "Suturing_C004", "I", 20, 3, 3, 3, 3, 3, 3)  # not the sum: a warning
    broken("Suturing_C005", "Needle_Passing_C005", "I", 18, 3, 3, 3, 3, 3, 3)
    broken("Suturing_D001", "Suturing D001", "E", 18, 3, 3, 3, 3, 3, 3)
    path = root / file
    with path.open("a") as handle:
        handle.write(meta_line("Suturing_D002", "E", 30, (5, 5, 5, 5, 5, 5)) + "\n")  # listed twice
    twice = len(path.read_text().splitlines())
    data = jigsaws.read(root)
    problem(data, file, lines["Suturing_B001"], "error", "Suturing_B001", "expected 9 fields", "found 8")
    problem(data, file, lines["Suturing_B002"], "error", "skill level 'X' is not N, I or E")
    problem(data, file, lines["Suturing_B003"], "error", "score '1.5' is not an integer")
    problem(data, file, lines["Suturing_B004"], "error", "time_and_motion 6 outside 1-5")
    problem(data, file, lines["Suturing_C001"], "error", "overall_performance 0 outside 1-5")
    problem(data, file, lines["Suturing_C002"], "error", "quality_of_final_product 6")
    problem(data, file, lines["Suturing_C003"], "error", "GRS 4 outside 6-30")
    problem(data, file, lines["Suturing_C004"], "warning", "GRS 20 is not the sum of its six items (18)")
    problem(data, file, lines["Suturing_C005"], "error", "Needle_Passing_C005 is a Needle_Passing trial")
    problem(data, file, lines["Suturing_D001"], "error", "'Suturing' is not a JIGSAWS trial name")
    problem(data, file, twice, "error", "Suturing_D002 is listed twice", f"line {meta_lines(tree)['Suturing_D002']}")
    # the videos of trials whose line could not be read have no usable line: each is named once
    problem(data, "Suturing/video/Suturing_C005_capture1.avi", None, "warning", "no line in meta_file_Suturing.txt")
    problem(data, "Suturing/video/Suturing_D001_capture1.avi", None, "warning", "no line")
    assert len(data.errors) == 10 and len(data.warnings) == 3
    rows = by_trial(data.rows)
    left_out = {
        "Suturing_B001",
        "Suturing_B002",
        "Suturing_B003",
        "Suturing_B004",
        "Suturing_C001",
        "Suturing_C002",
        "Suturing_C003",
        "Suturing_C005",
        "Suturing_D001",
    }
    assert set(rows) == set(meta) - left_out
    assert rows["Suturing_C004"]["grs"] == 20  # as given
    assert rows["Suturing_D002"]["grs"] == meta["Suturing_D002"][1]  # the first line


def test_missing_and_unlisted_videos(tree, tmp_path):
    root = suturing_copy(tree, tmp_path)
    (root / "Suturing" / "video" / "Suturing_C002_capture1.avi").unlink()
    (root / "Suturing" / "video" / "Suturing_C004_capture2.avi").unlink()
    replace_meta_line(root, "Suturing_D001", None)
    make_test_video(root / "Suturing" / "video" / "Suturing_H002_capture1.avi", 12, height=24, width=32)
    file = "Suturing/meta_file_Suturing.txt"
    lines = meta_lines(root)
    data = jigsaws.read(root)
    problem(
        data,
        file,
        lines["Suturing_C002"],
        "error",
        "Suturing/video/Suturing_C002_capture1.avi (or another video format) is missing",
    )
    problem(data, "Suturing/video/Suturing_D001_capture1.avi", None, "warning", "Suturing_D001 has no line")
    problem(data, "Suturing/video/Suturing_H002_capture1.avi", None, "warning", "Suturing_H002 has no line")
    assert len(data.problems) == 3
    assert {"Suturing_C002", "Suturing_D001", "Suturing_H002"}.isdisjoint(by_trial(data.rows))
    # only the view read counts: capture2 misses C004 and not C002
    second = jigsaws.read(root, view="capture2")
    problem(
        second,
        file,
        lines["Suturing_C004"],
        "error",
        "Suturing_C004_capture2.avi (or another video format) is missing",
    )
    assert "Suturing_C002" in by_trial(second.rows)
    both = jigsaws.read(root, view="both")
    assert len(both.errors) == 2
    assert [row["view"] for row in both.rows if row["trial"] == "Suturing_C002"] == ["capture2"]


def test_transcription_and_kinematics_problems(tree, tmp_path):
    root = suturing_copy(tree, tmp_path)
    (root / "Suturing" / "transcriptions" / "Suturing_E001.txt").write_text(
        "1 4 G1 \n\n5 x G5\n9 6 G11\n13 20 X3\n21 24\n"
    )
    kinematics = root / "Suturing" / "kinematics" / "AllGestures" / "Suturing_E002.txt"
    kinematics.write_text(" ".join(["0.1"] * 75) + "\n")
    data = jigsaws.read(root)
    file = "Suturing/transcriptions/Suturing_E001.txt"
    for line in (3, 4, 5, 6):
        problem(data, file, line, "warning", "not a gesture segment")
    problem(data, "Suturing/kinematics/AllGestures/Suturing_E002.txt", 1, "warning", "75 columns", "76")
    assert len(data.problems) == 5 and data.errors == []
    assert len(data.rows) == 39


def test_a_task_folder_without_its_meta_file_is_an_error(tree, tmp_path):
    root = suturing_copy(tree, tmp_path)
    (root / "Suturing" / "meta_file_Suturing.txt").unlink()
    with pytest.raises(SkillDatasetError, match=r"no meta_file_Suturing\.txt"):
        jigsaws.read(root)
    with pytest.raises(SkillDatasetError, match=r"Suturing/meta_file_Suturing\.txt"):
        jigsaws.read(root / "Suturing")


def test_a_folder_without_task_folders_is_not_jigsaws(tmp_path):
    with pytest.raises(SkillDatasetError, match="not a JIGSAWS tree"):
        jigsaws.read(tmp_path)


def test_unknown_options_are_refused(tree):
    with pytest.raises(UsageError, match=r"no option 'camera'.*task, view, fold_file, score_bins"):
        jigsaws.read(tree, camera="capture1")


# detection


def test_detect(tree, tmp_path):
    assert jigsaws.detect(tree)
    assert jigsaws.detect(tree / "Suturing")
    assert not jigsaws.detect(tree / "Suturing" / "video")
    assert not jigsaws.detect(tmp_path)
    classes = tmp_path / "classes"
    for label in ("novice", "expert"):
        (classes / label).mkdir(parents=True)
        shutil.copy(tree / "Suturing" / "video" / "Suturing_B001_capture1.avi", classes / label / "a.avi")
    assert not jigsaws.detect(classes)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "meta_file_Cutting.txt").write_text("Cutting_B001\t\tN\t13\n")
    assert not jigsaws.detect(tmp_path / "other")
