"""`make bench`: every benchmark, one after another (never two at once: they time the same cores), then the
README rebuilt from what they measured. Exits non-zero when a script failed or missed a goal it checks, or
when the whole run took longer than its 20-minute budget; the README is rebuilt either way.

    python benchmarks/run_all.py                 # what `make bench` runs
    python benchmarks/run_all.py --only decode   # some of them (the README keeps the others' last results)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from render_readme import RESULTS, SECTIONS

HERE = Path(__file__).parent
BUDGET_S = 20 * 60


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", default=None, help="section names: " + ", ".join(n for n, _ in SECTIONS))
    args = parser.parse_args(argv)
    names = [name for name, _ in SECTIONS]
    unknown = sorted(set(args.only or []) - set(names))
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(names)}")
    timings_path = RESULTS / "timings.json"
    RESULTS.mkdir(parents=True, exist_ok=True)
    timings = json.loads(timings_path.read_text()) if timings_path.exists() else {}
    failed = []
    started = time.monotonic()
    for name, script in SECTIONS:
        if args.only and name not in args.only:
            continue
        print(f"\n=== {name}: python benchmarks/{script} ===", flush=True)
        # a script that fails before saving must not leave its last run's figures (and verdict) standing
        (RESULTS / f"{name}.json").unlink(missing_ok=True)
        begun = time.monotonic()
        code = subprocess.call([sys.executable, str(HERE / script)], cwd=HERE.parent)
        timings[name] = time.monotonic() - begun
        print(f"=== {name}: {'ok' if code == 0 else f'exit {code}'} in {timings[name]:.0f} s ===", flush=True)
        if code != 0:
            failed.append(f"{name} (exit {code})")
    total = time.monotonic() - started
    if not args.only:
        timings["total"] = total
    else:
        timings.pop("total", None)  # the sections now come from different runs: no whole-run time to state
    timings_path.write_text(json.dumps(timings, indent=2))
    subprocess.check_call([sys.executable, str(HERE / "render_readme.py"), "--timings", str(timings_path)])
    if not args.only and total > BUDGET_S:
        failed.append(f"the whole run took {total / 60:.1f} min, over its {BUDGET_S / 60:.0f}-minute budget")
    print(
        f"\nmake bench: {total / 60:.1f} min"
        + ("; all scripts ok" if not failed else "; FAILED: " + "; ".join(failed))
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
