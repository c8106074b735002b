"""What determines a training's weights, so that a checkpoint is resumed only by the training that wrote it.

A checkpoint under ``resources/checkpoints/<reranker>/<schedule>/seed<n>`` carries the fingerprint of the training
that wrote it: the stage, loss and seed, the resolved hyperparameters (except the checkpoint cadence), the content
of the initial model folder and the identity of the training data files (path, and ``stagewise.io.file_identity``:
size, modification time, sampled content hash). A rerun
with another fingerprint (a changed lr, a retrained stage-1 model, a new teacher file) starts over and says why.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..io import file_identity, folder_sha256


def training_fingerprint(settings, seed: int, init_model, data_files=()) -> dict:
    """``settings``: the stage's StageSettings; its cosmetic keys (a checkpoint cadence) do not count, so a
    different value resumes."""
    return {
        "stage": settings.kind,
        "loss": settings.loss,
        "seed": seed,
        "hparams": json.loads(json.dumps(settings.determinants(), sort_keys=True, default=str)),
        "init_model": folder_sha256(init_model),  # a model folder: a second per GB
        "data": [{"path": str(Path(p).resolve()), **file_identity(p)} for p in sorted({str(p) for p in data_files})],
    }


def differences(stored: dict | None, current: dict) -> list[str]:
    """What differs between two fingerprints, as readable keys ('hparams.lr', 'init_model', 'data', ...)."""
    if not stored:
        return ["no fingerprint (written by an older stagewise)"]
    changed = []
    for key in current:
        if key == "hparams":
            old, new = stored.get("hparams", {}), current["hparams"]
            changed += [f"hparams.{k}" for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
        elif stored.get(key) != current[key]:
            changed.append(key)
    return changed
