"""Send a job's log records and stderr to its log file (the workflow gives every rule one)."""

import logging
import sys


def to_file(path):
    """Route stderr and the logging module to ``path``; returns the opened stream."""
    stream = open(path, "w", buffering=1, encoding="utf-8")
    sys.stderr = stream
    logging.basicConfig(stream=stream, level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s",
                        force=True)
    return stream
