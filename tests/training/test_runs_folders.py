"""A run folder is deleted by overwrite_output_dir only when this toolkit made it (its marker), never because it
holds a recipe.yaml: the folder a user keeps their recipe and thesis in survives a mistyped output_dir."""

import pytest

from surgical_skill.files import MARKER, folder_kind
from surgical_skill.training.recipe import RecipeError
from surgical_skill.training.runs import RUN_LOCK, claim_output_dir, hold_run


def _tree(folder):
    return sorted((str(p.relative_to(folder)), p.read_bytes() if p.is_file() else b"") for p in folder.rglob("*"))


def test_overwrite_deletes_only_a_run_the_toolkit_made(tmp_path):
    project = tmp_path / "project"
    (project / "chapters").mkdir(parents=True)
    (project / "thesis.txt").write_text("four years")
    (project / "recipe.yaml").write_text("dataset: mine.csv\n")  # the user's own recipe, kept beside the thesis
    before = _tree(project)
    with pytest.raises(RecipeError, match=r"already holds a training run .*--overwrite_output_dir"):
        claim_output_dir(project, overwrite=False, resume=False)
    with pytest.raises(RecipeError, match=rf"holds a recipe.yaml but no {MARKER}.*it is not deleted"):
        claim_output_dir(project, overwrite=True, resume=False)
    assert _tree(project) == before

    run = tmp_path / "run"
    with hold_run(run):  # a run that starts in an absent folder marks it
        assert folder_kind(run) == "training-run" and (run / RUN_LOCK).exists()
        (run / "recipe.yaml").write_text("x: 1\n")
        (run / "checkpoints").mkdir()
    assert sorted(p.name for p in run.iterdir()) == [MARKER, "checkpoints", "recipe.yaml"]
    claim_output_dir(run, overwrite=True, resume=False)
    assert not run.exists()  # the earlier run, gone whole

    empty = tmp_path / "refused"
    with hold_run(empty):  # refused data: nothing written, so not even the marker stays
        pass
    assert list(empty.iterdir()) == []
    claim_output_dir(empty, overwrite=False, resume=False)  # and the next attempt is not refused

    with hold_run(project):  # someone's folder written into on request is not marked (so never deleted later)
        pass
    assert _tree(project) == before


def test_a_run_of_an_older_version_is_recognised_by_holding_nothing_else(tmp_path):
    """Runs written before run folders were marked (e.g. an earlier `make demo`'s runs/demo) are started over
    on request; the same layout with one foreign entry is not deleted."""
    old = tmp_path / "old-run"
    for folder in ("model", "checkpoints/checkpoint-2", "eval", "eval-other", "predictions", "surgical-skill"):
        (old / folder).mkdir(parents=True)
    for name in ("recipe.yaml", "splits.json", "training_history.json", "model/config.json"):
        (old / name).write_text("{}")
    claim_output_dir(old, overwrite=True, resume=False)
    assert not old.exists()

    for foreign in ("thesis.txt", "chapters/", "model.txt"):
        kept = tmp_path / f"kept-{foreign.strip('/')}"
        (kept / "model").mkdir(parents=True)
        for name in ("recipe.yaml", "splits.json"):
            (kept / name).write_text("{}")
        (kept / foreign).mkdir() if foreign.endswith("/") else (kept / foreign).write_text("mine")
        before = _tree(kept)
        with pytest.raises(RecipeError, match=rf"more than a run .* holds \({foreign.rstrip('/')}"):
            claim_output_dir(kept, overwrite=True, resume=False)
        assert _tree(kept) == before
    only_recipe = tmp_path / "only-recipe"  # a recipe without a split record or history: not a run
    only_recipe.mkdir()
    (only_recipe / "recipe.yaml").write_text("{}")
    with pytest.raises(RecipeError, match="it is not deleted"):
        claim_output_dir(only_recipe, overwrite=True, resume=False)
