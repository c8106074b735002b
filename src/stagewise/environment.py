"""The environment of the workflow's jobs: variables the Snakemake process sets once (workflow/rules/common.smk) and
every job inherits, run locally or on a cluster node. Each changes what library code does far from where it is set,
so they are all set here, each for a reason given in :func:`job_environment`."""

from __future__ import annotations

import os
from pathlib import Path

from . import locations
from .data.prepare import PREPARED_ENV


def job_environment(root, source_tree=None, ir_datasets: bool = True, environ=None) -> dict[str, str]:
    """The variables the workflow's jobs run with, in ``root`` (the working directory that holds resources/), given
    the environment the workflow starts in (``environ``, default ``os.environ``); a value already set there stays:

    * ``IR_DATASETS_HOME`` (when the grid reads an ir_datasets id, ``ir_datasets``): ir_datasets' downloads and
      docstores go to resources/ir_datasets, on the shared file system, not to each node's home folder.
    * ``STAGEWISE_PREPARED_DATASETS`` (likewise; always this value): the folder of markers the prepare_dataset rule
      writes. A job reading an ir_datasets id without its marker stops at once (stagewise.data.datasets) instead of
      starting a download, every job at once and often on a node without the network.
    * ``PYTHONPATH`` (when ``source_tree`` holds stagewise): that source tree first. With
      ``--software-deployment-method conda`` the environments (envs/) hold stagewise's dependencies only, and the
      library the jobs run is the checkout's.
    * ``HF_HUB_OFFLINE=1``: jobs read checkpoints from resources/hub; the download_checkpoint rule alone goes online
      (stagewise.data.prepare.download_checkpoint).
    """
    environ = os.environ if environ is None else environ
    root = Path(root).resolve()
    variables = {}
    if ir_datasets:
        variables["IR_DATASETS_HOME"] = environ.get("IR_DATASETS_HOME", str(root / locations.IR_DATASETS_HOME))
        variables[PREPARED_ENV] = str(root / locations.PREPARED_DATASETS)
    if source_tree is not None and (Path(source_tree) / "stagewise").is_dir():
        rest = [p for p in environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != str(source_tree)]
        variables["PYTHONPATH"] = os.pathsep.join([str(source_tree), *rest])
    variables["HF_HUB_OFFLINE"] = environ.get("HF_HUB_OFFLINE", "1")
    return variables


def set_job_environment(root, source_tree=None, ir_datasets: bool = True) -> dict[str, str]:
    """Set :func:`job_environment` in this process's environment (which every job inherits); return it."""
    variables = job_environment(root, source_tree, ir_datasets)
    os.environ.update(variables)
    return variables
