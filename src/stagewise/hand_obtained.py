"""Inputs obtained by hand: the files and folders a config names that the workflow does not make (teacher files, an
existing training run, run-file rankers' runs, local dataset folders, checkpoint folders, a reference table).

No rule may have one as its output: Snakemake deletes a job's outputs before the job runs, and plans a job again
when its output is older than its script (as a download unpacked with its original dates is), so a rule meant to
report a missing file would delete a present one. Rules take these as plain inputs; an absent one stops the run
with :func:`absent_message` before any job runs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .config import looks_like_path, test_set_dataset
from .data.datasets import is_local, local_folder
from .locations import SYNTHETIC_DATASET, SYNTHETIC_TEACHER, TREC_DL_DATASET

#: folders the workflow makes when the config has the section (the synthetic generator's data and teacher, the
#: TREC DL builder's folders); a path in one of them is the workflow's, not a hand-obtained input
MADE_WITH_SECTION = {
    "synthetic": (str(SYNTHETIC_DATASET), str(SYNTHETIC_TEACHER)),
    "trec_dl": (str(TREC_DL_DATASET),),
}


#: what a local dataset folder holds (stagewise.data.datasets)
LOCAL_FOLDER = "a local: dataset folder holds queries.tsv and qrels.txt, and the corpus folder docs.tsv"


@dataclass(frozen=True)
class HandObtained:
    """A path the config names under ``key``; ``source`` says where to obtain it (teacher.source and the like),
    ``note`` what belongs there."""

    key: str
    path: str
    source: str | None = None
    folder: bool = False
    note: str | None = None

    def present(self) -> bool:
        path = Path(self.path).expanduser()
        return path.is_dir() if self.folder else path.is_file()

    def describe(self) -> str:
        return f"config key {self.key!r}: input {'folder' if self.folder else 'file'} not found: {self.path}"


def made_by_workflow(config: dict, path: str) -> bool:
    """Whether a rule of this config makes ``path`` (it lies in a folder of :data:`MADE_WITH_SECTION`)."""
    path = os.path.normpath(path)
    return any(
        path == folder or path.startswith(folder + os.sep)
        for section, folders in MADE_WITH_SECTION.items()
        if section in config
        for folder in folders
    )


def hand_obtained_inputs(config: dict) -> list[HandObtained]:
    """Every path a validated config names that the workflow does not make, with the config key naming it."""
    from .data import trec_dl
    from .data.prepare import is_hub_id

    found = []

    def add(key, path, source=None, folder=False, note=None):
        if not made_by_workflow(config, path):
            found.append(HandObtained(key, path, source, folder, note))

    def dataset(key, spec, names):
        if is_local(spec):
            for name in names:
                add(key, str(local_folder(spec) / name), note=LOCAL_FOLDER)

    dataset("corpus", config["corpus"], ["docs.tsv"])
    dataset("train_queries", config["train_queries"], ["queries.tsv", "qrels.txt"])
    for name, spec in config["test_sets"].items():
        key = f"test_sets.{name}" + (".dataset" if isinstance(spec, dict) else "")
        dataset(key, test_set_dataset(spec), ["queries.tsv", "qrels.txt"])
        if isinstance(spec, dict) and "corpus" in spec:
            dataset(f"test_sets.{name}.corpus", spec["corpus"], ["docs.tsv"])
    from .settings import teacher_key, teacher_sections

    for teacher_name, teacher in teacher_sections(config).items():
        for name in ("run", "triples", "candidates", "permutations"):
            if teacher.get(name):
                add(f"{teacher_key(config, teacher_name)}.{name}", teacher[name], teacher.get("source"))
    negatives = config["training"]["C"].get("negatives_run")
    if negatives:
        add("training.C.negatives_run.path", negatives["path"], negatives.get("source"))
    for name, ranker in config["rankers"].items():
        for test_set, run in ranker.get("runs", {}).items():
            add(f"rankers.{name}.runs.{test_set}", run)
        if ranker.get("checkpoint") and not is_hub_id(ranker["checkpoint"]):
            add(f"rankers.{name}.checkpoint", ranker["checkpoint"], folder=True)
        base = (ranker.get("encoder") or {}).get("base")
        if base and looks_like_path(base):
            add(f"rankers.{name}.encoder.base", base, folder=True)
    for name, reranker in config["rerankers"].items():
        if reranker.get("pretrained") and looks_like_path(reranker["pretrained"]):
            add(f"rerankers.{name}.pretrained", reranker["pretrained"], folder=True)
    if (config.get("reference") or {}).get("file"):
        add("reference.file", config["reference"]["file"])
    if "trec_dl" in config:
        for path in trec_dl.source_files(config["trec_dl"]["source"]):
            add("trec_dl.source", str(path), note="the shared data folder config/trecdl.yaml describes")
    return found


def absent_message(item: HandObtained, others=()) -> str:
    """What is missing, under which config key, where to get it; then the other absent inputs, so that one run
    names them all."""
    note = f" ({item.note})" if item.note else ""
    where = (
        f"Obtain it from {item.source} and place it at this path."
        if item.source
        else "Place it at this path or change the key."
    )
    message = f"{item.describe()}{note}. {where}"
    rest = [f"{o.key!r} ({o.path})" for o in others if o != item]
    return message + (f" Also absent: {', '.join(rest)}." if rest else "")
