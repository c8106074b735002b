"""Train one stage of a schedule, C (contrastive) or D (distillation), each with its configured loss: a recipe of
model, loaders, Lightning Trainer, fit and export. The parts live in their own modules: callbacks (signals,
checkpoints, RNG state, progress), resume (fingerprint check, attempts, merged log), loaders, from_files (the
training groups of a stage built from files) and export (model folder, hparams.json, model card, training log)."""

from __future__ import annotations

import logging
import math
import shutil
import time
from pathlib import Path

import lightning as L
import torch
from lightning.fabric.plugins.environments import SLURMEnvironment
from lightning.pytorch.loggers import CSVLogger

from .callbacks import Checkpoints, ProgressLog, RandomState, TrainingInterrupted
from .export import export_model
from .faults import SlowSteps, fail_once
from .fingerprint import training_fingerprint
from .from_files import data_files as _data_files
from .from_files import read_teacher_rankings, training_groups
from .loaders import CPU_CHUNK, collator, data_workers, training_loader, validation_loader
from .losses import LOSSES
from .module import CrossEncoderModule
from .movement import STILL, movement
from .resume import checkpoint_path, start_attempt
from .sampling import VALIDATION_SPLITS, StepBatchSampler, split_validation, split_validation_by_query

# the names other code imports from here
__all__ = ["CPU_CHUNK", "DEFAULT_LOSS", "TrainingInterrupted", "data_workers", "initial_model", "read_teacher_rankings",
           "resolve_steps", "train_from_files", "train_stage"]

log = logging.getLogger(__name__)

DEFAULT_LOSS = {"C": "lce", "D": "ranknet"}


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


def _split(dataset, hparams: dict, seed: int) -> tuple[list[int], list[int], int]:
    """(training, validation) group indices and the seed that drew them."""
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
    return train_idx, val_idx, split_seed


def _module(model, loss: str, hparams: dict) -> CrossEncoderModule:
    model.train()  # from_pretrained returns eval mode; dropout belongs to training
    if hparams.get("freeze_position_embeddings"):
        log.info("position embeddings frozen (%d parameters)", _freeze_position_embeddings(model))
    return CrossEncoderModule(model, loss, hparams["lr"], hparams.get("weight_decay", 0.01),
                              hparams.get("warmup_steps", 0), hparams.get("temperature", 1.0),
                              weight_decay_all=hparams.get("weight_decay_all", False))


def _lightning_trainer(steps: int, hparams: dict, work_dir: Path, callbacks: list, validating: bool) -> L.Trainer:
    gpu = torch.cuda.is_available()
    accumulate = hparams.get("accumulate_grad_batches", 1)
    validation = ({"val_check_interval": hparams["checkpoint_every"] * accumulate, "check_val_every_n_epoch": None}
                  if validating else {"limit_val_batches": 0})
    # under SLURM, Lightning would handle SIGUSR1 itself (save an hpc_ckpt and `scontrol requeue`); ours works the
    # same everywhere and leaves resubmission to Snakemake's retries or SLURM's --requeue
    plugins = [SLURMEnvironment(auto_requeue=False)] if SLURMEnvironment.detect() else None
    return L.Trainer(
        max_steps=steps, accelerator="gpu" if gpu else "cpu", devices=1,
        precision=_precision(hparams.get("precision", "auto"), gpu),
        accumulate_grad_batches=accumulate, gradient_clip_val=hparams.get("gradient_clip_val", 10.0),
        logger=CSVLogger(work_dir, name="", version="log"), log_every_n_steps=1,
        callbacks=callbacks, enable_checkpointing=False, plugins=plugins,
        default_root_dir=work_dir, enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
        deterministic=True, **validation,
    )


