"""Send a job's log records and stderr to its log file (the workflow gives every rule one)."""

import logging
import sys


def to_file(path):
    """Route stderr and the logging module to ``path``; returns the opened stream.

    Warnings and errors also go to the original stderr: Snakemake deletes a rule's log before each attempt,
    so a retried job's earlier failure (a preempted training, say) stays visible in Snakemake's output and in
    the cluster job's log."""
    stream = open(path, "w", buffering=1, encoding="utf-8")
    sys.stderr = stream
    fmt = logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s")
    to_log, to_console = logging.StreamHandler(stream), logging.StreamHandler(sys.__stderr__)
    to_console.setLevel(logging.WARNING)
    for handler in (to_log, to_console):
        handler.setFormatter(fmt)
    logging.basicConfig(level=logging.INFO, handlers=[to_log, to_console], force=True)
    return stream
