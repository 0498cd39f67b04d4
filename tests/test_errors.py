"""A user's mistake is one line and exit code 2; a bug keeps its traceback; --debug shows everything."""

from __future__ import annotations

import pytest

from surgical_skill.data.building import SkillDatasetError
from surgical_skill.errors import DEBUG_ENV, SurgicalSkillError, UsageError, run_reporting_errors
from surgical_skill.evaluation.evaluate import LabelMismatchError
from surgical_skill.training import RecipeError
from surgical_skill.video import VideoDecodeError


def _raise(err):
    def main():
        raise err

    return main


def test_a_user_error_is_one_line_and_exit_code_2(capsys, monkeypatch):
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    code = run_reporting_errors(_raise(UsageError("--batch-size must be at least 1, got 0")))
    assert code == 2
    assert capsys.readouterr().err == "error: --batch-size must be at least 1, got 0\n"


def test_debug_shows_the_traceback(monkeypatch):
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    with pytest.raises(UsageError):
        run_reporting_errors(_raise(UsageError("bad")), debug=True)
    monkeypatch.setenv(DEBUG_ENV, "1")
    with pytest.raises(UsageError):
        run_reporting_errors(_raise(UsageError("bad")))
    monkeypatch.setenv(DEBUG_ENV, "0")
    assert run_reporting_errors(_raise(UsageError("bad"))) == 2


def test_a_bug_keeps_its_traceback(monkeypatch):
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    with pytest.raises(ZeroDivisionError):
        run_reporting_errors(lambda: 1 / 0)


def test_ctrl_c_is_one_line_and_exit_code_130(capsys, monkeypatch):
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    assert run_reporting_errors(_raise(KeyboardInterrupt())) == 130
    assert capsys.readouterr().err == "interrupted\n"


@pytest.mark.parametrize(
    "error, builtin",
    [
        (VideoDecodeError("a.mp4", "file not found"), RuntimeError),
        (RecipeError("unknown key"), ValueError),
        (SkillDatasetError("no rows"), ValueError),
        (LabelMismatchError("other classes"), ValueError),
    ],
)
def test_every_user_error_is_a_surgical_skill_error_and_still_its_old_kind(error, builtin):
    assert isinstance(error, SurgicalSkillError)
    assert isinstance(error, builtin)  # `except ValueError` written against 0.1 still catches it
