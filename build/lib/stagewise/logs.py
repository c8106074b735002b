"""Send a job's log records and stderr to its log file (the workflow gives every rule one)."""

import atexit
import logging
import os
import sys


class _LogFile:
    """The job's stderr: writes go to the log file; once the file cannot be written (a full disk), they go to
    the original stderr, preceded by a line saying so, and the process exits with status 1 at the end even if
    the job itself went on, so that a job whose log is incomplete never counts as done."""

    def __init__(self, path):
        self.path, self.failed = path, None
        self.stream = open(path, "w", buffering=1, encoding="utf-8")

    def write(self, text):
        if self.failed is None:
            try:
                return self.stream.write(text)
            except OSError as e:
                self.failed = e
                sys.__stderr__.write(f"stagewise: cannot write the log file {self.path} ({e.strerror}); "
                                     "messages follow here, and the job will fail\n")
        return sys.__stderr__.write(text)

    def flush(self):
        if self.failed is None:
            try:
                self.stream.flush()
            except OSError as e:
                self.failed = e
                sys.__stderr__.write(f"stagewise: cannot write the log file {self.path} ({e.strerror}); "
                                     "the job will fail\n")
        sys.__stderr__.flush()

    def isatty(self):
        return False

    def fileno(self):
        return self.stream.fileno()

    def exit_if_failed(self):
        self.flush()
        if self.failed is not None:
            sys.__stderr__.write(f"stagewise: the log file {self.path} is incomplete ({self.failed.strerror}): "
                                 "failing the job\n")
            sys.__stderr__.flush()
            os._exit(1)


def to_file(path):
    """Route stderr and the logging module to ``path``; returns the log stream.

    Warnings and errors also go to the original stderr: Snakemake deletes a rule's log before each attempt,
    so a retried job's earlier failure (a preempted training, say) stays visible in Snakemake's output and in
    the cluster job's log. A log that cannot be written fails the job (see _LogFile)."""
    stream = _LogFile(path)
    sys.stderr = stream
    atexit.register(stream.exit_if_failed)
    fmt = logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s")
    to_log, to_console = logging.StreamHandler(stream), logging.StreamHandler(sys.__stderr__)
    to_console.setLevel(logging.WARNING)
    for handler in (to_log, to_console):
        handler.setFormatter(fmt)
    logging.basicConfig(level=logging.INFO, handlers=[to_log, to_console], force=True)
    return stream
