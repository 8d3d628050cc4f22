"""The legacy CSV's per-row Python, before and after, in one run: extract (read and stage) and to_quote.

    .venv/bin/python bench/csv_rows.py                      # a generated 100,000-row CSV
    .venv/bin/python bench/csv_rows.py --rows 20000 --repeat 5 --json var/bench-csv-rows.json

"Before" is the legacy CSV module as it was when it was one file (`etl/sources/legacy_csv.py`, read from
git: the parent of the commit that removed it, or `--baseline-ref`), executed beside the current package in
the same process over the same file, so the machine's load weighs on both alike. Each figure is the best of
`--repeat` passes, in CPU time (process time) per row. No database: extract's reader and to_quote are pure.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import types
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
OLD_PATH = "etl/sources/legacy_csv.py"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000, help="CSV rows (default 100000)")
    parser.add_argument("--repeat", type=int, default=3, help="passes of each path; the best is kept (default 3)")
    parser.add_argument("--baseline-ref", help=f"git commit whose {OLD_PATH} is the baseline")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args()

    # Settings only: nothing here reaches the database.
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kasparro.settings")
    os.environ.setdefault("DEBUG", "true")
    import django

    django.setup()
    from devtools.market_universe import legacy_csv_write
    from etl.sources import legacy_csv

    before = _module_at(args.baseline_ref or _last_commit_with_file())
    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / "coins.csv"
        legacy_csv_write(path=path, rows=args.rows, seed=7)
        paths = {"before": before, "after": legacy_csv}
        extract, payloads, quote, records = {}, {}, {}, {}
        for label, module in paths.items():
            extract[label], payloads[label] = _best(args.repeat, partial(_extract, module, path))
        for label, module in paths.items():
            quote[label], records[label] = _best(args.repeat, partial(_quotes, module, payloads[label]))
    same_payloads = payloads["before"] == payloads["after"]
    same_records = [(r, r.content_hash) for r in records["before"]] == [(r, r.content_hash) for r in records["after"]]

    rows = len(payloads["after"])
    result = {
        "rows": rows,
        "us_per_row": {
            stage: {label: round(seconds / rows * 1e6, 2) for label, seconds in figures.items()}
            for stage, figures in (("extract", extract), ("to_quote", quote))
        },
        "same_payloads": same_payloads,
        "same_records": same_records,
    }
    total = {label: extract[label] + quote[label] for label in paths}
    result["us_per_row"]["both"] = {label: round(seconds / rows * 1e6, 2) for label, seconds in total.items()}
    print(f"legacy CSV, {rows:,} rows, CPU µs a row (best of {args.repeat}):", file=sys.stderr)
    print(f"  {'':10} {'before':>8} {'after':>8} {'after/before':>13}", file=sys.stderr)
    for stage, figures in result["us_per_row"].items():
        ratio = figures["after"] / figures["before"]
        print(f"  {stage:10} {figures['before']:8.2f} {figures['after']:8.2f} {ratio:12.2f}x", file=sys.stderr)
    print(f"  same staged payloads: {same_payloads}; same quote records and hashes: {same_records}", file=sys.stderr)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    if not (same_payloads and same_records):
        sys.exit(1)


def _extract(module: types.ModuleType, path: Path) -> list[str]:
    return [item.payload for item in module.LegacyCsvReader(path=path).extract({})]


def _quotes(module: types.ModuleType, payloads: list[str]) -> list:
    return [module.to_quote(payload) for payload in payloads]


def _best(repeat: int, run):
    best, value = float("inf"), None
    for _ in range(repeat):
        start = time.process_time()
        value = run()
        best = min(best, time.process_time() - start)
    return best, value


def _last_commit_with_file() -> str:
    removed = subprocess.run(
        ["git", "rev-list", "-1", "HEAD", "--", OLD_PATH], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    if not removed:
        sys.exit(f"no commit in this clone's history touches {OLD_PATH}: give --baseline-ref")
    return f"{removed}^"


def _module_at(ref: str) -> types.ModuleType:
    source = subprocess.run(
        ["git", "show", f"{ref}:{OLD_PATH}"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    module = types.ModuleType("legacy_csv_before")
    exec(compile(source, f"{ref}:{OLD_PATH}", "exec"), module.__dict__)  # noqa: S102 - the repository's own code
    return module


if __name__ == "__main__":
    main()
