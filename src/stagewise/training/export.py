"""A trained model's folder: Hugging Face weights and tokenizer (loadable by transformers and sentence-transformers'
CrossEncoder), the resolved settings (hparams.json), a model card (README.md) and the training log of all attempts."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from .. import provenance
from ..backbones import check_saved_model
from ..io import atomic_path
from ..locations import OTHER_CHECKPOINTS
from .resume import merged_training_log

#: what sentence-transformers' CrossEncoder reads from config.json: scores are raw logits, as stagewise ranks by
SENTENCE_TRANSFORMERS = {"activation_fn": "torch.nn.modules.linear.Identity"}

_SHOWN = (
    "stage",
    "loss",
    "seed",
    "init_model",
    "steps",
    "lr",
    "queries_per_batch",
    "accumulate_grad_batches",
    "negatives",
    "negatives_depth",
    "group_size",
    "max_length",
    "weight_decay",
    "weight_decay_all",
    "warmup_steps",
    "temperature",
    "freeze_position_embeddings",
    "training_groups",
    "validation_groups",
    "attempts",
    "train_seconds",
    "movement",
)


def export_model(out_dir, module, tokenizer, resolved: dict, paths, other: tuple[str, dict] | None = None) -> Path:
    """Write the trained ``module``'s model and ``tokenizer`` to ``out_dir`` atomically, with hparams.json
    (``resolved`` plus what the module counted: pairs and tokens seen, seconds over all attempts), README.md,
    training_log.csv (the attempts' logs in the work folder ``paths.work``) and provenance.json
    (``stagewise.provenance``: the code, software, machine and settings that trained it, the training data files
    ``paths.data``, and the fingerprint of the folder's other files). ``other``: (name, weights) of the checkpoint
    not selected (best or last), written as a Hugging Face folder of its own under checkpoints/<name>."""
    data_files, work_dir = paths.data, paths.work
    with atomic_path(out_dir) as tmp:
        # sentence-transformers' CrossEncoder loads the folder with our scores: identity activation, our max length
        module.model.config.sentence_transformers = dict(SENTENCE_TRANSFORMERS)
        tokenizer.model_max_length = resolved["max_length"]
        module.model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        check_saved_model(tmp, module.model)
        if other is not None:
            _save_other(tmp / OTHER_CHECKPOINTS / other[0], module.model, other[1], tokenizer)
        resolved = {
            **resolved,
            "pairs_seen": module.seen["pairs"],
            "tokens_seen": module.seen["tokens"],
            # from loading the model to saving it, every attempt up to its last checkpoint
            "train_seconds": round(module.seconds(), 3),
        }
        (tmp / "hparams.json").write_text(json.dumps(resolved, indent=2, sort_keys=True) + "\n")
        (tmp / "README.md").write_text(training_card(resolved, [str(p) for p in data_files]))
        merged_training_log(work_dir, tmp / "training_log.csv")
        provenance.write_json(
            tmp,
            provenance.record(
                model_fingerprint=provenance.model_fingerprint(tmp),
                stage=resolved["stage"],
                loss=resolved["loss"],
                seed=resolved["seed"],
                init_model=resolved["init_model"],
                training_data=[str(p) for p in data_files],
            ),
        )
    return Path(out_dir)


def _save_other(folder: Path, model, weights: dict, tokenizer):
    """``model``'s architecture with ``weights``, and ``tokenizer``, as a Hugging Face folder."""
    twin = copy.deepcopy(model)
    twin.load_state_dict(weights)
    folder.mkdir(parents=True)
    twin.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    check_saved_model(folder, twin)


def lineage(record: dict) -> str:
    """The schedule that produced a model (``record``: its hparams.json): its stage, after the stages of its initial
    model (a stage-1 model folder has its own hparams.json)."""
    parent = Path(str(record.get("init_model", ""))) / "hparams.json"
    before = lineage(json.loads(parent.read_text())) + "-" if parent.exists() else ""
    return before + record["stage"]


def _value(value) -> str:
    return "no value" if value is None else f"{value:.4f}"


def _selection_text(selection: dict | None) -> str:
    """The card's paragraph on the best and last checkpoints (hparams.json's ``selection``), or nothing."""
    if not selection:
        return ""
    metric, chosen = selection["metric"], selection["selected"]
    other = "last" if chosen == "best" else "best"
    rows = "\n".join(
        f"| {name} | {selection[f'{name}_step']} | {_value(selection[f'{name}_value'])} | "
        f"{'this folder' if name == chosen else f'`{OTHER_CHECKPOINTS}/{name}`'} |"
        for name in ("best", "last")
        if selection[f"{name}_step"] is not None
    )
    return f"""Checkpoints by {metric} on the held-out training queries (the weights here are the {chosen}; the {other}
are in `{OTHER_CHECKPOINTS}/{other}` when they exist):

| checkpoint | step | held-out {metric} | folder |
|---|---|---|---|
{rows}

"""


def training_card(hparams: dict, data_files=()) -> str:
    """The model card a training writes: how the model was trained, on what, how to load it."""
    rows = "\n".join(f"| `{k}` | `{hparams[k]}` |" for k in _SHOWN if hparams.get(k) is not None)
    data = "\n".join(f"* `{p}`" for p in data_files) or "* (none recorded)"
    return f"""---
library_name: transformers
pipeline_tag: text-ranking
tags: [cross-encoder, reranker, stagewise]
---

# stagewise cross-encoder: schedule {lineage(hparams)}

A cross-encoder re-ranker fine-tuned by stagewise (stage {hparams["stage"]}, loss {hparams["loss"]}, seed
{hparams["seed"]}) from `{hparams["init_model"]}`. It scores a (query, passage) pair with one logit; higher is more
relevant. Full settings: `hparams.json`; the loss and learning rate of every step: `training_log.csv`.

| setting | value |
|---|---|
{rows}

{_selection_text(hparams.get("selection"))}Training data files:
{data}

## Loading

```python
from sentence_transformers import CrossEncoder

model = CrossEncoder("path/to/this/folder")  # identity activation and max length {hparams["max_length"]} from its files
scores = model.predict([("a query", "a passage")])
```

or `transformers.AutoModelForSequenceClassification` with its tokenizer (truncation "longest_first" at
{hparams["max_length"]} tokens), or `stagewise rerank`.
"""
