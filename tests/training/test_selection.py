"""Checkpoint selection by a held-out ranking metric (stagewise.training.selection): the chosen step is the argmax of
the metric the evaluation's code computes on each step's weights, the exported folders hold the best and the last
weights, and a stopped and resumed training ends with the best and last of an uninterrupted one."""

import json
import signal

import pandas as pd
import pytest
import torch
from lightning.pytorch.callbacks import Callback
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from stagewise.backbones import build_backbone
from stagewise.data import datasets
from stagewise.evaluation.metrics import per_query_metrics
from stagewise.training.sampling import split_validation
from stagewise.training.selection import held_out_metric
from stagewise.training.trainer import TrainingInterrupted

from .adapters import contrastive as _contrastive
from .adapters import train as _train
from .test_trainer import HPARAMS, TINY, _SignalAfter, weights

#: 12 steps, the held-out quarter evaluated every 2 steps (and so after the last), the best exported
SELECTING = {**HPARAMS, "steps": 12, "validation_fraction": 0.25, "eval_every": 2, "select": "best"}


@pytest.fixture
def setup(tmp_path, tiny_dataset):
    spec = f"local:{tiny_dataset / 'train'}"
    texts, qrels = dict(datasets.iter_docs(spec)), datasets.qrels(spec)
    run = {q: {**{d: 1.0 for d in judged}, **{f"d{i}": 0.5 for i in range(30)}} for q, judged in qrels.items()}
    data = _contrastive(
        datasets.queries(spec), qrels, run, texts, negatives=7, negatives_depth=30, min_positive_grade=2, seed=0
    )
    return build_backbone(TINY, tmp_path / "backbone", texts.values()), data, qrels


class _WeightsEachStep(Callback):
    """The model's weights after every optimizer step (one micro-batch a step here)."""

    def __init__(self):
        self.at = {}

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.at[trainer.global_step] = {k: v.detach().clone() for k, v in pl_module.model.state_dict().items()}


def _held_out_ndcg(backbone, state, groups, qrels) -> float:
    """nDCG@10 of weights ``state`` on the held-out ``groups``, computed apart from the training: transformers scores
    every group in one padded batch, the evaluation's per_query_metrics ranks (relevance: the training qrels)."""
    tokenizer = AutoTokenizer.from_pretrained(backbone)
    model = AutoModelForSequenceClassification.from_pretrained(backbone, num_labels=1)
    model.load_state_dict(state)
    model.eval()
    run, judged = {}, {}
    for g in groups:
        assert g.grades == [qrels[g.qid].get(d, 0) for d in g.docids]  # the qrels' grades, not the loss's labels
        encoded = tokenizer(
            [g.query] * len(g.passages), g.passages, truncation=True, max_length=64, padding=True, return_tensors="pt"
        )
        with torch.no_grad():
            run[g.qid] = dict(zip(g.docids, model(**encoded).logits.view(-1).tolist()))
        if max(g.grades) > 0:
            judged[g.qid] = dict(zip(g.docids, g.grades))
    return float(per_query_metrics(judged, run, ["ndcg@10"], relevance_threshold=1)["value"].mean())


def test_the_best_checkpoint_is_the_argmax_of_the_held_out_metric_and_both_are_exported(tmp_path, setup):
    backbone, data, qrels = setup
    snapshots = _WeightsEachStep()
    out = _train("C", backbone, data, tmp_path / "model", tmp_path / "work", SELECTING, seed=1, callbacks=[snapshots])
    held_out = [data[(0, i)] for i in split_validation(len(data), 0.25, 1)[1]]
    independent = {step: _held_out_ndcg(backbone, snapshots.at[step], held_out, qrels) for step in range(2, 13, 2)}

    # the training log: val_ndcg@10 next to val_loss, in the row of the last step trained (0-based: step - 1)
    log = pd.read_csv(out / "training_log.csv").dropna(subset=["val_loss"])
    logged = dict(zip(log["step"].astype(int) + 1, log["val_ndcg@10"]))
    assert logged == pytest.approx(independent, abs=1e-6)
    best = max(independent, key=lambda s: (independent[s], -s))  # the highest; a tie keeps the earlier step
    selection = json.loads((out / "hparams.json").read_text())["selection"]
    assert selection == {
        "metric": "ndcg@10",
        "best_step": best,
        "best_value": pytest.approx(independent[best], abs=1e-6),
        "last_step": 12,
        "last_value": pytest.approx(independent[12], abs=1e-6),
        "selected": "best",
    }
    # select: best: the best weights at the top, the last ones in checkpoints/last, each a loadable folder
    top, last = weights(out), weights(out / "checkpoints" / "last")
    assert all(torch.equal(top[k], snapshots.at[best][k]) for k in top)
    assert all(torch.equal(last[k], snapshots.at[12][k]) for k in last)
    assert not (out / "checkpoints" / "best").exists()
    AutoTokenizer.from_pretrained(out / "checkpoints" / "last")
    card = (out / "README.md").read_text()
    assert f"| best | {best} |" in card and "| last | 12 |" in card and "`checkpoints/last`" in card


