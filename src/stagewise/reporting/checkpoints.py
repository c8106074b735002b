"""Best against last checkpoint: every model trained with held-out queries holds both (the selected one at the top of
its folder, the other in checkpoints/<best|last>, see ``stagewise.training.export``); with
``evaluation.compare_checkpoints`` the workflow re-ranks the test sets with both, and this table sets their seed means
side by side, with the held-out metric that chose the best (hparams.json's ``selection``)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

KEYS = ["ranker", "reranker", "schedule", "dataset", "metric"]
#: checkpoints.csv's columns
COLUMNS = [
    *KEYS,
    "last",
    "best",
    "best_minus_last",
    "seeds",
    "held_out_metric",
    "held_out_last",
    "held_out_best",
    "best_step",
    "last_step",
]


def _seed_means(per_query: pd.DataFrame) -> pd.DataFrame:
    return per_query.groupby([*KEYS, "seed"], as_index=False)["value"].mean()


def _selections(models: dict) -> pd.DataFrame:
    """(reranker, schedule, seed) -> the model's selection record, one row per model (``models``: key -> folder)."""
    rows = []
    for (reranker, schedule, seed), folder in models.items():
        selection = json.loads((Path(folder) / "hparams.json").read_text())["selection"]
        selection["held_out_metric"] = selection.pop("metric")
        rows.append({"reranker": reranker, "schedule": schedule, "seed": str(seed), **selection})
    return pd.DataFrame(rows)


def checkpoints_table(selected: pd.DataFrame, other: pd.DataFrame, models: dict) -> pd.DataFrame:
    """One row per (ranker, reranker, cell, test set, metric) of the ``models`` (key (reranker, cell, seed) -> model
    folder): the mean over seeds of the last and of the best checkpoint's per-seed mean over queries, best - last,
    the seeds, and the held-out metric of the selection (mean over seeds of its best and last value, and of the
    steps). ``selected``, ``other``: per-query metrics (evaluation's tidy TSVs) of the runs of the selected and of the
    other checkpoint of each model."""
    selections = _selections(models)
    merged = _seed_means(selected).merge(
        _seed_means(other), on=[*KEYS, "seed"], suffixes=("_selected", "_other"), validate="one_to_one"
    )
    merged = merged.merge(selections, on=["reranker", "schedule", "seed"], validate="many_to_one")
    best_selected = merged["selected"] == "best"
    merged["best"] = merged["value_selected"].where(best_selected, merged["value_other"])
    merged["last"] = merged["value_other"].where(best_selected, merged["value_selected"])
    table = merged.groupby(KEYS, as_index=False, sort=False).agg(
        last=("last", "mean"),
        best=("best", "mean"),
        seeds=("seed", "nunique"),
        held_out_metric=("held_out_metric", "first"),
        held_out_last=("last_value", "mean"),
        held_out_best=("best_value", "mean"),
        best_step=("best_step", "mean"),
        last_step=("last_step", "mean"),
    )
    table["best_minus_last"] = table["best"] - table["last"]
    return table[COLUMNS]


def checkpoints_markdown(table: pd.DataFrame, digits: int = 3) -> str:
    """checkpoints.csv as a Markdown table."""
    head = ["ranker", "reranker", "schedule", "test set", "metric", "last", "best", "best - last", "seeds"]
    head += ["held-out metric", "held-out last", "held-out best"]
    lines = ["| " + " | ".join(head) + " |", "|---|---|---|---|---|" + "---:|" * 4 + "---|---:|---:|"]
    for r in table.itertuples():
        values = [r.ranker, r.reranker, r.schedule, r.dataset, r.metric]
        values += [f"{v:.{digits}f}" for v in (r.last, r.best)] + [f"{r.best_minus_last:+.{digits}f}", f"{r.seeds}"]
        values += [r.held_out_metric] + [f"{v:.{digits}f}" for v in (r.held_out_last, r.held_out_best)]
        lines.append("| " + " | ".join(values) + " |")
    return "\n".join(lines) + "\n"
