"""The main table: one row per (ranker, reranker, schedule, test set), mean and std over seeds."""

from __future__ import annotations

import pandas as pd

from ..io import atomic_path

GRID = ["ranker", "reranker", "schedule", "dataset"]


def read_metrics(paths) -> pd.DataFrame:
    frames = [pd.read_csv(p, sep="\t", dtype={"qid": str, "seed": str, "reranker": str, "schedule": str}) for p in paths]
    return pd.concat(frames, ignore_index=True)


def seed_means(per_query: pd.DataFrame) -> pd.DataFrame:
    """Mean over queries for every (grid cell, seed, metric)."""
    return per_query.groupby(GRID + ["seed", "metric"], as_index=False, sort=False)["value"].mean()


def main_table(per_query: pd.DataFrame) -> pd.DataFrame:
    """Wide table: n_seeds and <metric>_mean, <metric>_std (std over seeds; 0 with one seed)."""
    means = seed_means(per_query)
    agg = means.groupby(GRID + ["metric"], sort=False)["value"].agg(["mean", "std", "count"]).reset_index()
    agg["std"] = agg["std"].fillna(0.0)
    wide = agg.pivot_table(index=GRID, columns="metric", values=["mean", "std"], sort=False)
    wide.columns = [f"{metric}_{stat}" for stat, metric in wide.columns]
    metrics = list(dict.fromkeys(per_query["metric"]))
    ordered = [f"{m}_{s}" for m in metrics for s in ("mean", "std")]
    seeds = means.groupby(GRID, sort=False)["seed"].nunique().rename("n_seeds")
    table = wide[ordered].join(seeds).reset_index()
    table = table[GRID + ["n_seeds"] + ordered]
    first_stage = table["schedule"] == "-"
    return pd.concat([table[first_stage], table[~first_stage]]).reset_index(drop=True)


def write_main_table(metric_files, out_path) -> pd.DataFrame:
    table = main_table(read_metrics(metric_files))
    with atomic_path(out_path, suffix=".csv") as tmp:
        table.to_csv(tmp, index=False, float_format="%.4f")
    return table
