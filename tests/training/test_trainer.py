import json
import math
import os
import signal
from dataclasses import replace

import pandas as pd
import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from stagewise import provenance
from stagewise.backbones import BackboneSettings, build_backbone
from stagewise.data import datasets
from stagewise.settings import stage as settings_of
from stagewise.training.module import CrossEncoderModule
from stagewise.training.sampling import DistillationGroups, GroupCollator
from stagewise.training.trainer import TrainingInterrupted

from .adapters import contrastive as _contrastive
from .adapters import train as _train
from .adapters import train_files as _train_files

TINY = BackboneSettings.from_config(
    {
        "architecture": "electra",
        "vocab_size": 400,
        "hidden_size": 32,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "max_length": 64,
        "seed": 0,
    }
)
HPARAMS = {
    "steps": 60,
    "queries_per_batch": 4,
    "accumulate_grad_batches": 1,
    "lr": 2.0e-3,
    "weight_decay": 0.0,
    "warmup_steps": 0,
    "max_length": 64,
    "gradient_clip_val": 10.0,
    "checkpoint_every": 10,
}


@pytest.fixture
def groups(tiny_dataset):
    spec = f"local:{tiny_dataset / 'train'}"
    texts = dict(datasets.iter_docs(spec))
    qrels = datasets.qrels(spec)
    # a pseudo first-stage run: every judged passage plus some others, so that negatives exist
    run = {q: {**{d: 1.0 for d in judged}, **{f"d{i}": 0.5 for i in range(30)}} for q, judged in qrels.items()}
    return datasets.queries(spec), qrels, run, texts


def loss_on(model_dir, dataset, loss):
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    batch = GroupCollator(tokenizer, 64)([dataset[i] for i in range(len(dataset))])
    with torch.no_grad():
        settings = settings_of("C", {"loss": loss, "lr": 1e-3, "weight_decay": 0.0, "temperature": 0.5})
        return CrossEncoderModule(model, settings).compute_loss(batch).item()


@pytest.mark.parametrize("stage", ["C", "D"])
def test_training_steps_lower_the_loss_and_write_a_model_folder(tmp_path, groups, stage):
    queries, qrels, run, texts = groups
    backbone = build_backbone(TINY, tmp_path / "backbone", texts.values())
    if stage == "C":
        full = _contrastive(queries, qrels, run, texts, negatives=3, negatives_depth=30, min_positive_grade=2, seed=0)
        loss = "lce"
    else:
        rankings = {q: sorted(run[q], key=lambda d: -qrels[q].get(d, 0))[:8] for q in list(run)[:8]}
        full = DistillationGroups(queries, rankings, texts, group_size=8, seed=0)
        loss = "ranknet"
    full.items = full.items[:4]  # a fixed small set: the loss on it must fall
    before = loss_on(backbone, full, loss)
    out = _train(stage, backbone, full, tmp_path / "model", tmp_path / "work", HPARAMS, seed=1)
    after = loss_on(out, full, loss)
    assert after < before * 0.75
    hparams = json.loads((out / "hparams.json").read_text())
    assert hparams["stage"] == stage and hparams["steps"] == 60 and hparams["seed"] == 1
    assert (out / "training_log.csv").read_text().count("\n") > 10
    assert not (tmp_path / "work" / "checkpoints").exists()  # removed once the model is saved
    record = provenance.read(out)  # its provenance.json
    assert record["method"]["model_fingerprint"] == provenance.model_fingerprint(out)
    assert (record["method"]["stage"], record["method"]["seed"]) == (stage, 1)
    assert record["platform"]["software"]["libraries"]["python"]["torch"] == torch.__version__


def test_same_seed_gives_the_same_weights(tmp_path, groups):
    queries, qrels, run, texts = groups
    backbone = build_backbone(TINY, tmp_path / "backbone", texts.values())
    data = _contrastive(queries, qrels, run, texts, negatives=3, negatives_depth=30, min_positive_grade=2, seed=0)
    hp = {**HPARAMS, "steps": 5}
    a = _train("C", backbone, data, tmp_path / "a", tmp_path / "wa", hp, seed=4)
    b = _train("C", backbone, data, tmp_path / "b", tmp_path / "wb", hp, seed=4)
    wa = AutoModelForSequenceClassification.from_pretrained(a).state_dict()
    wb = AutoModelForSequenceClassification.from_pretrained(b).state_dict()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


class _FailingAfter(torch.utils.data.Dataset):
    """Wraps a dataset and raises once ``limit`` items were read: an interrupted job."""

    def __init__(self, inner, limit):
        self.inner, self.limit, self.reads = inner, limit, 0

    def __len__(self):
        return len(self.inner)

    def __getitem__(self, key):
        self.reads += 1
        if self.reads > self.limit:
            raise RuntimeError("job killed")
        return self.inner[key]


