"""What each schedule costs: training time, GPU-hours, steps, pairs and tokens, teacher rankings, re-ranking time.

Inputs are what the workflow leaves anyway: each model folder's ``hparams.json`` (steps, the pairs and tokens its
training processed, its training seconds over all attempts, the device, the training groups, how far it moved its
weights) and Snakemake's benchmark file of each training and re-ranking job (``s``: wall seconds, ``max_rss``: peak
MB). Training time is ``train_seconds`` (from loading the model to saving it, summed over every attempt up to its
last checkpoint: a training that spans several SLURM time limits is charged all of them); Snakemake's benchmark,
written by the attempt that succeeded only, stands in for folders without it. A two-stage cell's cost includes its
stage-1 model's: C-D costs C plus its D stage (every cell of a stage-2 sweep shares, and is charged, the same C); its
peak memory is the larger of its stages'.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ..grid import last_stage, stage_one_schedule
from .significance import FIRST_STAGE, seed_means

#: per trained model: its own (last) stage's numbers
STAGE_COLUMNS = ["wall_s", "steps", "pairs", "tokens", "gpu_s", "teacher_rankings"]


def read_benchmark(path) -> dict:
    """Snakemake's benchmark file of one job: its last line (a job retried with --benchmark-repeats has several)."""
    frame = pd.read_csv(path, sep="\t")
    if frame.empty:
        raise ValueError(f"{path}: an empty benchmark file")
    row = frame.iloc[-1]
    return {"wall_s": float(row["s"]), "max_rss_mb": float(row["max_rss"]) if "max_rss" in row else float("nan")}


def stage_costs(models: dict, benchmarks: dict) -> pd.DataFrame:
    """One row per trained model (reranker, schedule, seed) -> the cost of its own stage. ``models`` and
    ``benchmarks`` map (reranker, schedule, seed) to its model folder and its training job's benchmark file."""
    rows = []
    for (reranker, schedule, seed), folder in models.items():
        record = json.loads((Path(folder) / "hparams.json").read_text())
        bench = read_benchmark(benchmarks[reranker, schedule, seed])
        gpu = record.get("device") == "gpu"
        wall = float(record.get("train_seconds", bench["wall_s"]))
        moved = record.get("movement") or {}
        rows.append(
            {
                "reranker": reranker,
                "schedule": schedule,
                "seed": str(seed),
                "stage": last_stage(schedule),
                "wall_s": wall,
                "max_rss_mb": bench["max_rss_mb"],
                "steps": record["steps"],
                "pairs": record.get("pairs_seen", float("nan")),
                "tokens": record.get("tokens_seen", float("nan")),
                "gpu_s": wall if gpu else 0.0,
                "attempts": record.get("attempts", 1),
                "teacher_rankings": record["training_groups"] if last_stage(schedule) == "D" else 0,
                "relative_l2": moved.get("relative_l2", float("nan")),
                "changed_fraction": moved.get("changed_fraction", float("nan")),
            }
        )
    return pd.DataFrame(rows)


def cumulative_costs(stages: pd.DataFrame) -> pd.DataFrame:
    """Each model's cost through all its stages: a two-stage cell adds its stage-1 model's row (which must be there)."""
    own = stages.set_index(["reranker", "schedule", "seed"])
    rows = []
    for (reranker, schedule, seed), row in own.iterrows():
        total = row[STAGE_COLUMNS].astype(float).copy()
        peak = row["max_rss_mb"]
        first = stage_one_schedule(schedule)
        if first is not None:
            if (reranker, first, seed) not in own.index:
                raise ValueError(
                    f"the cost of {reranker}/{schedule}/seed{seed} needs its stage-1 model "
                    f"{reranker}/{first}/seed{seed}"
                )
            total += own.loc[(reranker, first, seed), STAGE_COLUMNS].astype(float)
            peak = max(peak, own.loc[(reranker, first, seed), "max_rss_mb"])
        # how far the cell's last stage moved its weights: for a two-stage cell, stage 2 from the stage-1 model
        moved = {k: row.get(k, float("nan")) for k in ("relative_l2", "changed_fraction")}
        rows.append(
            {
                "reranker": reranker,
                "schedule": schedule,
                "seed": seed,
                "stages": 2 if first else 1,
                **total.to_dict(),
                "max_rss_mb": peak,
                **moved,
            }
        )
    return pd.DataFrame(rows)


