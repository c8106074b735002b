"""Per-rule wall time and peak memory of the last demo run, from Snakemake's benchmark files.

    python benchmarks/demo_rules.py    # reads results/benchmarks/{first_stage,train,rerank}/**/*.tsv

Every expensive rule writes `benchmark:` files (s, max_rss in MB, cpu_time, ...) under results/benchmarks/ mirroring
its wildcards; this groups them by rule and prints a Markdown table plus the time span of the files' modification
times.
"""

import sys
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
#: where the workflow's benchmark: directives write (workflow/rules/*.smk)
BENCHMARKS = ROOT / "results" / "benchmarks"


def rule_of(path: Path, folder: Path = BENCHMARKS) -> str:
    parts = path.relative_to(folder).parts
    if parts[0] == "first_stage":
        if parts[1] == "bm25_index":
            return "bm25_index"
        kind = "colbert" if parts[1].startswith("colbert") else "bm25"
        return f"{kind}_index" if parts[-1].startswith("index") else f"{kind}_retrieve"
    return parts[0]  # train, rerank


def main(folder=BENCHMARKS):
    files = [p for stage in ("first_stage", "train", "rerank") for p in sorted((folder / stage).rglob("*.tsv"))]
    if not files:
        print(f"no Snakemake benchmark files under {folder}")
        return 1
    frames = []
    for path in files:
        frame = pd.read_csv(path, sep="\t")
        frame["rule"] = rule_of(path, folder)
        frames.append(frame)
    table = pd.concat(frames)
    summary = table.groupby("rule", sort=False).agg(
        jobs=("s", "size"),
        wall_s_total=("s", "sum"),
        wall_s_mean=("s", "mean"),
        wall_s_max=("s", "max"),
        peak_rss_mb=("max_rss", "max"),
        cpu_s_total=("cpu_time", "sum"),
    )
    stamps = [datetime.fromtimestamp(p.stat().st_mtime, UTC) for p in files]
    print(f"{len(files)} benchmark files, written {min(stamps):%Y-%m-%d %H:%M} to {max(stamps):%H:%M} UTC\n")
    print(summary.round(1).to_markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
