"""Lightning callbacks of a training run: checkpoints on a cadence and on a stop signal, the random number generators'
states in every checkpoint, and a progress line in the job's log."""

from __future__ import annotations

import logging
import os
import random
import signal
import threading
from pathlib import Path

import numpy as np
import torch
from lightning.pytorch.callbacks import Callback

from ..logs import Progress

log = logging.getLogger(__name__)


class TrainingInterrupted(RuntimeError):
    """A stop signal arrived: the last checkpoint was saved; the job's next attempt resumes from it."""


class Checkpoints(Callback):
    """Saves ``last.ckpt`` every ``every`` optimizer steps, and when SLURM says stop.

    SLURM sends SIGTERM at preemption and at the time limit (SIGKILL follows after KillWait/GraceTime), and
    ``--signal=<sig>@<seconds>`` sends a chosen signal before the limit. On SIGTERM or SIGUSR1 this callback
    lets the current optimizer step finish, saves the checkpoint and stops with TrainingInterrupted, so the job
    fails and Snakemake's ``--retries`` (or SLURM's requeue) starts an attempt that resumes from it. Checkpoints
    are written under a temporary name and renamed: a kill while writing leaves the previous one intact. At a step
    where the held-out queries are evaluated (every ``evaluate_every`` steps and the last; None: never), the checkpoint is saved
    after the evaluation, so that it holds the evaluation's outcome (the best weights so far, see selection.py).
    """

    SIGNALS = (signal.SIGTERM, signal.SIGUSR1)

    def __init__(self, path: Path, every: int, evaluate_every: int | None = None):
        self.path, self.every, self.evaluate_every = Path(path), every, evaluate_every
        self.received: int | None = None
        self._saved_step, self._step_before = -1, 0
        self._after_evaluation = False
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
            log.warning(
                "received %s: saving a checkpoint after the current step, then stopping", signal.Signals(signum).name
            )
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
                f"{trainer.max_steps}; checkpoint saved to {self.path}: the next attempt resumes from it"
            )
        self._step_before = trainer.global_step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        stepped = trainer.global_step > self._step_before  # the last micro-batch of an optimizer step
        if (
            stepped
            and trainer.global_step != self._saved_step
            and (trainer.global_step % self.every == 0 or self.received is not None)
        ):
            step = trainer.global_step
            if self.evaluate_every and (step % self.evaluate_every == 0 or step == trainer.max_steps):
                self._after_evaluation = True  # Lightning evaluates after this hook: save then
            else:
                self.save(trainer)

    def on_validation_end(self, trainer, pl_module):
        if self._after_evaluation:
            self._after_evaluation = False
            self.save(trainer)


class RandomState(Callback):
    """Checkpoints carry the random number generators' states, so that a resumed run draws the same dropout
    masks as an uninterrupted one (the batches themselves are a function of the step, see StepBatchSampler),
    and the fingerprint of the training that wrote them (see fingerprint.py)."""

    def __init__(self, fingerprint: dict | None = None):
        self.fingerprint = fingerprint

    def on_save_checkpoint(self, trainer, pl_module, checkpoint):
        checkpoint["stagewise_fingerprint"] = self.fingerprint
        checkpoint["stagewise_rng"] = {
            "torch": torch.get_rng_state(),
            "numpy": _numpy_state(),
            "python": random.getstate(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        }

    def on_load_checkpoint(self, trainer, pl_module, checkpoint):
        state = checkpoint.get("stagewise_rng")
        if state:
            torch.set_rng_state(state["torch"])
            name, keys, *rest = state["numpy"]
            np.random.set_state((name, keys.numpy(), *rest))
            random.setstate(state["python"])
            if state["cuda"] is not None and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(state["cuda"])


def _numpy_state():
    """numpy's RNG state with its array as a tensor: checkpoints load with torch.load(weights_only=True)."""
    name, keys, *rest = np.random.get_state()
    return [name, torch.from_numpy(keys.copy()), *rest]


class ProgressLog(Callback):
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