def rerank_seconds_per_query(benchmarks: dict, per_query: pd.DataFrame) -> pd.DataFrame:
    """(reranker, schedule, seed) -> re-ranking wall seconds per query, over its test sets' jobs: ``benchmarks`` maps
    (reranker, schedule, seed, dataset) to the benchmark file of the job that re-ranked that test set's runs, every
    reranked ranker's; the queries a job re-ranked (each test set's queries once per ranker) come from the per-query
    metrics."""
    queries = per_query.drop_duplicates(["ranker", "dataset", "qid"]).groupby("dataset").size()
    rows = [
        {
            "reranker": rr,
            "schedule": s,
            "seed": str(seed),
            "wall_s": read_benchmark(path)["wall_s"],
            "queries": int(queries[dataset]),
        }
        for (rr, s, seed, dataset), path in benchmarks.items()
    ]
    frame = pd.DataFrame(rows).groupby(["reranker", "schedule", "seed"], as_index=False)[["wall_s", "queries"]].sum()
    frame["rerank_s_per_query"] = frame["wall_s"] / frame["queries"]
    return frame[["reranker", "schedule", "seed", "rerank_s_per_query"]]


def ranking_agreement(run_a: dict, run_b: dict) -> float:
    """Mean over the queries of both runs of Kendall's tau-b (scipy) between the two runs' scores of the documents
    both ranked; queries with fewer than two such documents, or constant scores, are left out (NaN if none is left)."""
    import numpy as np
    from scipy.stats import kendalltau

    taus = []
    for qid in sorted(set(run_a) & set(run_b)):
        docs = sorted(set(run_a[qid]) & set(run_b[qid]))
        if len(docs) < 2:
            continue
        tau = kendalltau([run_a[qid][d] for d in docs], [run_b[qid][d] for d in docs]).statistic
        if not np.isnan(tau):
            taus.append(tau)
    return float(np.mean(taus)) if taus else float("nan")


def stage_agreement(runs: dict) -> pd.DataFrame:
    """(reranker, schedule, seed) -> ``kendall_tau``: the mean over rankers and test sets of ``ranking_agreement``
    between a two-stage cell's re-rankings and its stage-1 model's (``runs``: (ranker, reranker, cell, seed, test
    set) -> (the cell's re-ranked run, its stage-1 model's))."""
    from ..io import read_run

    rows = [
        {
            "reranker": r,
            "schedule": s,
            "seed": str(seed),
            "kendall_tau": ranking_agreement(read_run(two), read_run(one)),
        }
        for (_, r, s, seed, _), (two, one) in runs.items()
    ]
    if not rows:
        return pd.DataFrame(columns=["reranker", "schedule", "seed", "kendall_tau"])
    return pd.DataFrame(rows).groupby(["reranker", "schedule", "seed"], as_index=False)["kendall_tau"].mean()


def in_domain_effectiveness(per_query: pd.DataFrame, metric: str, out_of_domain=()) -> pd.DataFrame:
    """(reranker, schedule, seed) -> ``value``: ``metric``'s mean over rankers and in-domain test sets of each seed's
    per-test-set mean (the re-rankers only)."""
    means = seed_means(
        per_query[
            (per_query["metric"] == metric)
            & (per_query["schedule"] != FIRST_STAGE)
            & ~per_query["dataset"].isin(list(out_of_domain))
        ]
    )
    return means.groupby(["reranker", "schedule", "seed"], as_index=False)["value"].mean()


