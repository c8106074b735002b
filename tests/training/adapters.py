"""The training tests' call shapes, on the typed API: settings from a dict of the keys a test sets (the others from
the schema, as a config would give them), paths as a StagePaths."""

import contextlib
import json
import os

from stagewise.data.candidates import Candidates
from stagewise.settings import TeacherSettings, stage
from stagewise.training.faults import FAULTS_ENV
from stagewise.training.sampling import ContrastiveGroups
from stagewise.training.trainer import StagePaths, TrainingFiles, train_from_files, train_stage


@contextlib.contextmanager
def slow_steps(seconds: float):
    """The test seam's slow steps (stagewise.training.faults) meanwhile."""
    saved = os.environ.get(FAULTS_ENV)
    os.environ[FAULTS_ENV] = json.dumps({"step_seconds": seconds})
    try:
        yield
    finally:
        os.environ.pop(FAULTS_ENV) if saved is None else os.environ.update({FAULTS_ENV: saved})


def train(kind, init, dataset, out, work, hparams, seed, data_files=(), step_seconds=0.0, **kwargs):
    with slow_steps(step_seconds) if step_seconds else contextlib.nullcontext():
        return train_stage(
            stage(kind, hparams), dataset, StagePaths(init, out, work, tuple(data_files)), seed, **kwargs
        )


def train_files(kind, init, out, work, queries, corpus, hparams, seed, teacher=None, **files):
    teacher = TeacherSettings.of(**teacher) if teacher is not None else None
    return train_from_files(
        stage(kind, hparams),
        TrainingFiles(queries, corpus, teacher=teacher, **files),
        StagePaths(init, out, work),
        seed,
    )


def contrastive(queries, qrels, run, texts, seed=0, **given):
    """C groups from in-memory rankings (or a Candidates store) with the C keys ``given``."""
    pools = run if isinstance(run, Candidates) else Candidates.from_run(run, qrels)
    return ContrastiveGroups(queries, pools, texts, stage("C", given), seed)
