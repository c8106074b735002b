"""Where a training attempt starts: from the last checkpoint of the same training (same fingerprint, see
fingerprint.py), or over; each attempt's metrics in a file of its own, merged into one training log at the end."""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch

from .fingerprint import differences

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Attempt:
    """This attempt of a training: its number (1 for the first), the checkpoint it resumes from (None: from the
    start) and the optimizer steps that checkpoint had done."""

    number: int
    checkpoint: Path | None
    steps_done: int


def checkpoint_path(work_dir) -> Path:
    """The checkpoint a training keeps in its work folder (``callbacks.Checkpoints`` writes it)."""
    return Path(work_dir) / "checkpoints" / "last.ckpt"


def attempt_logs(work_dir) -> list[Path]:
    return sorted(Path(work_dir).glob("log/metrics*.csv"))


def start_attempt(work_dir, fingerprint: dict, steps: int) -> Attempt:
    """Resume from the work folder's checkpoint when the same training wrote it; otherwise delete the folder and
    start over (and say why). The previous attempt's metrics.csv is kept as metrics-<attempt>.csv."""
    work_dir = Path(work_dir)
    last = checkpoint_path(work_dir)
    if last.exists():
        saved = torch.load(last, map_location="cpu", weights_only=False)
        changed = differences(saved.get("stagewise_fingerprint"), fingerprint)
        if changed:
            log.warning(
                "not resuming from %s: it was written by another training (different: %s); starting over",
                last,
                ", ".join(changed),
            )
            shutil.rmtree(work_dir)
    attempt = len(attempt_logs(work_dir)) + 1
    if not last.exists():
        return Attempt(attempt, None, 0)
    done = saved["global_step"]
    log.info("resuming from %s at step %d of %d (attempt %d)", last, done, steps, attempt)
    for previous in attempt_logs(work_dir):
        if previous.name == "metrics.csv":
            previous.rename(previous.with_name(f"metrics-{attempt - 1:03d}.csv"))
    return Attempt(attempt, last, done)


def merged_training_log(work_dir, out_path):
    """One training log over all attempts: an attempt's rows up to where the next one resumed."""
    import pandas as pd

    frames = [pd.read_csv(p) for p in attempt_logs(work_dir) if p.stat().st_size > 0]
    if not frames:
        return
    merged = frames[0]
    for later in frames[1:]:
        if "step" in later and len(later):
            merged = merged[merged["step"] < later["step"].min()]
        merged = pd.concat([merged, later], ignore_index=True)
    merged.to_csv(out_path, index=False)
