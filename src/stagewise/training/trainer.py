"""Train one stage of a schedule: C (contrastive) or D (distillation), each with its configured loss."""

from __future__ import annotations

import json
import logging
import math
import os
import random
import shutil
import signal
import threading
import time
from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.fabric.plugins.environments import SLURMEnvironment
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import CSVLogger
from torch.utils.data import DataLoader

from ..backbones import check_saved_model
from ..io import atomic_path
from ..logs import Progress
from .faults import SlowSteps, fail_once
from .fingerprint import differences, training_fingerprint
from .losses import LOSSES
from .module import CrossEncoderModule
from .movement import STILL, movement
from .sampling import VALIDATION_SPLITS, GroupCollator, StepBatchSampler, split_validation, split_validation_by_query

log = logging.getLogger(__name__)

DEFAULT_LOSS = {"C": "lce", "D": "ranknet"}
#: pairs per forward pass on the CPU when a stage does not set chunk_size (measured fastest here); a GPU scores a
#: micro-batch in one pass
CPU_CHUNK = 16


class _RandomState(Callback):
    """Checkpoints carry the random number generators' states, so that a resumed run draws the same dropout
    masks as an uninterrupted one (the batches themselves are a function of the step, see StepBatchSampler),
    and the fingerprint of the training that wrote them (see fingerprint.py)."""

    def __init__(self, fingerprint: dict | None = None):
        self.fingerprint = fingerprint

    def on_save_checkpoint(self, trainer, pl_module, checkpoint):
        checkpoint["stagewise_fingerprint"] = self.fingerprint
        checkpoint["stagewise_rng"] = {
            "torch": torch.get_rng_state(), "numpy": _numpy_state(), "python": random.getstate(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}

    def on_load_checkpoint(self, trainer, pl_module, checkpoint):
        state = checkpoint.get("stagewise_rng")
        if state:
            torch.set_rng_state(state["torch"])
            name, keys, *rest = state["numpy"]
            np.random.set_state((name, keys.numpy(), *rest))
            random.setstate(state["python"])
            if state["cuda"] is not None and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(state["cuda"])


class _ProgressLog(Callback):
    """A line in the job's log every ``every`` optimizer steps (and at most a minute apart): step of total, the
    micro-batch loss, the learning rate, steps/s and the time left."""

    def __init__(self, total: int, every: int | None):
        self.total, self.every, self.progress, self.last = total, every, None, -1

    def on_train_start(self, trainer, pl_module):
        self.progress = Progress(log, "training", self.total, "steps", every=self.every, initial=trainer.global_step)
        self.last = trainer.global_step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        step = trainer.global_step
        if step != self.last:
            self.last = step
            loss = outputs["loss"] if isinstance(outputs, dict) else outputs
            self.progress.update(step, loss=float(loss), lr=float(trainer.optimizers[0].param_groups[0]["lr"]))


class TrainingInterrupted(RuntimeError):
    """A stop signal arrived: the last checkpoint was saved; the job's next attempt resumes from it."""


class _Checkpoints(Callback):
    """Saves ``last.ckpt`` every ``every`` optimizer steps, and when SLURM says stop.

    SLURM sends SIGTERM at preemption and at the time limit (SIGKILL follows after KillWait/GraceTime), and
    ``--signal=<sig>@<seconds>`` sends a chosen signal before the limit. On SIGTERM or SIGUSR1 this callback
    lets the current optimizer step finish, saves the checkpoint and stops with TrainingInterrupted, so the job
    fails and Snakemake's ``--retries`` (or SLURM's requeue) starts an attempt that resumes from it. Checkpoints
    are written under a temporary name and renamed: a kill while writing leaves the previous one intact.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGUSR1)

    def __init__(self, path: Path, every: int):
        self.path, self.every = Path(path), every
        self.received: int | None = None
        self._saved_step, self._step_before = -1, 0
        self._previous = {}

    def install(self):
        """Called before fit: remembers the handlers to restore afterwards."""
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._on_signal)

    def on_train_start(self, trainer, pl_module):
        # Lightning registers its own SIGTERM handler when fit starts; it stops after the current micro-batch
        # without a checkpoint. Ours replaces it for the duration of training.
        if self._previous:
            for sig in self.SIGNALS:
                signal.signal(sig, self._on_signal)

    def uninstall(self):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    def _on_signal(self, signum, frame):
        if self.received is None:
            log.warning("received %s: saving a checkpoint after the current step, then stopping",
                        signal.Signals(signum).name)
        self.received = signum

    def save(self, trainer):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        trainer.save_checkpoint(tmp)
        os.replace(tmp, self.path)
        self._saved_step = trainer.global_step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if self.received is not None and self._saved_step == trainer.global_step:
            # stop here, before the next micro-batch: the previous step's metrics are logged by now
            raise TrainingInterrupted(
                f"stopped by {signal.Signals(self.received).name} after step {trainer.global_step} of "
                f"{trainer.max_steps}; checkpoint saved to {self.path}: the next attempt resumes from it")
        self._step_before = trainer.global_step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        stepped = trainer.global_step > self._step_before  # the last micro-batch of an optimizer step
        if stepped and trainer.global_step != self._saved_step and (
                trainer.global_step % self.every == 0 or self.received is not None):
            self.save(trainer)


def _numpy_state():
    """numpy's RNG state with its array as a tensor: checkpoints load with torch.load(weights_only=True)."""
    name, keys, *rest = np.random.get_state()
    return [name, torch.from_numpy(keys.copy()), *rest]


def resolve_steps(hparams: dict, n_queries: int) -> int:
    """Optimizer steps of a stage: ``steps``, or ``epochs`` passes over ``n_queries`` training queries."""
    if hparams.get("steps"):
        return int(hparams["steps"])
    if hparams.get("epochs"):
        per_step = hparams["queries_per_batch"] * hparams.get("accumulate_grad_batches", 1)
        return max(1, math.ceil(hparams["epochs"] * n_queries / per_step))
    raise ValueError("give the stage's length as 'steps' or 'epochs'")


def _precision(setting: str, gpu: bool) -> str:
    if setting == "auto":
        return "bf16-mixed" if gpu else "32-true"
    return setting


def _freeze_position_embeddings(model) -> int:
    frozen = 0
    for name, parameter in model.named_parameters():
        if "position_embeddings" in name:
            parameter.requires_grad_(False)
            frozen += parameter.numel()
    return frozen


def _attempt_logs(work_dir: Path) -> list[Path]:
    return sorted(work_dir.glob("log/metrics*.csv"))


def _merged_training_log(work_dir: Path, out_path: Path):
    """One training log over all attempts: an attempt's rows up to where the next one resumed."""
    import pandas as pd

    frames = [pd.read_csv(p) for p in _attempt_logs(work_dir) if p.stat().st_size > 0]
    if not frames:
        return
    merged = frames[0]
    for later in frames[1:]:
        if "step" in later and len(later):
            merged = merged[merged["step"] < later["step"].min()]
        merged = pd.concat([merged, later], ignore_index=True)
    merged.to_csv(out_path, index=False)


def initial_model(init_model, seed: int):
    """The model a training cell starts from: the folder's weights, with the weights its backbone records as fresh
    (the ranking head) drawn from this cell's seed, so that seeds differ in their heads, not only in data order."""
    from transformers import AutoModelForSequenceClassification

    from ..backbones import draw_fresh_weights, fresh_weight_names

    model = AutoModelForSequenceClassification.from_pretrained(init_model, num_labels=1)
    fresh = fresh_weight_names(init_model)
    if fresh:
        log.info("drew %d fresh parameters (%s) from seed %d", draw_fresh_weights(model, fresh, seed),
                 ", ".join(fresh), seed)
    return model


def train_stage(stage: str, init_model, dataset, out_dir, work_dir, hparams: dict, seed: int, threads: int = 1,
                step_seconds: float = 0.0, data_files=(), callbacks=()) -> Path:
    """Fine-tune the model folder ``init_model`` on ``dataset`` (groups for this stage) with a fresh optimizer.

    ``hparams``: steps or epochs, queries_per_batch, accumulate_grad_batches, loss, temperature, lr, weight_decay,
    warmup_steps, max_length, gradient_clip_val, checkpoint_every, freeze_position_embeddings, validation_fraction,
    validation_seed, validation_split (train_test_split: ``dataset`` has ``query_ids`` and ``file_query_ids``, see
    ``split_validation_by_query``), precision. Checkpoints live in ``work_dir``; a rerun after an interruption
    resumes from the last one and ends with the weights an uninterrupted run ends with (same machine), but only when
    the checkpoint was written by the same training (hyperparameters, initial model, ``data_files``; otherwise it
    starts over and logs why); SIGTERM or SIGUSR1 saves a checkpoint after the current step and stops with
    TrainingInterrupted. ``step_seconds`` (tests only) sleeps after every micro-batch; ``callbacks``: more Lightning
    callbacks (benchmarks time steps with one). Writes a Hugging Face folder plus hparams.json and training_log.csv
    (all attempts) to ``out_dir`` atomically.
    """
    from transformers import AutoTokenizer

    started = time.perf_counter()
    if stage not in DEFAULT_LOSS:
        raise ValueError(f"stage {stage!r} is not one of {sorted(DEFAULT_LOSS)}")
    if len(dataset) == 0:
        raise ValueError(f"no training groups for stage {stage}: check the training queries, qrels and runs")
    loss = hparams.get("loss") or DEFAULT_LOSS[stage]
    if loss not in LOSSES:
        raise ValueError(f"loss {loss!r} is not one of {LOSSES}")
    accumulate = hparams.get("accumulate_grad_batches", 1)
    validation_seed = hparams.get("validation_seed")
    split_seed = seed if validation_seed is None else validation_seed
    validation_fraction = hparams.get("validation_fraction", 0.0)
    validation_split = hparams.get("validation_split", "permutation")
    if validation_split == "train_test_split":
        train_idx, val_idx = split_validation_by_query(dataset.query_ids, dataset.file_query_ids, validation_fraction,
                                                       split_seed)
    elif validation_split == "permutation":
        train_idx, val_idx = split_validation(len(dataset), validation_fraction, split_seed)
    else:
        raise ValueError(f"validation_split {validation_split!r} is not one of {VALIDATION_SPLITS}")
    steps = resolve_steps(hparams, len(train_idx))
    torch.set_num_threads(max(1, threads))
    L.seed_everything(seed, workers=True, verbose=False)
    tokenizer = AutoTokenizer.from_pretrained(init_model)
    model = initial_model(init_model, seed)
    initial = {k: v.detach().clone() for k, v in model.state_dict().items()}  # to measure how far training moves
    model.train()  # from_pretrained returns eval mode; dropout belongs to training
    if hparams.get("freeze_position_embeddings"):
        log.info("position embeddings frozen (%d parameters)", _freeze_position_embeddings(model))
    module = CrossEncoderModule(model, loss, hparams["lr"], hparams.get("weight_decay", 0.01),
                                hparams.get("warmup_steps", 0), hparams.get("temperature", 1.0),
                                weight_decay_all=hparams.get("weight_decay_all", False))
    module.attempt_started = started  # the attempt's time counts from loading the model

    work_dir = Path(work_dir)
    ckpt_dir = work_dir / "checkpoints"
    last = ckpt_dir / "last.ckpt"
    fingerprint = training_fingerprint(stage, loss, hparams, seed, init_model, data_files)
    if last.exists():
        saved = torch.load(last, map_location="cpu", weights_only=False)
        changed = differences(saved.get("stagewise_fingerprint"), fingerprint)
        if changed:
            log.warning("not resuming from %s: it was written by another training (different: %s); starting over",
                        last, ", ".join(changed))
            shutil.rmtree(work_dir)
    start, attempt = 0, len(_attempt_logs(work_dir)) + 1
    if last.exists():
        done = saved["global_step"]
        start = done * accumulate
        log.info("resuming from %s at step %d of %d (attempt %d)", last, done, steps, attempt)
        for previous in _attempt_logs(work_dir):
            if previous.name == "metrics.csv":
                previous.rename(previous.with_name(f"metrics-{attempt - 1:03d}.csv"))
    gpu = torch.cuda.is_available()
    chunk = hparams.get("chunk_size") or (None if gpu else CPU_CHUNK)
    collate = GroupCollator(tokenizer, hparams["max_length"], chunk)
    sampler = StepBatchSampler(train_idx, hparams["queries_per_batch"], seed, start=start)
    workers = data_workers(hparams.get("data_workers", "auto"), gpu, threads)
    loader = DataLoader(dataset, batch_sampler=sampler, collate_fn=collate, num_workers=workers,
                        generator=torch.Generator().manual_seed(seed), pin_memory=gpu and workers > 0,
                        worker_init_fn=_reopen_texts if workers else None, persistent_workers=workers > 0,
                        prefetch_factor=4 if workers else None)
    if workers:
        log.info("%d data workers draw and tokenize micro-batches ahead of the model", workers)
    val_loader, validation = None, {"limit_val_batches": 0}
    if val_idx:
        size = hparams["queries_per_batch"]
        batches = [[(0, i) for i in val_idx[j:j + size]] for j in range(0, len(val_idx), size)]
        val_loader = DataLoader(dataset, batch_sampler=batches, collate_fn=collate, num_workers=0,
                                generator=torch.Generator().manual_seed(seed))
        validation = {"val_check_interval": hparams["checkpoint_every"] * accumulate, "check_val_every_n_epoch": None}
    checkpoints = _Checkpoints(last, hparams["checkpoint_every"])
    # under SLURM, Lightning would handle SIGUSR1 itself (save an hpc_ckpt and `scontrol requeue`); ours works the
    # same everywhere and leaves resubmission to Snakemake's retries or SLURM's --requeue
    plugins = [SLURMEnvironment(auto_requeue=False)] if SLURMEnvironment.detect() else None
    trainer = L.Trainer(
        max_steps=steps, accelerator="gpu" if gpu else "cpu", devices=1,
        precision=_precision(hparams.get("precision", "auto"), gpu),
        accumulate_grad_batches=accumulate, gradient_clip_val=hparams.get("gradient_clip_val", 10.0),
        logger=CSVLogger(work_dir, name="", version="log"), log_every_n_steps=1,
        callbacks=[checkpoints, _RandomState(fingerprint), _ProgressLog(steps, hparams.get("log_every"))]
        + ([SlowSteps(step_seconds)] if step_seconds else []) + list(callbacks),
        enable_checkpointing=False, plugins=plugins,
        default_root_dir=work_dir, enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
        deterministic=True, **validation,
    )
    checkpoints.install()
    try:
        trainer.fit(module, loader, val_loader, ckpt_path=str(last) if last.exists() else None)
    except TrainingInterrupted as stop:
        log.error("%s", stop)
        raise
    finally:
        checkpoints.uninstall()

    from ..reporting.model_card import SENTENCE_TRANSFORMERS, training_card

    moved = movement(initial, module.model)
    if moved["relative_l2"] < STILL:
        log.warning("stage %s moved no weight that matters: relative L2 distance %.2g from %s, %.2g%% of the entries "
                    "changed at all (lr %g: AdamW's steps of about the learning rate fall below half an fp32 ulp of "
                    "every weight larger than about lr x 2^24)", stage, moved["relative_l2"], init_model,
                    100 * moved["changed_fraction"], hparams["lr"])
    with atomic_path(out_dir) as tmp:
        # sentence-transformers' CrossEncoder loads the folder with our scores: identity activation, our max length
        module.model.config.sentence_transformers = dict(SENTENCE_TRANSFORMERS)
        tokenizer.model_max_length = hparams["max_length"]
        module.model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        check_saved_model(tmp, module.model)
        resolved = {**hparams, "stage": stage, "loss": loss, "init_model": str(init_model), "seed": seed,
                    "steps": steps, "training_groups": len(train_idx), "validation_groups": len(val_idx),
                    "validation_split_seed": split_seed,
                    "attempts": attempt, "positive_policy_counts": getattr(dataset, "policy_counts", None),
                    "pairs_seen": module.seen["pairs"], "tokens_seen": module.seen["tokens"],
                    # from loading the model to saving it, every attempt up to its last checkpoint
                    "train_seconds": round(module.seconds(), 3), "movement": moved,
                    "device": "gpu" if gpu else "cpu"}
        (tmp / "hparams.json").write_text(json.dumps(resolved, indent=2, sort_keys=True) + "\n")
        (tmp / "README.md").write_text(training_card(resolved, [str(p) for p in data_files]))
        _merged_training_log(work_dir, tmp / "training_log.csv")
    shutil.rmtree(work_dir, ignore_errors=True)
    return Path(out_dir)


def data_workers(setting, gpu: bool, threads: int) -> int:
    """The DataLoader's worker processes for a stage's ``data_workers`` setting (see the config schema)."""
    if setting != "auto":
        return int(setting)
    return min(8, max(0, threads - 1)) if gpu else 0


def _reopen_texts(worker_id):
    """In each data worker: a text store of its own (ir_datasets' docstore reads with seek + read, and forked
    workers would share the parent's file positions); the tokenizer's own thread pool off (the workers are the
    parallelism)."""
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    dataset = torch.utils.data.get_worker_info().dataset
    if hasattr(dataset.texts, "reopen"):
        dataset.texts = dataset.texts.reopen()


def train_from_files(stage: str, init_model, out_dir, work_dir, train_queries: str, corpus: str, hparams: dict,
                     seed: int, run_path=None, teacher: dict | None = None, threads: int = 1,
                     testing: dict | None = None, cell: str = "", candidates=None, doc_store=None,
                     candidates_source=None) -> Path:
    """Build the stage's training groups from files and train: C takes hard negatives from a candidates store
    (``candidates``, see stagewise.data.candidates) or the TREC run at ``run_path``; D takes the teacher's rankings
    (``teacher``: the config's teacher section). Texts are read when a group is drawn, from ``doc_store`` (a local
    corpus's offset index) or ir_datasets' docstore; a local corpus without an index is read into memory.
    ``testing``/``cell``: the config's test-only fault injection and this job's name in it. ``candidates_source``: the
    training run the candidates store was built from, checked to be that file (``Candidates.open``)."""
    from ..data import datasets
    from ..data.candidates import Candidates
    from ..io import read_run_by_rank
    from .sampling import ContrastiveGroups, DistillationGroups

    fail_once(testing, cell, work_dir)
    queries = datasets.queries(train_queries)
    if stage == "C":
        # each query's top-negatives_depth by the run's rank column (not its line order; ties in score do not move
        # the cut), as the released code cuts its ColBERTv2 training run: from the store the training_candidates
        # rule built (memory-mapped), or read here from a run file
        if candidates is not None:
            pools = Candidates.open(candidates, source=candidates_source)
            if pools.meta.get("depth", 0) < hparams["negatives_depth"]:
                raise ValueError(f"the candidates store {candidates} holds the top {pools.meta.get('depth')}, "
                                 f"training.C.negatives_depth asks for {hparams['negatives_depth']}")
        else:
            pools = Candidates.from_rankings(read_run_by_rank(run_path, hparams["negatives_depth"]),
                                             datasets.qrels(train_queries))
        texts = _texts(corpus, pools.docids, hparams.get("random_negatives", 0), doc_store)
        dataset = ContrastiveGroups(queries, {}, pools, texts, hparams["negatives"], hparams["negatives_depth"],
                                    hparams["min_positive_grade"], seed, hparams.get("random_negatives", 0),
                                    hparams.get("positive_policy", "add"))
        counts = dataset.policy_counts
        log.info("positives (policy %s): %d queries with a positive in the top %d, %d added from qrels, "
                 "%d dropped, %d kept with an arbitrary target, %d without any positive skipped",
                 hparams.get("positive_policy", "add"), counts["retrieved"], hparams["negatives_depth"],
                 counts["added"], counts["dropped"], counts["kept"], counts["no_positive"])
    elif stage == "D":
        ranked = read_teacher_rankings(teacher)
        # the query text the teacher ranked for (RankGPT's candidates carry it), else the training queries'
        queries = {**queries, **ranked.queries}
        texts = _texts(corpus, {d for r in ranked.rankings.values() for d in r}, 0, doc_store)
        dataset = DistillationGroups(queries, ranked.rankings, texts, hparams["group_size"], seed,
                                     ranking_size=teacher.get("ranking_size") if "run" not in teacher else None)
        if dataset.without_query:
            log.warning("teacher: %d of %d rankings skipped: their query is neither in the teacher's candidates nor "
                        "in %s", dataset.without_query, len(ranked.rankings), train_queries)
    else:
        raise ValueError(f"stage {stage!r} is not one of {sorted(DEFAULT_LOSS)}")
    log.info("stage %s: %d training groups", stage, len(dataset))
    return train_stage(stage, init_model, dataset, out_dir, work_dir, hparams, seed, threads,
                       step_seconds=(testing or {}).get("step_seconds", 0.0),
                       data_files=_data_files(stage, train_queries, corpus, run_path or candidates, teacher))


def _data_files(stage, train_queries, corpus, run_path, teacher) -> list:
    """The files a stage's training groups come from (local datasets, the run, the teacher's files)."""
    from ..data import datasets

    files = []
    for spec in (train_queries, corpus):
        if datasets.is_local(spec):
            folder = datasets.local_folder(spec)
            files += [p for p in (folder / "queries.tsv", folder / "qrels.txt", folder / "docs.tsv") if p.exists()]
    if stage == "C":
        path = Path(run_path)
        files += sorted(path.iterdir()) if path.is_dir() else [path]
    else:
        files += [teacher[k] for k in ("run", "candidates", "permutations") if teacher.get(k)]
    return files


def read_teacher_rankings(teacher: dict):
    """The teacher section of a config: a TREC run, or RankGPT candidates + permutations (md5-checked);
    a ``stagewise.data.teacher.Teacher``."""
    from ..data.teacher import check_md5, read_teacher, read_teacher_run

    md5 = teacher.get("md5") or {}
    if teacher.get("run"):
        check_md5(teacher["run"], md5.get("run"))
        return read_teacher_run(teacher["run"], teacher.get("depth", 20))
    check_md5(teacher["candidates"], md5.get("candidates"))
    check_md5(teacher["permutations"], md5.get("permutations"))
    return read_teacher(teacher["candidates"], teacher["permutations"], teacher["ranking_size"],
                        teacher["malformed"], teacher["repeated"])


def _texts(corpus, needed, random_negatives, doc_store=None):
    """A docid -> text mapping for the training groups: a store read on demand where there is one."""
    from ..data import datasets
    from ..data.docstore import open_doc_store

    if doc_store is not None or (not datasets.is_local(corpus) and not random_negatives):
        store = open_doc_store(corpus, doc_store)
        # against an offset index in one vectorized pass; ir_datasets' docstore is the corpus the runs came from
        if doc_store is not None:
            ids = np.asarray(sorted(needed) if isinstance(needed, set) else needed)
            known = store.docids  # sorted: one vectorized binary search, no sorted copy of both arrays
            at = np.minimum(np.searchsorted(known, ids), max(len(known) - 1, 0))
            missing = ids[known[at] != ids] if len(ids) and len(known) else ids
            if len(missing):
                raise ValueError(f"{len(missing)} training passages are not in the corpus {corpus}, e.g. "
                                 f"{missing[:3].tolist()}")
        return store
    if random_negatives:
        # random negatives come from the whole corpus
        return dict(datasets.iter_docs(corpus))
    return datasets.doc_texts(corpus, needed.tolist() if isinstance(needed, np.ndarray) else needed)
