"""Checkpoint selection by a ranking metric: every evaluation of the held-out queries re-ranks their training groups,
scores the stage's ``select_metric`` with the evaluation's own code, and keeps the best weights so far (the highest
value; a tie keeps the earlier step) next to the checkpoints, so that a resumed training ends with the best and last
weights an uninterrupted one ends with."""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import torch
from lightning.pytorch.callbacks import Callback

from ..evaluation.names import canonical_metric

log = logging.getLogger(__name__)

#: the checkpoint's key for the selection's state
STATE_KEY = "stagewise_selection"


def held_out_metric(held_out: list, metric: str) -> tuple[float, int, int]:
    """(mean of ``metric``, queries evaluated, queries left out) over ``held_out``: (query id, docids, grades, scores)
    per held-out group. The run is the groups' scores, the qrels their grades (the training qrels'; unjudged = 0);
    binary metrics count grade >= 1 as relevant (or the threshold the metric's name gives), and a query whose group
    holds no relevant passage is left out. NaN when none is left."""
    from ..evaluation.metrics import per_query_metrics

    threshold = canonical_metric(metric)[1] or 1
    run, qrels = {}, {}
    for qid, docids, grades, scores in held_out:
        run.setdefault(qid, {}).update(zip(docids, scores))
        qrels.setdefault(qid, {}).update(zip(docids, grades))
    judged = {q: docs for q, docs in qrels.items() if max(docs.values(), default=0) >= threshold}
    if not judged:
        return math.nan, 0, len(qrels)
    values = per_query_metrics(judged, run, [metric], relevance_threshold=threshold, name="the held-out queries")
    return float(values["value"].mean()), len(judged), len(qrels) - len(judged)


class Selection(Callback):
    """Scores ``metric`` on the held-out groups at the end of every validation (the module collects their scores in
    ``held_out``), logs it as ``val_<metric>``, and keeps the best weights: in memory, and in ``folder`` as
    ``best-<step>.pt`` (written under a temporary name and renamed, with the training's ``fingerprint``). Its state
    (best and last step and value) travels in every checkpoint; a resumed run reads the best weights of the step its
    checkpoint names, and only from a file of the same training. The files a checkpoint no longer names are deleted at
    the next new best."""

    def __init__(self, folder, metric: str, fingerprint: dict | None = None):
        self.folder, self.metric, self.fingerprint = Path(folder), metric, fingerprint
        self.name = f"val_{canonical_metric(metric)[0]}"
        self.best_step: int | None = None
        self.best_value: float | None = None
        self.last_step: int | None = None
        self.last_value: float | None = None
        self.best_weights: dict | None = None
        self._checkpointed: int | None = None  # the best step the last saved checkpoint names

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_step >= trainer.max_steps:
            # Lightning evaluates every eval_every steps; asked to stop, it evaluates the last step too, inside fit (the
            # same log rows, and the checkpoint of the last step holds the evaluation)
            trainer.should_stop = True

    def on_validation_epoch_end(self, trainer, pl_module):
        if trainer.sanity_checking:
            return
        value, evaluated, left_out = held_out_metric(pl_module.held_out, self.metric)
        step = trainer.global_step
        pl_module.log(self.name, value, on_epoch=True, batch_size=max(1, evaluated))
        log.info(
            "step %d: held-out %s %.4f over %d queries (%d without a relevant passage left out)",
            step,
            self.metric,
            value,
            evaluated,
            left_out,
        )
        self.last_step, self.last_value = step, value
        if math.isnan(value):
            log.warning("step %d: no held-out query has a relevant passage: %s not evaluated", step, self.metric)
            return
        if self.best_value is None or value > self.best_value:
            self.best_step, self.best_value = step, value
            self.best_weights = {k: v.detach().cpu().clone() for k, v in pl_module.model.state_dict().items()}
            self._write()

    def _path(self, step: int) -> Path:
        return self.folder / f"best-{step}.pt"

    def _write(self):
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self._path(self.best_step)
        tmp = path.with_name(f".{path.name}.tmp")
        record = {"fingerprint": self.fingerprint, "step": self.best_step, "state_dict": self.best_weights}
        torch.save(record, tmp)
        os.replace(tmp, path)
        keep = {path, self._path(self._checkpointed)} if self._checkpointed is not None else {path}
        for old in self.folder.glob("best-*.pt"):
            if old not in keep:
                old.unlink()

    def state(self) -> dict:
        """The best and last evaluations: step and value of each."""
        return {
            "best_step": self.best_step,
            "best_value": self.best_value,
            "last_step": self.last_step,
            "last_value": self.last_value,
        }

    def on_save_checkpoint(self, trainer, pl_module, checkpoint):
        checkpoint[STATE_KEY] = self.state()
        self._checkpointed = self.best_step

    def on_load_checkpoint(self, trainer, pl_module, checkpoint):
        state = checkpoint.get(STATE_KEY)
        if not state:
            return
        self.best_step, self.best_value = state["best_step"], state["best_value"]
        self.last_step, self.last_value = state["last_step"], state["last_value"]
        self._checkpointed = self.best_step
        if self.best_step is None:
            return
        path = self._path(self.best_step)
        saved = torch.load(path, map_location="cpu", weights_only=False) if path.exists() else None
        if saved is None or saved["fingerprint"] != self.fingerprint or saved["step"] != self.best_step:
            raise RuntimeError(
                f"the checkpoint names the best weights of step {self.best_step}, but {path} is "
                f"{'missing' if saved is None else 'of another training'}: delete {self.folder.parent} to start over"
            )
        self.best_weights = saved["state_dict"]
        log.info("best weights so far: step %d (%s %.4f), from %s", self.best_step, self.metric, self.best_value, path)

    def record(self, select: str) -> dict:
        """hparams.json's ``selection``: the metric, the best and last evaluations and which one is ``select``ed
        (``last`` when no evaluation gave a value)."""
        selected = select if self.best_step is not None else "last"
        state = {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in self.state().items()}
        return {"metric": canonical_metric(self.metric)[0], **state, "selected": selected}
