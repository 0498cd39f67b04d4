"""Helpers shared by the tests (plain functions; fixtures live in the conftest files)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path


def run_cli(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run the installed ``surgical-skill`` console script, as a user does."""
    script = Path(sys.executable).with_name("surgical-skill")
    return subprocess.run(
        [str(script), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )


def write_manifest(path: Path, rows: list[dict], fields=("video", "label", "subject", "score")) -> Path:
    if path.suffix == ".csv":
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(fields), extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
    else:
        path.write_text("".join(json.dumps({k: r[k] for k in fields if k in r}) + "\n" for r in rows))
    return path
