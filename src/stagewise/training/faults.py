"""Fault injection for the workflow's own tests, and for nothing else: the environment variable STAGEWISE_FAULTS
(JSON) asks a training job to fail its first attempt or to train slowly, so that a test can show that a failed SLURM
job is retried and that a signalled job resumes. It is no config key and no parameter of any function: a real run
never sets it. ``{"fail_once": ["electra/C/seed1"], "step_seconds": 0.4}``: models named '<reranker>/<cell>/seed<n>'
(the end of their checkpoint folder) whose first attempt fails at the start; seconds every training job sleeps after
each micro-batch."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

from lightning.pytorch.callbacks import Callback

log = logging.getLogger(__name__)

#: the environment variable a test sets (SLURM jobs inherit it: the executor submits with --export=ALL)
FAULTS_ENV = "STAGEWISE_FAULTS"


class InjectedFailure(RuntimeError):
    """The failure STAGEWISE_FAULTS' ``fail_once`` asked for."""


def injected_faults(work_dir) -> list[Callback]:
    """The faults STAGEWISE_FAULTS asks of the training whose checkpoints live in ``work_dir``: raises
    InjectedFailure on the first attempt of a model listed in ``fail_once`` (the first attempt leaves a marker in the
    work folder, kept between attempts and removed when the model is saved, so the failure happens once per model
    whatever the attempt counter says); returns the callbacks that slow its steps."""
    faults = json.loads(os.environ.get(FAULTS_ENV) or "{}")
    work_dir = Path(work_dir)
    model = next((m for m in faults.get("fail_once", []) if work_dir.as_posix().endswith(m)), None)
    if model is not None:
        marker = work_dir / "injected-failure"
        if marker.exists():
            log.info("%s fail_once: %s failed once already, going on", FAULTS_ENV, model)
        else:
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text(f"{model}\n")
            message = f"{FAULTS_ENV} fail_once: injected failure of {model} (the retry will succeed)"
            log.error(message)
            raise InjectedFailure(message)
    seconds = float(faults.get("step_seconds", 0))
    return [SlowSteps(seconds)] if seconds else []


class SlowSteps(Callback):
    """Sleeps after every micro-batch, so a test can signal a job midway."""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        time.sleep(self.seconds)