def _warn_if_still(moved: dict, stage: str, init_model, lr: float):
    if moved["relative_l2"] < STILL:
        log.warning("stage %s moved no weight that matters: relative L2 distance %.2g from %s, %.2g%% of the entries "
                    "changed at all (lr %g: AdamW's steps of about the learning rate fall below half an fp32 ulp of "
                    "every weight larger than about lr x 2^24)", stage, moved["relative_l2"], init_model,
                    100 * moved["changed_fraction"], lr)


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
    train_idx, val_idx, split_seed = _split(dataset, hparams, seed)
    steps = resolve_steps(hparams, len(train_idx))
    gpu = torch.cuda.is_available()

    # the model
    torch.set_num_threads(max(1, threads))
    L.seed_everything(seed, workers=True, verbose=False)
    tokenizer = AutoTokenizer.from_pretrained(init_model)
    model = initial_model(init_model, seed)
    initial = {k: v.detach().clone() for k, v in model.state_dict().items()}  # to measure how far training moves
    module = _module(model, loss, hparams)
    module.attempt_started = started  # the attempt's time counts from loading the model

    # where this attempt starts
    work_dir = Path(work_dir)
    fingerprint = training_fingerprint(stage, loss, hparams, seed, init_model, data_files)
    attempt = start_attempt(work_dir, fingerprint, steps)

    # the loaders
    collate = collator(tokenizer, hparams, gpu)
    sampler = StepBatchSampler(train_idx, hparams["queries_per_batch"], seed,
                               start=attempt.steps_done * hparams.get("accumulate_grad_batches", 1))
    loader = training_loader(dataset, sampler, collate, seed,
                             data_workers(hparams.get("data_workers", "auto"), gpu, threads))
    val_loader = validation_loader(dataset, val_idx, collate, hparams["queries_per_batch"], seed)

    # the Trainer, and fit
    checkpoints = Checkpoints(checkpoint_path(work_dir), hparams["checkpoint_every"])
    trainer = _lightning_trainer(
        steps, hparams, work_dir,
        [checkpoints, RandomState(fingerprint), ProgressLog(steps, hparams.get("log_every"))]
        + ([SlowSteps(step_seconds)] if step_seconds else []) + list(callbacks), validating=val_loader is not None)
    checkpoints.install()
    try:
        trainer.fit(module, loader, val_loader,
                    ckpt_path=str(attempt.checkpoint) if attempt.checkpoint is not None else None)
    except TrainingInterrupted as stop:
        log.error("%s", stop)
        raise
    finally:
        checkpoints.uninstall()

    # the model folder
    moved = movement(initial, module.model)
    _warn_if_still(moved, stage, init_model, hparams["lr"])
    resolved = {**hparams, "stage": stage, "loss": loss, "init_model": str(init_model), "seed": seed,
                "steps": steps, "training_groups": len(train_idx), "validation_groups": len(val_idx),
                "validation_split_seed": split_seed, "attempts": attempt.number,
                "positive_policy_counts": getattr(dataset, "policy_counts", None), "movement": moved,
                "device": "gpu" if gpu else "cpu"}
    export_model(out_dir, module, tokenizer, resolved, data_files, work_dir)
    shutil.rmtree(work_dir, ignore_errors=True)
    return Path(out_dir)


def train_from_files(stage: str, init_model, out_dir, work_dir, train_queries: str, corpus: str, hparams: dict,
                     seed: int, run_path=None, teacher: dict | None = None, threads: int = 1,
                     testing: dict | None = None, cell: str = "", candidates=None, doc_store=None,
                     candidates_source=None) -> Path:
    """Build the stage's training groups from files (see ``from_files.training_groups``) and train.
    ``testing``/``cell``: the config's test-only fault injection and this job's name in it."""
    fail_once(testing, cell, work_dir)
    dataset = training_groups(stage, train_queries, corpus, hparams, seed, run_path=run_path, teacher=teacher,
                              candidates=candidates, candidates_source=candidates_source, doc_store=doc_store)
    return train_stage(stage, init_model, dataset, out_dir, work_dir, hparams, seed, threads,
                       step_seconds=(testing or {}).get("step_seconds", 0.0),
                       data_files=_data_files(stage, train_queries, corpus, run_path or candidates, teacher))
