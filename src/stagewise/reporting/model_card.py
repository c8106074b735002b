"""Model cards: a README.md in every model folder (written by the training: how it was trained, on what, how to load
it), and the same card with the model's measured effectiveness once the grid is evaluated (``write_model_cards``)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ..io import atomic_path

#: what sentence-transformers' CrossEncoder reads from config.json: scores are raw logits, as stagewise ranks by
SENTENCE_TRANSFORMERS = {"activation_fn": "torch.nn.modules.linear.Identity"}

_SHOWN = ("stage", "loss", "seed", "init_model", "steps", "lr", "queries_per_batch", "accumulate_grad_batches",
          "negatives", "negatives_depth", "group_size", "max_length", "weight_decay", "weight_decay_all",
          "warmup_steps", "temperature", "freeze_position_embeddings", "training_groups", "validation_groups",
          "attempts", "train_seconds", "movement")


def lineage(hparams: dict) -> str:
    """The schedule that produced a model: its stage, after the stages of its initial model (a stage-1 model folder
    has its own hparams.json)."""
    parent = Path(str(hparams.get("init_model", ""))) / "hparams.json"
    before = lineage(json.loads(parent.read_text())) + "-" if parent.exists() else ""
    return before + hparams["stage"]


def training_card(hparams: dict, data_files=()) -> str:
    rows = "\n".join(f"| `{k}` | `{hparams[k]}` |" for k in _SHOWN if hparams.get(k) is not None)
    data = "\n".join(f"* `{p}`" for p in data_files) or "* (none recorded)"
    return f"""---
library_name: transformers
pipeline_tag: text-ranking
tags: [cross-encoder, reranker, stagewise]
---

# stagewise cross-encoder: schedule {lineage(hparams)}

A cross-encoder re-ranker fine-tuned by stagewise (stage {hparams['stage']}, loss {hparams['loss']}, seed
{hparams['seed']}) from `{hparams['init_model']}`. It scores a (query, passage) pair with one logit; higher is more
relevant. Full settings: `hparams.json`; the loss and learning rate of every step: `training_log.csv`.

| setting | value |
|---|---|
{rows}

Training data files:
{data}

## Loading

```python
from sentence_transformers import CrossEncoder

model = CrossEncoder("path/to/this/folder")  # identity activation and max length {hparams['max_length']} from its files
scores = model.predict([("a query", "a passage")])
```

or `transformers.AutoModelForSequenceClassification` with its tokenizer (truncation "longest_first" at
{hparams['max_length']} tokens), or `stagewise rerank`.
"""


def effectiveness(metrics: pd.DataFrame, reranker: str, schedule: str, seed) -> str:
    """Mean of each metric per first-stage ranker and test set, for one model (rows of the rerank metrics TSVs)."""
    mine = metrics[(metrics["reranker"] == reranker) & (metrics["schedule"] == schedule)
                   & (metrics["seed"].astype(str) == str(seed))]
    if mine.empty:
        return "No evaluation of this model was found.\n"
    table = mine.groupby(["ranker", "dataset", "metric"])["value"].mean().unstack("metric").reset_index()
    cols = list(table.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in table.itertuples(index=False):
        lines.append("| " + " | ".join(f"{v:.4f}" if isinstance(v, float) else str(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def write_model_cards(model_dirs: dict, metric_files, out_dir) -> Path:
    """One card per model, ``out_dir/<reranker>/<schedule>/seed<n>.md``: the folder's card plus the mean metrics of
    its re-rankings (``model_dirs``: (reranker, schedule, seed) -> model folder). Written atomically."""
    metrics = pd.concat([pd.read_csv(p, sep="\t", dtype={"seed": str, "qid": str}) for p in metric_files],
                        ignore_index=True)
    with atomic_path(out_dir) as tmp:
        for (reranker, schedule, seed), folder in model_dirs.items():
            card = (Path(folder) / "README.md").read_text()
            path = tmp / reranker / schedule / f"seed{seed}.md"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(card + "\n## Effectiveness (mean over queries, re-ranking each first-stage ranker's "
                            "candidates)\n\n" + effectiveness(metrics, reranker, schedule, seed))
    return Path(out_dir)
