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
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(full_disk / "job.log")], capture_output=True,
                            text=True, timeout=120)
    assert "the job's own work finished" in result.stdout
    assert result.returncode == 1
    assert f"cannot write the log file {full_disk / 'job.log'} (No space left on device)" in result.stderr
    assert "progress line 199" in result.stderr  # nothing is lost: what the log could not hold is on stderr


def test_a_writable_log_leaves_the_exit_status_alone(tmp_path):
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "job.log")], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0 and result.stderr == ""
    assert "progress line 199" in (tmp_path / "job.log").read_text()