def test_select_last_exports_the_last_weights_and_the_best_in_checkpoints_best(tmp_path, setup):
    backbone, data, _ = setup
    snapshots = _WeightsEachStep()
    hp = {**SELECTING, "steps": 5, "select": "last", "eval_every": None, "checkpoint_every": 2}
    out = _train("C", backbone, data, tmp_path / "model", tmp_path / "work", hp, seed=1, callbacks=[snapshots])
    selection = json.loads((out / "hparams.json").read_text())["selection"]
    # evaluated at the checkpoint cadence (steps 2 and 4) and after the last step (5)
    log = pd.read_csv(out / "training_log.csv").dropna(subset=["val_loss"])
    assert sorted(log["step"].astype(int) + 1) == [2, 4, 5] and log["val_ndcg@10"].notna().all()
    assert selection["selected"] == "last" and selection["last_step"] == 5
    top, best = weights(out), weights(out / "checkpoints" / "best")
    assert all(torch.equal(top[k], snapshots.at[5][k]) for k in top)
    assert all(torch.equal(best[k], snapshots.at[selection["best_step"]][k]) for k in best)


def test_without_held_out_queries_nothing_is_selected_and_the_folder_is_as_before(tmp_path, setup):
    backbone, data, _ = setup
    out = _train("C", backbone, data, tmp_path / "model", tmp_path / "work", {**HPARAMS, "steps": 2}, seed=1)
    assert "selection" not in json.loads((out / "hparams.json").read_text())
    assert not (out / "checkpoints").exists()


def test_a_stopped_and_resumed_training_ends_with_the_uninterrupted_best_and_last(tmp_path, setup, caplog):
    backbone, data, _ = setup
    hp = {**SELECTING, "eval_every": 1, "checkpoint_every": 4}
    reference = _train("C", backbone, data, tmp_path / "reference", tmp_path / "w0", hp, seed=1)
    # the signal arrives during step 7 (reads: 4 groups a step, 10 held-out groups an evaluation): the step finishes
    # and is evaluated, then the checkpoint is saved and the training stops
    with pytest.raises(TrainingInterrupted, match="stopped by SIGTERM after step 7 of 12"):
        _train("C", backbone, _SignalAfter(data, 6 * 14 + 2, signal.SIGTERM), tmp_path / "m", tmp_path / "w", hp, 1)
    saved = torch.load(tmp_path / "w" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    state = saved["stagewise_selection"]
    assert saved["global_step"] == 7 and state["last_step"] == 7  # the evaluation of step 7 is in the checkpoint
    assert [p.name for p in (tmp_path / "w" / "checkpoints").glob("best-*.pt")] == [f"best-{state['best_step']}.pt"]
    with caplog.at_level("INFO"):
        out = _train("C", backbone, data, tmp_path / "m", tmp_path / "w", hp, seed=1)
    assert f"best weights so far: step {state['best_step']} " in caplog.text
    assert (
        json.loads((out / "hparams.json").read_text())["selection"]
        == (json.loads((reference / "hparams.json").read_text())["selection"])
    )
    for folder in (".", "checkpoints/last"):
        resumed, uninterrupted = weights(out / folder), weights(reference / folder)
        assert all(torch.equal(resumed[k], uninterrupted[k]) for k in uninterrupted)
    log = pd.read_csv(out / "training_log.csv").dropna(subset=["val_loss"])
    assert sorted(log["step"].astype(int) + 1) == list(range(1, 13))  # every step evaluated once over both attempts


def test_the_held_out_metric_leaves_out_queries_without_a_relevant_passage():
    rows = [
        ("q1", ["a", "b"], [0, 2], [0.9, 0.1]),  # the relevant passage second: nDCG@10 = 1 / log2(3)
        ("q2", ["c", "d"], [0, 0], [0.5, 0.4]),  # nothing relevant: left out
        ("q3", ["e", "f"], [1, 0], [0.3, 0.3]),  # a tie, broken by docid descending (trec_eval's): f before e
    ]
    value, evaluated, left_out = held_out_metric(rows, "ndcg@10")
    assert (evaluated, left_out) == (2, 1)
    assert value == pytest.approx((1 / 1.584962500721156 + 1 / 1.584962500721156) / 2)
    assert held_out_metric(rows[1:2], "mrr@10")[1:] == (0, 1)
