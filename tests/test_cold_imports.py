"""A cold instance imports only what its first alert needs (`make bench`: cold.import_ratio_p50).

Each module below serves a route, a schedule or a rotation, never the webhook; importing it in
app.py would make every cold alert wait for it again.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

NOT_ON_THE_ALERT_PATH = (
    "chalicelib.journal",  # GET /orders
    "chalicelib.flatten",  # POST /flatten, the square-off and the loss limit
    "chalicelib.strategy.targets",  # position targets, exits
    "chalicelib.strategy.entries",  # brackets and sizing
    "chalicelib.paper",  # paper trading: a live stage's first paper alert
    "chalicelib.keep_warm",  # the keep_warm schedule
    "chalicelib.premarket",  # the premarket_token_check schedule
    "chalicelib.token_page",  # GET/POST /token
    "pyotp",  # the morning rotation's TOTP code
    "aws_lambda_powertools.utilities.parameters",  # tokens.py reads SSM itself
)


def test_importing_the_app_leaves_out_what_no_alert_needs():
    code = "import json, sys; import app; print(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    imported = set(json.loads(result.stdout.strip().splitlines()[-1]))
    assert [name for name in NOT_ON_THE_ALERT_PATH if name in imported] == []


def test_the_collector_is_paused_only_while_the_app_imports():
    """app.py switches garbage collection off for its imports (a cold start's ≈ 30 ms) and must
    switch it back on: a warm instance without it would grow with every reference cycle."""
    code = ("import gc, json; before = gc.isenabled(); import app; "
            "print(json.dumps([before, gc.isenabled(), gc.get_freeze_count() > 10000]))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [True, True, True]