def weights(folder):
    return AutoModelForSequenceClassification.from_pretrained(folder).state_dict()


def test_interrupted_training_resumes_and_ends_with_the_uninterrupted_weights(tmp_path, groups, caplog):
    queries, qrels, run, texts = groups
    # dropout on and two micro-batches per step: the resumed run must replay dropout masks and batches exactly
    backbone = build_backbone(replace(TINY, dropout=0.1), tmp_path / "backbone", texts.values())
    data = _contrastive(queries, qrels, run, texts, negatives=3, negatives_depth=30, min_positive_grade=2, seed=0)
    hp = {**HPARAMS, "steps": 12, "checkpoint_every": 4, "accumulate_grad_batches": 2}
    reference = _train("C", backbone, data, tmp_path / "reference", tmp_path / "w0", hp, seed=1)

    with pytest.raises(RuntimeError, match="job killed"):  # killed during step 9 (micro-batch 18 of 24)
        _train("C", backbone, _FailingAfter(data, 4 * 18), tmp_path / "model", tmp_path / "work", hp, seed=1)
    assert (tmp_path / "work" / "checkpoints" / "last.ckpt").exists()
    assert not (tmp_path / "model").exists()  # no partial output
    with caplog.at_level("INFO"):
        out = _train("C", backbone, data, tmp_path / "model", tmp_path / "work", hp, seed=1)
    assert "resuming from" in caplog.text and "at step 8 of 12" in caplog.text
    # progress lines of the resumed attempt: from step 9 on (a line a step here: 12 steps // 20 = 1), ending at 12
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("training: ")]
    assert lines[0].startswith("training: 9 of 12 steps (75%), loss ") and lines[-1].startswith("training: 12 of 12")
    assert all(", lr 0.002, " in line and " steps/s, " in line and line.endswith(" left") for line in lines)
    resumed, uninterrupted = weights(out), weights(reference)
    assert all(torch.equal(resumed[k], uninterrupted[k]) for k in uninterrupted)
    log = pd.read_csv(out / "training_log.csv")
    assert sorted(log["step"].dropna().astype(int).unique()) == list(range(12))  # both attempts, no gap
    assert json.loads((out / "hparams.json").read_text())["attempts"] == 2
    # what was processed counts each step once, across the kill and the resume (checkpointed with the weights)
    counted, once = (json.loads((m / "hparams.json").read_text()) for m in (out, reference))
    # (at most 12 steps x 2 micro-batches x 4 queries x (1 positive + 3 negatives): ragged groups have fewer)
    assert 0.8 * 384 < counted["pairs_seen"] == once["pairs_seen"] <= 12 * 2 * hp["queries_per_batch"] * (1 + 3)
    assert counted["tokens_seen"] == once["tokens_seen"] > counted["pairs_seen"] * 5


class _SignalAfter(torch.utils.data.Dataset):
    """Wraps a dataset and sends this process ``signum`` once ``limit`` items were read, as SLURM would at
    preemption (SIGTERM) or ahead of the time limit (``--signal``)."""

    def __init__(self, inner, limit, signum):
        self.inner, self.limit, self.signum, self.reads = inner, limit, signum, 0

    def __len__(self):
        return len(self.inner)

    def __getitem__(self, key):
        self.reads += 1
        if self.reads == self.limit:
            os.kill(os.getpid(), self.signum)
        return self.inner[key]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGUSR1])
def test_a_stop_signal_saves_a_checkpoint_and_the_next_attempt_resumes_from_it(tmp_path, groups, caplog, signum):
    queries, qrels, run, texts = groups
    backbone = build_backbone(replace(TINY, dropout=0.1), tmp_path / "backbone", texts.values())
    data = _contrastive(queries, qrels, run, texts, negatives=3, negatives_depth=30, min_positive_grade=2, seed=0)
    # checkpoints every 4 steps; the signal arrives while micro-batch 14 is read, which Lightning prefetches
    # during micro-batch 13, the first half of step 7: the step finishes, then the checkpoint is saved
    hp = {**HPARAMS, "steps": 12, "checkpoint_every": 4, "accumulate_grad_batches": 2}
    reference = _train("C", backbone, data, tmp_path / "reference", tmp_path / "w0", hp, seed=1)
    handler_before = signal.getsignal(signum)

    with pytest.raises(TrainingInterrupted, match=f"stopped by {signum.name} after step 7 of 12"):
        _train("C", backbone, _SignalAfter(data, 4 * 13 + 1, signum), tmp_path / "model", tmp_path / "work", hp, seed=1)
    assert signal.getsignal(signum) is handler_before  # handlers restored
    last = tmp_path / "work" / "checkpoints" / "last.ckpt"
    assert torch.load(last, map_location="cpu", weights_only=False)["global_step"] == 7  # not the periodic 4
    assert not (tmp_path / "model").exists() and not list(last.parent.glob(".*.tmp"))
    with caplog.at_level("INFO"):
        out = _train("C", backbone, data, tmp_path / "model", tmp_path / "work", hp, seed=1)
    assert "at step 7 of 12 (attempt 2)" in caplog.text
    resumed, uninterrupted = weights(out), weights(reference)
    assert all(torch.equal(resumed[k], uninterrupted[k]) for k in uninterrupted)
    log = pd.read_csv(out / "training_log.csv")
    assert sorted(log["step"].dropna().astype(int).unique()) == list(range(12))