def efficiency_table(
    costs: pd.DataFrame, rerank: pd.DataFrame, effect: pd.DataFrame, metric: str, agreement: pd.DataFrame | None = None
) -> pd.DataFrame:
    """One row per grid cell (reranker, schedule): means over seeds of its cumulative training cost, its re-ranking
    time per query, its in-domain effectiveness (``effect``: ``in_domain_effectiveness``) and, for two-stage cells,
    the Kendall tau between its re-rankings and its stage-1 model's (``agreement``: ``stage_agreement``)."""
    if agreement is None:
        agreement = pd.DataFrame(columns=["reranker", "schedule", "seed", "kendall_tau"])
    # inner: a stage-1 model that is not a cell of the grid (C of C-D when C is not a schedule) has no re-ranking
    merged = (
        costs.merge(rerank, on=["reranker", "schedule", "seed"], how="inner")
        .merge(effect.rename(columns={"value": f"{metric}_in_domain"}), on=["reranker", "schedule", "seed"], how="left")
        .merge(agreement.astype({"seed": str}), on=["reranker", "schedule", "seed"], how="left")
    )
    cells = merged.groupby(["reranker", "schedule"], as_index=False, sort=False).agg(
        n_seeds=("seed", "nunique"),
        stages=("stages", "first"),
        train_wall_s=("wall_s", "mean"),
        gpu_hours=("gpu_s", lambda s: s.mean() / 3600),
        steps=("steps", "mean"),
        pairs=("pairs", "mean"),
        tokens=("tokens", "mean"),
        teacher_rankings=("teacher_rankings", "mean"),
        peak_rss_mb=("max_rss_mb", "max"),
        rerank_s_per_query=("rerank_s_per_query", "mean"),
        last_stage_relative_l2=("relative_l2", "mean"),
        last_stage_changed_fraction=("changed_fraction", "mean"),
        kendall_tau_vs_stage1=("kendall_tau", "mean"),
        **{f"{metric}_in_domain": (f"{metric}_in_domain", "mean")},
    )
    return cells


def _moved(relative_l2: float, changed: float) -> str:
    from ..training.movement import STILL

    if pd.isna(relative_l2):
        return ""
    if relative_l2 < STILL:
        return f"no ({relative_l2:.1g})"
    return f"{relative_l2:.3f} ({changed:.0%})"


def efficiency_markdown(cells: pd.DataFrame, metric: str) -> str:
    head = [
        "reranker",
        "schedule",
        "stages",
        "training (min)",
        "GPU-hours",
        "steps",
        "pairs",
        "tokens (M)",
        "teacher rankings",
        "re-rank ms/query",
        "last stage moved",
        "tau vs stage 1",
        metric,
    ]
    lines = ["| " + " | ".join(head) + " |", "|---|---|" + "---:|" * (len(head) - 2)]
    for r in cells.itertuples():
        values = [
            r.reranker,
            r.schedule,
            f"{r.stages}",
            f"{r.train_wall_s / 60:.1f}",
            f"{r.gpu_hours:.2f}",
            f"{r.steps:.0f}",
            f"{r.pairs:,.0f}",
            f"{r.tokens / 1e6:.2f}",
            f"{r.teacher_rankings:,.0f}",
            f"{1000 * r.rerank_s_per_query:.1f}",
            _moved(r.last_stage_relative_l2, r.last_stage_changed_fraction),
            "" if pd.isna(r.kendall_tau_vs_stage1) else f"{r.kendall_tau_vs_stage1:.3f}",
            f"{cells.loc[r.Index, f'{metric}_in_domain']:.3f}",
        ]
        lines.append("| " + " | ".join(values) + " |")
    return (
        "\n".join(lines) + "\n\nMeans over seeds. A two-stage cell counts its stage-1 model (C-D = C + its D "
        "stage). Training time and GPU-hours are the trainings' own time, from loading the model to saving it, "
        "summed over attempts (GPU-hours count trainings on a GPU); pairs and tokens are what training scored; "
        "'last stage moved' is the relative L2 distance of the last stage's weights from where it started and "
        "the share of weights that changed at all (a stage-2 that moved nothing reads 'no'); 'tau vs stage 1' "
        "is the mean Kendall tau between a two-stage cell's re-rankings and its stage-1 model's (1: the same "
        "order); teacher "
        "rankings are the LLM rankings D stages used; re-ranking time is the re-ranking jobs' wall time (model "
        f"loading included) per query; {metric} is the mean over rankers and in-domain test sets.\n"
    )
