"""Train one stage of a schedule, C (contrastive) or D (distillation), each with its configured loss: a recipe of
model, loaders, Lightning Trainer, fit and export. The parts live in their own modules: callbacks (signals,
checkpoints, RNG state, progress), resume (fingerprint check, attempts, merged log), loaders, from_files (the
training groups of a stage built from files) and export (model folder, hparams.json, model card, training log)."""

from __future__ import annotations

import logging
import math
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path

import lightning as L
import torch
from lightning.fabric.plugins.environments import SLURMEnvironment
from lightning.pytorch.loggers import CSVLogger

from .callbacks import Checkpoints, ProgressLog, RandomState, TrainingInterrupted
from .export import export_model
from .faults import injected_faults
from .fingerprint import training_fingerprint
from .from_files import TrainingFiles, data_files, read_teacher_rankings, training_groups
from .loaders import CPU_CHUNK, collator, data_workers, training_loader, validation_loader
from .losses import LOSSES
from .module import CrossEncoderModule
from .movement import STILL, movement
from .resume import checkpoint_path, start_attempt
from .sampling import VALIDATION_SPLITS, StepBatchSampler, split_validation, split_validation_by_query
from .selection import Selection

# the names other code imports from here
__all__ = [
    "CPU_CHUNK",
    "StagePaths",
    "TrainingFiles",
    "TrainingInterrupted",
    "data_workers",
    "initial_model",
    "read_teacher_rankings",
    "resolve_steps",
    "train_from_files",
    "train_stage",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StagePaths:
    """Where a training stage starts, writes and keeps its checkpoints, and the files its groups come from."""

    init: Path | str  #: the model folder it starts from
    out: Path | str  #: the model folder it writes (atomically)
    work: Path | str  #: its checkpoints, kept between attempts (a rerun resumes from them)
    data: tuple = ()  #: the files its training groups came from (the fingerprint records them)


def resolve_steps(settings, n_queries: int) -> int:
    """Optimizer steps of a stage: ``steps``, or ``epochs`` passes over ``n_queries`` training queries."""
    if settings.steps:
        return int(settings.steps)
    if settings.epochs:
        per_step = settings.queries_per_batch * settings.accumulate_grad_batches
        return max(1, math.ceil(settings.epochs * n_queries / per_step))
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
        log.info(
            "drew %d fresh parameters (%s) from seed %d", draw_fresh_weights(model, fresh, seed), ", ".join(fresh), seed
        )
    return model


def _split(dataset, settings, seed: int) -> tuple[list[int], list[int], int]:
    """(training, validation) group indices and the seed that drew them."""
    split_seed = seed if settings.validation_seed is None else settings.validation_seed
    validation_fraction, validation_split = settings.validation_fraction, settings.validation_split
    if validation_split == "train_test_split":
        train_idx, val_idx = split_validation_by_query(
            dataset.query_ids, dataset.file_query_ids, validation_fraction, split_seed
        )
    elif validation_split == "permutation":
        train_idx, val_idx = split_validation(len(dataset), validation_fraction, split_seed)
    else:
        raise ValueError(f"validation_split {validation_split!r} is not one of {VALIDATION_SPLITS}")
    return train_idx, val_idx, split_seed


def _module(model, settings) -> CrossEncoderModule:
    model.train()  # from_pretrained returns eval mode; dropout belongs to training
    if settings.freeze_position_embeddings:
        log.info("position embeddings frozen (%d parameters)", _freeze_position_embeddings(model))
    return CrossEncoderModule(model, settings)


def _lightning_trainer(steps: int, settings, work_dir: Path, callbacks: list, validating: bool) -> L.Trainer:
    gpu = torch.cuda.is_available()
    accumulate = settings.accumulate_grad_batches
    validation = (
        {"val_check_interval": settings.evaluation_interval * accumulate, "check_val_every_n_epoch": None}
        if validating
        else {"limit_val_batches": 0}
    )
    # under SLURM, Lightning would handle SIGUSR1 itself (save an hpc_ckpt and `scontrol requeue`); ours works the
    # same everywhere and leaves resubmission to Snakemake's retries or SLURM's --requeue
    plugins = [SLURMEnvironment(auto_requeue=False)] if SLURMEnvironment.detect() else None
    return L.Trainer(
        max_steps=steps,
        accelerator="gpu" if gpu else "cpu",
        devices=1,
        precision=_precision(settings.precision, gpu),
        accumulate_grad_batches=accumulate,
        gradient_clip_val=settings.gradient_clip_val,
        logger=CSVLogger(work_dir, name="", version="log"),
        log_every_n_steps=1,
        callbacks=callbacks,
        enable_checkpointing=False,
        plugins=plugins,
        default_root_dir=work_dir,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        deterministic=True,
        **validation,
    )


def _warn_if_still(moved: dict, stage: str, init_model, lr: float):
    if moved["relative_l2"] < STILL:
        log.warning(
            "stage %s moved no weight that matters: relative L2 distance %.2g from %s, %.2g%% of the entries "
            "changed at all (lr %g: AdamW's steps of about the learning rate fall below half an fp32 ulp of "
            "every weight larger than about lr x 2^24)",
            stage,
            moved["relative_l2"],
            init_model,
            100 * moved["changed_fraction"],
            lr,
        )


def train_stage(settings, dataset, paths: StagePaths, seed: int, threads: int = 1, callbacks=()) -> Path:
    """Fine-tune the model folder ``paths.init`` on ``dataset`` (groups for this stage) with a fresh optimizer.

    ``settings``: the stage's ``stagewise.settings.StageSettings`` (its kind, C or D, and every hyperparameter;
    validation_split train_test_split needs a ``dataset`` with ``query_ids`` and ``file_query_ids``, see
    ``split_validation_by_query``). Checkpoints live in ``paths.work``; a rerun after an interruption resumes from the
    last one and ends with the weights an uninterrupted run ends with (same machine), but only when the checkpoint was
    written by the same training (settings, initial model, ``paths.data``; otherwise it starts over and logs why);
    SIGTERM or SIGUSR1 saves a checkpoint after the current step and stops with TrainingInterrupted. ``callbacks``:
    more Lightning callbacks (benchmarks time steps with one). Writes a Hugging Face folder plus hparams.json and
    training_log.csv (all attempts) to ``paths.out`` atomically.
    """
    from transformers import AutoTokenizer

    started = time.perf_counter()
    stage, loss, work_dir = settings.kind, settings.loss, Path(paths.work)
    callbacks = [*injected_faults(work_dir), *callbacks]  # the test suite's seam (see faults.py); none in a real run
    if len(dataset) == 0:
        raise ValueError(f"no training groups for stage {stage}: check the training queries, qrels and runs")
    if loss not in LOSSES:
        raise ValueError(f"loss {loss!r} is not one of {LOSSES}")
    train_idx, val_idx, split_seed = _split(dataset, settings, seed)
    steps = resolve_steps(settings, len(train_idx))
    gpu = torch.cuda.is_available()

    # the model
    torch.set_num_threads(max(1, threads))
    L.seed_everything(seed, workers=True, verbose=False)
    tokenizer = AutoTokenizer.from_pretrained(paths.init)
    model = initial_model(paths.init, seed)
    initial = {k: v.detach().clone() for k, v in model.state_dict().items()}  # to measure how far training moves
    module = _module(model, settings)
    module.attempt_started = started  # the attempt's time counts from loading the model

    # where this attempt starts
    hparams = settings.as_dict()
    fingerprint = training_fingerprint(settings, seed, paths.init, paths.data)
    attempt = start_attempt(work_dir, fingerprint, steps)

    # the loaders
    collate = collator(tokenizer, settings, gpu)
    sampler = StepBatchSampler(
        train_idx, settings.queries_per_batch, seed, start=attempt.steps_done * settings.accumulate_grad_batches
    )
    loader = training_loader(dataset, sampler, collate, seed, data_workers(settings.data_workers, gpu, threads))
    val_loader = validation_loader(dataset, val_idx, collate.with_judgments(), settings.queries_per_batch, seed)
    validating = val_loader is not None

    # the Trainer, and fit
    checkpoints = Checkpoints(
        checkpoint_path(work_dir), settings.checkpoint_every, settings.evaluation_interval if validating else None
    )
    selection = Selection(checkpoint_path(work_dir).parent, settings.select_metric, fingerprint)
    trainer = _lightning_trainer(
        steps,
        settings,
        work_dir,
        [
            *([selection] if validating else []),
            checkpoints,
            RandomState(fingerprint),
            ProgressLog(steps, settings.log_every),
            *callbacks,
        ],
        validating=validating,
    )
    checkpoints.install()
    try:
        trainer.fit(
            module, loader, val_loader, ckpt_path=str(attempt.checkpoint) if attempt.checkpoint is not None else None
        )
    except TrainingInterrupted as stop:
        log.error("%s", stop)
        raise
    finally:
        checkpoints.uninstall()
    if validating and selection.last_step != trainer.global_step:
        trainer.validate(module, val_loader, verbose=False)  # the last weights are evaluated too

    # the model folder
    moved = movement(initial, module.model)
    _warn_if_still(moved, stage, paths.init, settings.lr)
    resolved = {
        **hparams,
        "stage": stage,
        "loss": loss,
        "init_model": str(paths.init),
        "seed": seed,
        "steps": steps,
        "training_groups": len(train_idx),
        "validation_groups": len(val_idx),
        "validation_split_seed": split_seed,
        "attempts": attempt.number,
        "positive_policy_counts": getattr(dataset, "policy_counts", None),
        "movement": moved,
        "device": "gpu" if gpu else "cpu",
    }
    other = None
    if validating:
        resolved["selection"] = selection.record(settings.select)
        other = _select(module, selection, resolved["selection"]["selected"])
    export_model(paths.out, module, tokenizer, resolved, paths, other)
    shutil.rmtree(work_dir, ignore_errors=True)
    return Path(paths.out)


def _select(module, selection: Selection, selected: str) -> tuple[str, dict] | None:
    """Load the ``selected`` weights (best or last) into ``module``; the other one's name and weights (None when no
    evaluation gave a best)."""
    if selection.best_weights is None:
        return None
    if selected == "last":
        return "best", selection.best_weights
    last = {k: v.detach().cpu().clone() for k, v in module.model.state_dict().items()}
    module.model.load_state_dict(selection.best_weights)
    return "last", last


def train_from_files(settings, files: TrainingFiles, paths: StagePaths, seed: int, threads: int = 1) -> Path:
    """Build the stage's training groups from ``files`` (see ``from_files.training_groups``) and train."""
    dataset = training_groups(settings, files, seed)
    return train_stage(settings, dataset, replace(paths, data=tuple(data_files(settings.kind, files))), seed, threads)