def test_epochs_become_steps_and_validation_is_held_out_by_seed(tmp_path, groups):
    queries, qrels, run, texts = groups
    backbone = build_backbone(TINY, tmp_path / "backbone", texts.values())
    data = _contrastive(queries, qrels, run, texts, negatives=3, negatives_depth=30, min_positive_grade=2, seed=0)
    hp = {
        **{k: v for k, v in HPARAMS.items() if k != "steps"},
        "epochs": 1,
        "validation_fraction": 0.2,
        "checkpoint_every": 2,
    }
    out = _train("C", backbone, data, tmp_path / "model", tmp_path / "work", hp, seed=3)
    resolved = json.loads((out / "hparams.json").read_text())
    n_val = math.ceil(0.2 * len(data))
    assert resolved["validation_groups"] == n_val and resolved["training_groups"] == len(data) - n_val
    assert resolved["steps"] == math.ceil((len(data) - n_val) / 4)
    log = pd.read_csv(out / "training_log.csv")
    assert log["val_loss"].notna().sum() >= 1


def test_frozen_position_embeddings_do_not_move(tmp_path, groups):
    queries, qrels, run, texts = groups
    backbone = build_backbone(TINY, tmp_path / "backbone", texts.values())
    data = _contrastive(queries, qrels, run, texts, negatives=3, negatives_depth=30, min_positive_grade=2, seed=0)
    hp = {**HPARAMS, "steps": 4, "freeze_position_embeddings": True}
    before, after = weights(backbone), weights(_train("C", backbone, data, tmp_path / "m", tmp_path / "w", hp, 1))
    moved = [k for k in before if not torch.equal(before[k], after[k])]
    assert moved and not any("position_embeddings" in k for k in moved)


@pytest.mark.parametrize("loss", ["infonce", "listnet", "margin_mse"])
def test_a_stage_trains_with_any_configured_loss(tmp_path, groups, loss):
    queries, qrels, run, texts = groups
    backbone = build_backbone(TINY, tmp_path / "backbone", texts.values())
    data = _contrastive(queries, qrels, run, texts, negatives=3, negatives_depth=30, min_positive_grade=2, seed=0)
    data.items = data.items[:4]
    hp = {**HPARAMS, "loss": loss, "temperature": 0.5}
    before = loss_on(backbone, data, loss)
    out = _train("C", backbone, data, tmp_path / "model", tmp_path / "work", hp, seed=1)
    assert loss_on(out, data, loss) < before
    assert json.loads((out / "hparams.json").read_text())["loss"] == loss


def test_contrastive_training_from_a_run_file_whose_lines_are_not_in_score_order(tmp_path, tiny_dataset):
    """Negatives come from each query's top by score; the texts loaded must be those, not the file's first lines."""

    spec, corpus = f"local:{tiny_dataset / 'train'}", f"local:{tiny_dataset}"
    docs = [d for d, _ in datasets.iter_docs(spec)]
    # every query: 60 passages, scores rising with the line number, so the top-10 by score are the last lines
    lines = [f"{q} Q0 {d} {r + 1} {r / 100:.2f} t" for q in datasets.queries(spec) for r, d in enumerate(docs[:60])]
    (tmp_path / "train.run").write_text("\n".join(lines) + "\n")
    backbone = build_backbone(TINY, tmp_path / "backbone", (t for _, t in datasets.iter_docs(spec)))
    hp = {**HPARAMS, "steps": 2, "negatives": 3, "negatives_depth": 10, "min_positive_grade": 1}
    out = _train_files(
        "C", backbone, tmp_path / "model", tmp_path / "work", spec, corpus, hp, seed=1, run=tmp_path / "train.run"
    )
    assert json.loads((out / "hparams.json").read_text())["steps"] == 2


def test_two_seeds_draw_different_heads_before_the_first_step(tmp_path, groups):
    from stagewise.backbones import fresh_weight_names
    from stagewise.training.trainer import initial_model

    texts = groups[3]
    backbone = build_backbone(TINY, tmp_path / "backbone", texts.values())
    fresh = fresh_weight_names(backbone)
    assert fresh and all(n.startswith("classifier.") for n in fresh)
    one, again, two = (initial_model(backbone, s).state_dict() for s in (1, 1, 2))
    saved = weights(backbone)
    for name in saved:
        if name in fresh:
            assert torch.equal(one[name], again[name])  # the same seed draws the same head
            if name.endswith("weight"):
                assert not torch.equal(one[name], two[name]) and not torch.equal(one[name], saved[name])
        else:
            assert torch.equal(one[name], saved[name]) and torch.equal(two[name], saved[name])  # the encoder stays


