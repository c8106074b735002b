"""Test-only fault injection (the config's ``testing:`` section): the workflow's own tests use it to show that
a failed SLURM job is retried and that a signalled training job resumes. Real configs leave it out."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from lightning.pytorch.callbacks import Callback

log = logging.getLogger(__name__)


class InjectedFailure(RuntimeError):
    """The failure ``testing.fail_once`` asked for."""


def fail_once(testing: dict | None, cell: str, work_dir) -> None:
    """Fail the first attempt of a training cell listed in ``testing.fail_once``; later attempts go on.

    The first attempt leaves a marker in the cell's work folder (kept between attempts, removed when the
    model is saved), so the failure happens once per cell whatever the attempt counter says.
    """
    if not testing or cell not in testing.get("fail_once", []):
        return
    marker = Path(work_dir) / "injected-failure"
    if marker.exists():
        log.info("testing.fail_once: %s failed once already, going on", cell)
        return
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(f"{cell}\n")
    message = f"testing.fail_once: injected failure of {cell} (the retry will succeed)"
    log.error(message)
    raise InjectedFailure(message)


class SlowSteps(Callback):
    """Sleeps after every optimizer step (``testing.step_seconds``), so a test can signal a job midway."""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        time.sleep(self.seconds)
