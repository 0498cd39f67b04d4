import json

import surgical_skill
from tests.helpers import run_cli


def test_help_lists_subcommands_with_examples():
    result = run_cli("--help", installed=True)
    assert result.returncode == 0
    assert "probe" in result.stdout and "examples:" in result.stdout


def test_version():
    result = run_cli("--version", installed=True)
    assert result.returncode == 0 and surgical_skill.__version__ in result.stdout


def test_no_command_prints_help_and_fails():
    result = run_cli()
    assert result.returncode == 2 and "usage:" in result.stdout


def test_probe_json_and_errors(videos):
    result = run_cli("probe", str(videos["vfr"]), str(videos["text"]), "--json")
    assert result.returncode == 1  # one of the two files is bad
    good, bad = (json.loads(line) for line in result.stdout.splitlines())
    assert good["total_num_frames"] == 60 and good["is_variable_frame_rate"] is True
    assert bad["path"] == str(videos["text"]) and "not a readable video" in bad["error"]


def test_probe_table(videos):
    result = run_cli("probe", str(videos["truncated"]))
    assert result.returncode == 0
    assert "(header says 90)" in result.stdout and "keyframes" in result.stdout