def test_a_trained_model_folder_has_no_fresh_weights_so_stage_two_keeps_its_head(tmp_path, groups):
    from stagewise.backbones import fresh_weight_names
    from stagewise.training.trainer import initial_model

    queries, qrels, run, texts = groups
    backbone = build_backbone(TINY, tmp_path / "backbone", texts.values())
    data = _contrastive(queries, qrels, run, texts, negatives=3, negatives_depth=30, min_positive_grade=2, seed=0)
    stage1 = _train("C", backbone, data, tmp_path / "m", tmp_path / "w", {**HPARAMS, "steps": 2}, seed=1)
    assert fresh_weight_names(stage1) == []
    assert all(
        torch.equal(a, b) for a, b in zip(initial_model(stage1, 5).state_dict().values(), weights(stage1).values())
    )


@pytest.mark.parametrize("decay_all, exempt", [(False, 1), (True, 0)])
def test_weight_decay_all_decays_biases_and_layernorm_too(tmp_path, groups, decay_all, exempt):
    backbone = build_backbone(TINY, tmp_path / "backbone", groups[3].values())
    model = AutoModelForSequenceClassification.from_pretrained(backbone)
    module = CrossEncoderModule(
        model, settings_of("C", {"lr": 1e-3, "weight_decay": 0.01, "weight_decay_all": decay_all})
    )
    groups_ = module.configure_optimizers()["optimizer"].param_groups
    assert [g["weight_decay"] for g in groups_] == [0.01] + [0.0] * exempt
    decayed = {id(p) for p in groups_[0]["params"]}
    bias = dict(model.named_parameters())["classifier.dense.bias"]
    assert (id(bias) in decayed) == decay_all


def test_a_fixed_validation_seed_holds_out_the_same_queries_for_every_training_seed(tmp_path, groups):
    from stagewise.training.sampling import split_validation

    queries, qrels, run, texts = groups
    backbone = build_backbone(TINY, tmp_path / "backbone", texts.values())
    data = _contrastive(queries, qrels, run, texts, negatives=3, negatives_depth=30, min_positive_grade=2, seed=0)
    held = {}
    for seed in (1, 2):
        for validation_seed in (None, 42):
            hp = {**HPARAMS, "steps": 1, "validation_fraction": 0.25, "validation_seed": validation_seed}
            out = _train(
                "C",
                backbone,
                data,
                tmp_path / f"m{seed}{validation_seed}",
                tmp_path / f"w{seed}{validation_seed}",
                hp,
                seed=seed,
            )
            held[seed, validation_seed] = json.loads((out / "hparams.json").read_text())["validation_split_seed"]
    assert held == {(1, None): 1, (2, None): 2, (1, 42): 42, (2, 42): 42}
    assert split_validation(len(data), 0.25, 1)[1] != split_validation(len(data), 0.25, 2)[1]


def test_the_release_validation_split_holds_out_scikit_learns_queries_of_the_file_order(tmp_path, groups):
    from sklearn.model_selection import train_test_split

    queries, qrels, run, texts = groups
    backbone = build_backbone(TINY, tmp_path / "backbone", texts.values())
    data = _contrastive(queries, qrels, run, texts, negatives=3, negatives_depth=30, min_positive_grade=2, seed=0)
    held = set(train_test_split(list(run), test_size=0.25, random_state=42)[1])  # the run's queries, its order
    seen = []
    data_getitem = type(data).__getitem__
    hp = {
        **HPARAMS,
        "steps": 1,
        "checkpoint_every": 1,
        "validation_fraction": 0.25,
        "validation_seed": 42,
        "validation_split": "train_test_split",
    }
    try:
        type(data).__getitem__ = lambda self, key: seen.append(key) or data_getitem(self, key)
        out = _train("C", backbone, data, tmp_path / "m", tmp_path / "w", hp, seed=1)
    finally:
        type(data).__getitem__ = data_getitem
    validation = [q for q in data.query_ids if q in held]
    assert json.loads((out / "hparams.json").read_text())["validation_groups"] == len(validation) > 0
    # the validation batches (epoch 0, one pass in item order, after the training step) are exactly those groups
    assert [data.query_ids[i] for _, i in seen[-len(validation) :]] == validation
    with pytest.raises(ValueError, match=r"'training\.C\.validation_split': 'random' is not one of"):
        _train("C", backbone, data, tmp_path / "m2", tmp_path / "w2", {**hp, "validation_split": "random"}, seed=1)


