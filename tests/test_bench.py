"""`make bench` shows its table, not the relay's logs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# What the bench measures, in small: the relay's JSON log line, chalice local (a child process,
# as in the burst) writing to the inherited stdout and stderr, then the table.
_SCRIPT = """
import subprocess, sys
from pathlib import Path
from bench.run import output_to
from chalicelib.observability import logger

with output_to(Path(sys.argv[1])):
    logger.info("alert decided", outcome="placed")
    subprocess.run([sys.executable, "-c", "import sys; print('child out'); print('child err', file=sys.stderr)"])
    print("bench print")
print("measure | relay | baseline")
"""


def test_bench_output_holds_the_table_and_the_log_file_the_rest(tmp_path):
    log = tmp_path / "bench.log"
    result = subprocess.run([sys.executable, "-c", _SCRIPT, str(log)], cwd=REPO, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert (result.stdout, result.stderr) == ("measure | relay | baseline\n", "")
    written = log.read_text()
    assert all(text in written for text in ('"alert decided"', "child out", "child err", "bench print"))
