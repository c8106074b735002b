"""Model cards with measured effectiveness: the card a training writes in every model folder (README.md, see
stagewise.training.export) plus the model's mean metrics once the grid is evaluated (``write_model_cards``)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..io import atomic_path


def effectiveness(metrics: pd.DataFrame, reranker: str, schedule: str, seed) -> str:
    """Mean of each metric per first-stage ranker and test set, for one model (rows of the rerank metrics TSVs)."""
    mine = metrics[
        (metrics["reranker"] == reranker)
        & (metrics["schedule"] == schedule)
        & (metrics["seed"].astype(str) == str(seed))
    ]
    if mine.empty:
        return "No evaluation of this model was found.\n"
    table = mine.groupby(["ranker", "dataset", "metric"])["value"].mean().unstack("metric").reset_index()
    cols = list(table.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in table.itertuples(index=False):
        lines.append("| " + " | ".join(f"{v:.4f}" if isinstance(v, float) else str(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def _read(files) -> pd.DataFrame | None:
    files = list(files)
    if not files:
        return None
    return pd.concat([pd.read_csv(p, sep="\t", dtype={"seed": str, "qid": str}) for p in files], ignore_index=True)


def _other_checkpoint(folder: Path) -> str | None:
    """The name of the checkpoint a model folder keeps beside its selected weights (checkpoints/best or /last)."""
    names = sorted(p.name for p in (Path(folder) / "checkpoints").glob("*") if p.is_dir())
    return names[0] if names else None


def write_model_cards(model_dirs: dict, metric_files, out_dir, other_files=()) -> Path:
    """One card per model, ``out_dir/<reranker>/<schedule>/seed<n>.md``: the folder's card plus the mean metrics of
    its re-rankings (``model_dirs``: (reranker, schedule, seed) -> model folder) and, where ``other_files`` (the
    metrics of the models' other checkpoints, evaluation.compare_checkpoints) evaluate it, those of the checkpoint the
    folder keeps beside its selected weights. Written atomically."""
    metrics, other = _read(metric_files), _read(other_files)
    with atomic_path(out_dir) as tmp:
        for (reranker, schedule, seed), folder in model_dirs.items():
            card = (Path(folder) / "README.md").read_text()
            card += (
                "\n## Effectiveness (mean over queries, re-ranking each first-stage ranker's candidates)\n\n"
                + effectiveness(metrics, reranker, schedule, seed)
            )
            name = _other_checkpoint(folder)
            if other is not None and name is not None:
                card += (
                    f"\n## Effectiveness of the {name} checkpoint (`checkpoints/{name}`), the same re-rankings\n\n"
                    + effectiveness(other, reranker, schedule, seed)
                )
            path = tmp / reranker / schedule / f"seed{seed}.md"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(card)
    return Path(out_dir)
