"""Train one stage of a schedule: C (contrastive, LCE) or D (distillation, RankNet on teacher ranks)."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from torch.utils.data import DataLoader

from ..io import atomic_path
from .module import CrossEncoderModule
from .sampling import GroupCollator

log = logging.getLogger(__name__)

STAGE_LOSS = {"C": "lce", "D": "ranknet"}


class _EpochSeed(Callback):
    """Tell the dataset the epoch so that sampling differs between epochs but not between runs."""

    def on_train_epoch_start(self, trainer, pl_module):
        trainer.train_dataloader.dataset.epoch = trainer.current_epoch


def train_stage(stage: str, init_model, dataset, out_dir, work_dir, hparams: dict, seed: int, threads: int = 1) -> Path:
    """Fine-tune the model folder ``init_model`` on ``dataset`` (groups for this stage) with a fresh optimizer.

    ``hparams``: steps, queries_per_batch, accumulate_grad_batches, lr, weight_decay, warmup_steps,
    max_length, gradient_clip_val, checkpoint_every. Checkpoints live in ``work_dir``; a rerun after an
    interruption resumes from the last one. Writes a Hugging Face folder plus hparams.json and
    training_log.csv to ``out_dir`` atomically.
    """
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    if stage not in STAGE_LOSS:
        raise ValueError(f"stage {stage!r} is not one of {sorted(STAGE_LOSS)}")
    if len(dataset) == 0:
        raise ValueError(f"no training groups for stage {stage}: check the training queries, qrels and runs")
    torch.set_num_threads(max(1, threads))
    L.seed_everything(seed, workers=True, verbose=False)
    tokenizer = AutoTokenizer.from_pretrained(init_model)
    model = AutoModelForSequenceClassification.from_pretrained(init_model, num_labels=1)
    model.train()  # from_pretrained returns eval mode; dropout belongs to training
    module = CrossEncoderModule(model, STAGE_LOSS[stage], hparams["lr"], hparams["weight_decay"], hparams["warmup_steps"])
    generator = torch.Generator().manual_seed(seed)
    loader = DataLoader(dataset, batch_size=hparams["queries_per_batch"], shuffle=True, generator=generator,
                        collate_fn=GroupCollator(tokenizer, hparams["max_length"]), num_workers=0)
    work_dir = Path(work_dir)
    ckpt_dir = work_dir / "checkpoints"
    gpu = torch.cuda.is_available()
    trainer = L.Trainer(
        max_steps=hparams["steps"], accelerator="gpu" if gpu else "cpu", devices=1,
        precision="bf16-mixed" if gpu else "32-true",
        accumulate_grad_batches=hparams["accumulate_grad_batches"], gradient_clip_val=hparams["gradient_clip_val"],
        logger=CSVLogger(work_dir, name="", version="log"), log_every_n_steps=1,
        callbacks=[ModelCheckpoint(dirpath=ckpt_dir, save_last=True, save_top_k=0,
                                   every_n_train_steps=hparams["checkpoint_every"]), _EpochSeed()],
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
        limit_val_batches=0, deterministic=True,
    )
    last = ckpt_dir / "last.ckpt"
    if last.exists():
        log.info("resuming from %s", last)
    trainer.fit(module, loader, ckpt_path=str(last) if last.exists() else None)

    with atomic_path(out_dir) as tmp:
        module.model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        resolved = {"stage": stage, "loss": STAGE_LOSS[stage], "init_model": str(init_model), "seed": seed,
                    "training_groups": len(dataset), **hparams}
        (tmp / "hparams.json").write_text(json.dumps(resolved, indent=2, sort_keys=True) + "\n")
        metrics = work_dir / "log" / "metrics.csv"
        if metrics.exists():
            shutil.copy(metrics, tmp / "training_log.csv")
    shutil.rmtree(ckpt_dir, ignore_errors=True)
    return Path(out_dir)


def train_from_files(stage: str, init_model, out_dir, work_dir, train_queries: str, corpus: str, hparams: dict,
                     seed: int, run_path=None, teacher: dict | None = None, threads: int = 1) -> Path:
    """Build the stage's training groups from files and train: C takes hard negatives from the TREC run
    at ``run_path``; D takes the teacher's rankings (``teacher``: candidates and permutations paths)."""
    from ..data import datasets
    from ..data.teacher import read_teacher
    from ..io import read_run
    from .sampling import ContrastiveGroups, DistillationGroups

    queries = datasets.queries(train_queries)
    if stage == "C":
        qrels = datasets.qrels(train_queries)
        run = read_run(run_path)
        needed = {d for q in run for d in list(run[q])[: hparams["negatives_depth"]]}
        needed |= {d for q in qrels for d, g in qrels[q].items() if g >= hparams["min_positive_grade"]}
        texts = _texts(corpus, needed, hparams.get("random_negatives", 0))
        dataset = ContrastiveGroups(queries, qrels, run, texts, hparams["negatives"], hparams["negatives_depth"],
                                    hparams["min_positive_grade"], seed, hparams.get("random_negatives", 0))
    elif stage == "D":
        rankings = read_teacher(teacher["candidates"], teacher["permutations"])
        texts = datasets.doc_texts(corpus, {d for r in rankings.values() for d in r})
        dataset = DistillationGroups(queries, rankings, texts, hparams["group_size"], seed)
    else:
        raise ValueError(f"stage {stage!r} is not one of {sorted(STAGE_LOSS)}")
    log.info("stage %s: %d training groups", stage, len(dataset))
    return train_stage(stage, init_model, dataset, out_dir, work_dir, hparams, seed, threads)


def _texts(corpus, needed, random_negatives):
    from ..data import datasets

    if random_negatives:
        # random negatives come from the whole corpus
        return dict(datasets.iter_docs(corpus))
    return datasets.doc_texts(corpus, needed)
