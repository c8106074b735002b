"""Send a job's log records and stderr to its log file (the workflow gives every rule one)."""

import atexit
import logging
import os
import sys
import time


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
                sys.__stderr__.write(
                    f"stagewise: cannot write the log file {self.path} ({e.strerror}); "
                    "messages follow here, and the job will fail\n"
                )
        return sys.__stderr__.write(text)

    def flush(self):
        if self.failed is None:
            try:
                self.stream.flush()
            except OSError as e:
                self.failed = e
                sys.__stderr__.write(
                    f"stagewise: cannot write the log file {self.path} ({e.strerror}); the job will fail\n"
                )
        sys.__stderr__.flush()

    def isatty(self):
        return False

    def fileno(self):
        return self.stream.fileno()

    def exit_if_failed(self):
        self.flush()
        if self.failed is not None:
            sys.__stderr__.write(
                f"stagewise: the log file {self.path} is incomplete ({self.failed.strerror}): failing the job\n"
            )
            sys.__stderr__.flush()
            os._exit(1)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours} h {rest // 60:02d} min" if hours else f"{rest // 60} min {rest % 60:02d} s"


def _rate(rate: float) -> str:
    return f"{rate:.3g}" if rate < 1000 else f"{rate:,.0f}"


class Progress:
    """Progress lines of a long loop at a bounded rate: the first update, then whenever ``every`` more items are done
    or ``seconds`` have passed since the last line (whichever comes first), and the last; each says items done of
    the total, the rate and the time left, plus any ``extra`` fields (a loss, a learning rate).

        progress = Progress(log, "re-ranking", total=len(pairs), unit="pairs")
        progress.update(done)
    """

    #: the longest wait between two lines, however few items came (an instance may set its own)
    seconds = 60.0

    def __init__(self, logger, what: str, total: int | None, unit: str, every: int | None = None, initial: int = 0):
        # total None: a stream of unknown length (lines say the count and the rate)
        self.logger, self.what, self.total, self.unit = logger, what, total, unit
        self.every = every or max(1, (total or 0) // 20)
        self.start = time.monotonic()
        # initial: items done before this process started (a resumed training): not counted in the rate
        self.initial, self._last_count, self._last_time = initial, initial, None

    def update(self, done: int, **extra):
        now = time.monotonic()
        due = (
            self._last_time is None
            or (self.total is not None and done >= self.total)
            or done - self._last_count >= self.every
            or now - self._last_time >= self.seconds
        )
        if not due or done == self._last_count and self._last_time is not None:
            return False
        elapsed = max(now - self.start, 1e-9)
        rate = (done - self.initial) / elapsed
        fields = "".join(f", {k} {v:.4g}" if isinstance(v, float) else f", {k} {v}" for k, v in extra.items())
        self._last_count, self._last_time = done, now
        if self.total is None:
            self.logger.info("%s: %d %s%s, %s %s/s", self.what, done, self.unit, fields, _rate(rate), self.unit)
            return True
        left = (self.total - done) / rate if rate > 0 else float("inf")
        self.logger.info(
            "%s: %d of %d %s (%.0f%%)%s, %s %s/s, %s left",
            self.what,
            done,
            self.total,
            self.unit,
            100 * done / max(self.total, 1),
            fields,
            _rate(rate),
            self.unit,
            _duration(left) if left != float("inf") else "?",
        )
        return True


def _report_failure(kind, value, tb):
    """The job's uncaught exception: its traceback in the log, then the message as the log's last line and on the
    console (Snakemake's output shows the job's stderr): one line for an input or config error, which names the
    file, line or key; the exception's type and message otherwise."""
    import traceback

    from .errors import StagewiseError

    line = str(value) if isinstance(value, StagewiseError) else f"{kind.__name__}: {value}"
    try:
        traceback.print_exception(kind, value, tb, file=sys.stderr)
        sys.stderr.write(f"\nstagewise error: {line}\n")
        sys.stderr.flush()
    finally:
        sys.__stderr__.write(f"stagewise error: {line} (traceback in the job's log)\n")
        sys.__stderr__.flush()


def to_file(path, stdout: bool = False):
    """Route stderr and the logging module to ``path``; returns the log stream.

    Warnings and errors also go to the original stderr: Snakemake deletes a rule's log before each attempt,
    so a retried job's earlier failure (a preempted training, say) stays visible in Snakemake's output and in
    the cluster job's log. A log that cannot be written fails the job (see _LogFile). ``stdout``: the process's
    standard output goes to the log too, Python's ``print`` and C code alike (colbert-ai prints its progress). An
    uncaught error ends the log with its one-line message and shows it on the console (see _report_failure)."""
    stream = _LogFile(path)
    sys.stderr = stream
    sys.excepthook = _report_failure
    if stdout:
        sys.stdout.flush()
        os.dup2(stream.fileno(), 1)
        sys.stdout = stream
    atexit.register(stream.exit_if_failed)
    fmt = logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s")
    to_log, to_console = logging.StreamHandler(stream), logging.StreamHandler(sys.__stderr__)
    to_console.setLevel(logging.WARNING)
    for handler in (to_log, to_console):
        handler.setFormatter(fmt)
    logging.basicConfig(level=logging.INFO, handlers=[to_log, to_console], force=True)
    return stream