def _colbert_train_run(path, queries, docs):
    """Rank-DistiLLM's __colbert__msmarco-passage-train-judged.run: TAB-separated 'qid 0 docid rank score ColBERT',
    fp16-quantized scores that tie heavily (here ranks 4-60 all score 19.0)."""
    lines = [
        f"{q}\t0\t{d}\t{r}\t{22.0 - r if r <= 3 else 19.0}\tColBERT"
        for q in queries
        for r, d in enumerate(docs, start=1)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_contrastive_pools_follow_the_rank_column_of_a_tab_separated_run_with_ties(tmp_path, tiny_dataset):
    from stagewise.io import read_run, read_run_by_rank, sorted_ranking

    spec, corpus = f"local:{tiny_dataset / 'train'}", f"local:{tiny_dataset}"
    docs = [d for d, _ in datasets.iter_docs(spec)][:60]
    run = _colbert_train_run(tmp_path / "__colbert__msmarco-passage-train-judged.run", datasets.queries(spec), docs)
    pools = read_run_by_rank(run, depth=10)
    q = next(iter(pools))
    assert pools[q] == docs[:10]
    # by score with trec_eval's tie order the cut would be another set of passages
    assert {d for d, _ in sorted_ranking(read_run(run)[q])[:10]} != set(docs[:10])
    qrels = datasets.qrels(spec)
    texts = dict(datasets.iter_docs(spec))
    data = _contrastive(
        datasets.queries(spec), qrels, pools, texts, negatives=3, negatives_depth=10, min_positive_grade=1, seed=0
    )
    pool_texts = {texts[d] for d in docs[:10]}
    assert all(set(data[i].passages[1:]) <= pool_texts for i in range(len(data)))
    backbone = build_backbone(TINY, tmp_path / "backbone", texts.values())
    hp = {**HPARAMS, "steps": 2, "negatives": 3, "negatives_depth": 10, "min_positive_grade": 1}
    out = _train_files("C", backbone, tmp_path / "model", tmp_path / "work", spec, corpus, hp, seed=1, run=run)
    assert json.loads((out / "hparams.json").read_text())["steps"] == 2


def test_distillation_trains_from_rankgpt_layout_files(tmp_path, tiny_dataset, caplog):

    spec, corpus = f"local:{tiny_dataset / 'train'}", f"local:{tiny_dataset}"
    texts = dict(datasets.iter_docs(spec))
    docs = list(texts)
    queries = datasets.queries(spec)
    qids = sorted(queries)[:6] + ["9000001"]  # the last query is not among the training queries: its text is the file's
    lines, permutations = [], []
    for n, qid in enumerate(qids):
        passages = [
            {"docid": docs[(n * 20 + r) % len(docs)], "title": "", "text": "...", "rank": r + 1, "score": 30.0 - r}
            for r in range(20)
        ]
        lines.append(
            json.dumps(
                {
                    "query_id": qid,
                    "query": queries.get(qid, "a query only the teacher saw"),
                    "positive_passages": [{"docid": passages[0]["docid"], "title": "", "text": "..."}],
                    "retrieved_passages": passages,
                }
            )
        )
        permutations.append(" > ".join(f"[{i}]" for i in range(20, 0, -1)))
    permutations[1] = permutations[1][:-1] + "]."  # a trailing period: dropped
    (tmp_path / "marco-train-100k.jsonl").write_text("\n".join(lines) + "\n")
    (tmp_path / "marco-train-100k-gpt3.5.json").write_text(json.dumps(permutations))
    teacher = {
        "candidates": str(tmp_path / "marco-train-100k.jsonl"),
        "permutations": str(tmp_path / "marco-train-100k-gpt3.5.json"),
        "ranking_size": 20,
        "malformed": "drop",
        "repeated": "keep",
    }
    backbone = build_backbone(TINY, tmp_path / "backbone", texts.values())
    hp = {**HPARAMS, "steps": 2, "group_size": 20}
    with caplog.at_level("INFO"):
        out = _train_files(
            "D", backbone, tmp_path / "model", tmp_path / "work", spec, corpus, hp, seed=1, teacher=teacher
        )
    assert json.loads((out / "hparams.json").read_text())["training_groups"] == 6
    assert "6 of 7 permutations kept, 1 dropped (1 with a token that is not an integer" in caplog.text


def _scored_teacher(folder, kind, qids, docs):
    """A teacher that gives scores for ``qids``, 8 passages each: a TREC run, or triples in the cross-encoder
    ensemble's layout (pos_score neg_score qid pid_pos pid_neg, tab-separated)."""
    if kind == "run":
        lines = [
            f"{qid} Q0 {docs[(n * 8 + r) % len(docs)]} {r + 1} {5.0 - 1.5 * r + 0.25 * n:.4f} teacher\n"
            for n, qid in enumerate(qids)
            for r in range(8)
        ]
    else:
        lines = [
            f"{7.5 + 0.25 * n}\t{2.0 - 1.5 * r}\t{qid}\t{docs[n * 8 % len(docs)]}\t{docs[(n * 8 + r) % len(docs)]}\n"
            for n, qid in enumerate(qids)
            for r in range(1, 8)
        ]
    (folder / f"teacher.{kind}").write_text("".join(lines))
    return {"labels": "scores", kind: str(folder / f"teacher.{kind}"), "depth": 8}


@pytest.mark.parametrize("loss, kind", [("margin_mse", "run"), ("kl", "triples")])
def test_distillation_trains_from_a_teacher_that_gives_scores(tmp_path, tiny_dataset, loss, kind):
    spec, corpus = f"local:{tiny_dataset / 'train'}", f"local:{tiny_dataset}"
    texts = dict(datasets.iter_docs(spec))
    teacher = _scored_teacher(tmp_path, kind, sorted(datasets.queries(spec))[:6], list(texts))
    backbone = build_backbone(TINY, tmp_path / "backbone", texts.values())
    hp = {**HPARAMS, "steps": 2, "group_size": 4, "loss": loss, "temperature": 2.0}
    out = _train_files("D", backbone, tmp_path / "model", tmp_path / "work", spec, corpus, hp, seed=1, teacher=teacher)
    hparams = json.loads((out / "hparams.json").read_text())
    assert (hparams["loss"], hparams["training_groups"]) == (loss, 6)
    assert AutoModelForSequenceClassification.from_pretrained(out).num_labels == 1


def test_a_loss_on_scores_from_a_teacher_that_ranks_stops_before_training(tmp_path, tiny_dataset):
    from stagewise.errors import ConfigError

    spec, corpus = f"local:{tiny_dataset / 'train'}", f"local:{tiny_dataset}"
    teacher = {**_scored_teacher(tmp_path, "run", sorted(datasets.queries(spec))[:2], ["a", "b"]), "labels": "ranks"}
    with pytest.raises(ConfigError, match=r"'training\.D\.loss': margin_mse distils the teacher's scores"):
        _train_files(
            "D",
            tmp_path / "no-model",
            tmp_path / "model",
            tmp_path / "work",
            spec,
            corpus,
            {**HPARAMS, "loss": "margin_mse"},
            seed=1,
            teacher=teacher,
        )
    assert not (tmp_path / "model").exists()


def test_a_checkpoint_of_another_training_is_not_resumed_and_the_changed_run_equals_a_fresh_one(
    tmp_path, groups, caplog
):
    queries, qrels, run, texts = groups
    backbone = build_backbone(TINY, tmp_path / "backbone", texts.values())
    data = _contrastive(queries, qrels, run, texts, negatives=3, negatives_depth=30, min_positive_grade=2, seed=0)
    hp = {**HPARAMS, "steps": 8, "checkpoint_every": 2}
    with pytest.raises(RuntimeError, match="job killed"):  # killed in step 6, with a checkpoint at step 4
        _train("C", backbone, _FailingAfter(data, 4 * 5), tmp_path / "model", tmp_path / "work", hp, seed=1)
    assert (tmp_path / "work" / "checkpoints" / "last.ckpt").exists()
    changed = {**hp, "lr": 5.0e-4}
    fresh = _train("C", backbone, data, tmp_path / "fresh", tmp_path / "w-fresh", changed, seed=1)
    with caplog.at_level("INFO"):
        out = _train("C", backbone, data, tmp_path / "model", tmp_path / "work", changed, seed=1)
    assert "not resuming from" in caplog.text and "(different: hparams.lr); starting over" in caplog.text
    assert "resuming from" not in caplog.text.replace("not resuming from", "")
    assert all(torch.equal(a, b) for a, b in zip(weights(out).values(), weights(fresh).values()))
    assert json.loads((out / "hparams.json").read_text())["attempts"] == 1


def test_a_changed_data_file_or_initial_model_starts_over_and_a_cosmetic_key_resumes(tmp_path, groups, caplog):
    queries, qrels, run, texts = groups
    backbone = build_backbone(TINY, tmp_path / "backbone", texts.values())
    other = build_backbone(replace(TINY, seed=5), tmp_path / "other", texts.values())
    data = _contrastive(queries, qrels, run, texts, negatives=3, negatives_depth=30, min_positive_grade=2, seed=0)
    hp = {**HPARAMS, "steps": 6, "checkpoint_every": 2}
    (tmp_path / "train.run").write_text("q Q0 d 1 1.0 t\n")

    def interrupted():
        with pytest.raises(RuntimeError, match="job killed"):
            _train(
                "C",
                backbone,
                _FailingAfter(data, 4 * 3),
                tmp_path / "m",
                tmp_path / "w",
                hp,
                seed=1,
                data_files=[tmp_path / "train.run"],
            )

    for change, expected in [
        ("data", "(different: data)"),
        ("init", "(different: init_model)"),
        ("cosmetic", "resuming from"),
    ]:
        interrupted()
        caplog.clear()
        if change == "data":
            (tmp_path / "train.run").write_text("q Q0 d 1 2.0 t\n")
        kwargs = {
            "init_model": other if change == "init" else backbone,
            "hparams": {**hp, "checkpoint_every": 3} if change == "cosmetic" else hp,
        }
        with caplog.at_level("INFO"):
            _train(
                "C",
                kwargs["init_model"],
                data,
                tmp_path / f"m-{change}",
                tmp_path / "w",
                kwargs["hparams"],
                seed=1,
                data_files=[tmp_path / "train.run"],
            )
        assert expected in caplog.text, change


@pytest.mark.parametrize("stage", ["C", "D"])
def test_training_reads_texts_from_the_document_store_with_the_same_result(tmp_path, tiny_dataset, stage):
    from stagewise.data.candidates import build_candidates
    from stagewise.data.docstore import build_offset_index

    spec, corpus = f"local:{tiny_dataset / 'train'}", f"local:{tiny_dataset}"
    docs = [d for d, _ in datasets.iter_docs(spec)][:40]
    run = _colbert_train_run(tmp_path / "train.run", datasets.queries(spec), docs)
    build_candidates(run, datasets.qrels(spec), tmp_path / "candidates", depth=10)
    build_offset_index(tiny_dataset / "docs.tsv", tmp_path / "docstore")
    backbone = build_backbone(TINY, tmp_path / "backbone", (t for _, t in datasets.iter_docs(spec)))
    own = {"C": {"negatives": 3, "negatives_depth": 10, "min_positive_grade": 1}, "D": {"group_size": 5}}[stage]
    hp = {**HPARAMS, "steps": 3, **own}
    teacher = {"run": str(run), "depth": 5}
    kwargs = {"C": {"run": run}, "D": {"teacher": teacher}}[stage]
    plain = _train_files(stage, backbone, tmp_path / "plain", tmp_path / "w1", spec, corpus, hp, seed=1, **kwargs)
    if stage == "C":
        kwargs = {"candidates": tmp_path / "candidates"}
    stored = _train_files(
        stage,
        backbone,
        tmp_path / "stored",
        tmp_path / "w2",
        spec,
        corpus,
        hp,
        seed=1,
        doc_store=tmp_path / "docstore",
        **kwargs,
    )
    assert all(torch.equal(a, b) for a, b in zip(weights(plain).values(), weights(stored).values()))


@pytest.mark.parametrize("chunk_size, passes", [(None, 1), (16, 2), (5, 6)])
def test_chunk_size_sets_the_forward_passes_of_a_micro_batch_and_not_the_scores(tmp_path, groups, chunk_size, passes):
    queries, qrels, run, texts = groups
    backbone = build_backbone(TINY, tmp_path / "backbone", texts.values())
    data = _contrastive(queries, qrels, run, texts, negatives=6, negatives_depth=30, min_positive_grade=2, seed=0)
    tokenizer = AutoTokenizer.from_pretrained(backbone)
    items = [data[i] for i in range(4)]  # 4 groups x 7 pairs = 28 pairs
    batch = GroupCollator(tokenizer, 64, chunk_size)(items)
    assert len(batch["chunks"]) == passes
    module = CrossEncoderModule(
        AutoModelForSequenceClassification.from_pretrained(backbone).eval(),
        settings_of("C", {"lr": 1e-3, "weight_decay": 0}),
    )
    with torch.no_grad():
        reference = module.scores(GroupCollator(tokenizer, 64, 1)(items))
        assert torch.allclose(module.scores(batch), reference, atol=1e-5)


def test_data_workers_draw_the_same_batches_so_the_weights_are_equal(tmp_path, tiny_dataset, caplog):
    from stagewise.data.candidates import build_candidates
    from stagewise.data.docstore import build_offset_index
    from stagewise.training.trainer import data_workers

    spec, corpus = f"local:{tiny_dataset / 'train'}", f"local:{tiny_dataset}"
    run = _colbert_train_run(
        tmp_path / "train.run", datasets.queries(spec), [d for d, _ in datasets.iter_docs(spec)][:40]
    )
    build_candidates(run, datasets.qrels(spec), tmp_path / "candidates", depth=10)
    build_offset_index(tiny_dataset / "docs.tsv", tmp_path / "docstore")
    backbone = build_backbone(TINY, tmp_path / "backbone", (t for _, t in datasets.iter_docs(spec)))
    hp = {**HPARAMS, "steps": 4, "negatives": 3, "negatives_depth": 10, "min_positive_grade": 1}
    models = {}
    for workers in (0, 2):
        with caplog.at_level("INFO"):
            models[workers] = _train_files(
                "C",
                backbone,
                tmp_path / f"m{workers}",
                tmp_path / f"w{workers}",
                spec,
                corpus,
                {**hp, "data_workers": workers},
                seed=1,
                candidates=tmp_path / "candidates",
                doc_store=tmp_path / "docstore",
            )
    assert "2 data workers draw and tokenize" in caplog.text
    assert all(torch.equal(a, b) for a, b in zip(weights(models[0]).values(), weights(models[2]).values()))
    # auto: none on the CPU, where the model uses the job's threads; the threads less one (at most 8) on a GPU
    assert (
        data_workers("auto", False, 8),
        data_workers("auto", True, 8),
        data_workers("auto", True, 32),
        data_workers("auto", True, 1),
        data_workers(3, False, 1),
    ) == (0, 7, 8, 0, 3)


def test_a_stage_two_at_the_releases_learning_rate_moves_no_weight_and_says_so(tmp_path, groups, caplog):
    queries, qrels, run, texts = groups
    backbone = build_backbone(TINY, tmp_path / "backbone", texts.values())
    data = _contrastive(queries, qrels, run, texts, negatives=3, negatives_depth=30, min_positive_grade=2, seed=0)
    stage1 = _train("C", backbone, data, tmp_path / "c", tmp_path / "w1", {**HPARAMS, "steps": 4}, seed=1)
    moved = json.loads((stage1 / "hparams.json").read_text())["movement"]
    assert moved["changed_fraction"] > 0.5 and 0 < moved["relative_l2"] < 1  # lr 2e-3 moves nearly every weight
    with caplog.at_level("WARNING"):
        stage2 = _train(
            "C", stage1, data, tmp_path / "cd", tmp_path / "w2", {**HPARAMS, "steps": 4, "lr": 6.0e-12}, seed=1
        )
    moved = json.loads((stage2 / "hparams.json").read_text())["movement"]
    # only weights below about 6e-12 x 2^24 = 1e-4 (some 0.4% of a normal(0, 0.02) init) can take a step of 6e-12
    assert moved["relative_l2"] < 1e-10 and moved["changed_fraction"] < 0.01
    assert "stage C moved no weight that matters" in caplog.text
    assert max((a - b).abs().max().item() for a, b in zip(weights(stage1).values(), weights(stage2).values())) < 1e-10
    assert "| `movement` |" in (stage2 / "README.md").read_text()


def test_training_time_is_summed_over_a_stopped_and_a_resumed_attempt(tmp_path, groups):
    queries, qrels, run, texts = groups
    backbone = build_backbone(TINY, tmp_path / "backbone", texts.values())
    data = _contrastive(queries, qrels, run, texts, negatives=3, negatives_depth=30, min_positive_grade=2, seed=0)
    hp = {**HPARAMS, "steps": 8, "checkpoint_every": 4}
    # every micro-batch sleeps 0.3 s: the first attempt stops after step 4 (the signal arrives with micro-batch 5,
    # read ahead during step 4), the second trains steps 5-8: each attempt sleeps at least 4 x 0.3 s
    with pytest.raises(TrainingInterrupted, match="after step 4 of 8"):
        _train(
            "C",
            backbone,
            _SignalAfter(data, 4 * 5 + 1, signal.SIGTERM),
            tmp_path / "model",
            tmp_path / "work",
            hp,
            seed=1,
            step_seconds=0.3,
        )
    checkpointed = torch.load(tmp_path / "work" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)[
        "stagewise_seen"
    ]["seconds"]
    assert checkpointed >= 3 * 0.3  # the checkpoint of step 4 is saved before that step's sleep
    out = _train("C", backbone, data, tmp_path / "model", tmp_path / "work", hp, seed=1, step_seconds=0.3)
    total = json.loads((out / "hparams.json").read_text())["train_seconds"]
    assert total >= checkpointed + 4 * 0.3  # the second attempt's time is added to the first's


def test_a_diverged_training_says_so_and_writes_no_model(tmp_path, groups):
    from stagewise.training.module import TrainingDiverged

    queries, qrels, run, texts = groups
    backbone = build_backbone(TINY, tmp_path / "backbone", texts.values())
    data = _contrastive(queries, qrels, run, texts, negatives=3, negatives_depth=30, min_positive_grade=2, seed=0)
    with pytest.raises(
        TrainingDiverged,
        match=r"training diverged: the loss is nan at optimizer step \d+ "
        r"\(learning rate 1e\+30\)",
    ):
        _train("C", backbone, data, tmp_path / "model", tmp_path / "work", {**HPARAMS, "steps": 6, "lr": 1e30}, seed=1)
    assert not (tmp_path / "model").exists()
