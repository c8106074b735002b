"""Seconds `snakemake -n --configfile config/paper.yaml` takes on a clean copy (no results, no .snakemake).

    python benchmarks/dry_run.py --reps 5

Copies Snakefile, workflow/ and config/ to a temporary folder once, then times each dry run (wall clock of the
whole process, Python start-up and imports included); prints every time and the median.
"""

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--configfile", default="config/paper.yaml")
    args = parser.parse_args(argv)
    snakemake = str(Path(sys.executable).with_name("snakemake"))
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("workflow", "envs", "config"):
            (shutil.copytree if (ROOT / name).is_dir() else shutil.copy)(ROOT / name, Path(tmp) / name)
        times = []
        for _ in range(args.reps):
            shutil.rmtree(Path(tmp) / ".snakemake", ignore_errors=True)  # clean: no metadata, no locks
            start = time.perf_counter()
            result = subprocess.run(
                [snakemake, "-n", "--configfile", args.configfile], cwd=tmp, capture_output=True, text=True
            )
            times.append(time.perf_counter() - start)
            if result.returncode:
                raise SystemExit(result.stderr[-2000:])
    print("times_s:", " ".join(f"{t:.2f}" for t in times))
    print(f"median_s: {statistics.median(times):.2f}")


if __name__ == "__main__":
    main()
