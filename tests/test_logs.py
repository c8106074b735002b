import subprocess
import sys

SCRIPT = """
import logging, sys
from stagewise.logs import to_file
to_file(sys.argv[1])
for i in range(200):
    logging.getLogger("job").info("progress line %d %s", i, "x" * 500)
print("the job's own work finished", file=sys.stdout)
"""


def test_a_log_the_disk_cannot_hold_fails_the_job_with_a_message_on_stderr(full_disk):
    (full_disk / "filler").write_bytes(b"\0" * (512 * 1024 - 4096))  # leave one page: the log's first lines fit
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(full_disk / "job.log")], capture_output=True, text=True, timeout=120
    )
    assert "the job's own work finished" in result.stdout
    assert result.returncode == 1
    assert f"cannot write the log file {full_disk / 'job.log'} (No space left on device)" in result.stderr
    assert "progress line 199" in result.stderr  # nothing is lost: what the log could not hold is on stderr


def test_a_writable_log_leaves_the_exit_status_alone(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "job.log")], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0 and result.stderr == ""
    assert "progress line 199" in (tmp_path / "job.log").read_text()


def test_progress_lines_come_at_a_bounded_rate_with_rate_and_time_left(caplog):
    import logging

    from stagewise.logs import Progress

    logger = logging.getLogger("progress-test")
    with caplog.at_level("INFO", logger="progress-test"):
        progress = Progress(logger, "scoring", total=1000, unit="pairs")
        progress.seconds = 3600  # no line for the time passed, on a slow machine too
        said = [n for n in range(1, 1001) if progress.update(n)]
        stream = Progress(logger, "indexing", total=None, unit="documents", every=400)
        stream.seconds = 3600
        streamed = [n for n in range(100, 1001, 100) if stream.update(n)]
    assert said == [1, *range(51, 1000, 50), 1000]  # the first, then every 50 (a twentieth), and the last
    assert streamed == [100, 500, 900]
    first = caplog.records[0].getMessage()
    assert first.startswith("scoring: 1 of 1000 pairs (0%), ") and " pairs/s, " in first and first.endswith(" left")
    assert caplog.records[len(said)].getMessage().startswith("indexing: 100 documents, ")
    resumed = Progress(logger, "training", total=10, unit="steps", initial=8)
    assert resumed.update(9) and not resumed.update(9)  # no second line for the same count


def test_a_failed_job_ends_its_log_with_the_message_and_shows_it_on_the_console(tmp_path):
    script = """
import sys
from stagewise.logs import to_file
from stagewise.errors import InputFormatError
to_file(sys.argv[1])
def read():
    raise InputFormatError("runs/x.run", "expected 6 columns 'qid Q0 docid rank score tag', got 5", 7)
read()
"""
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "job.log")], capture_output=True, text=True, timeout=120
    )
    message = "runs/x.run:7: expected 6 columns 'qid Q0 docid rank score tag', got 5"
    assert result.returncode == 1
    assert result.stderr == f"stagewise error: {message} (traceback in the job's log)\n"
    log = (tmp_path / "job.log").read_text().splitlines()
    assert log[-1] == f"stagewise error: {message}" and "Traceback (most recent call last):" in log
