"""The strategy package is pure: importing all of it loads no AWS or HTTP library and none of
the relay's adapters or flows, and its public face names only what its modules define."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import chalicelib.strategy as strategy

REPO = Path(__file__).resolve().parents[1]
MODULES = ("brackets", "entries", "holidays", "levels", "sizing", "targets", "windows")
NEVER = ("boto3", "botocore", "requests", "urllib3", "aws_lambda_powertools", "chalicelib.broker",
         "chalicelib.ledger", "chalicelib.state", "chalicelib.tokens", "chalicelib.relay", "chalicelib.services",
         "chalicelib.orders", "chalicelib.notify", "chalicelib.observability")


def test_importing_the_strategy_package_loads_no_io():
    code = ("import importlib, json, sys\n"
            f"for name in {MODULES!r}: importlib.import_module('chalicelib.strategy.' + name)\n"
            "print(json.dumps(sorted(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    loaded = set(json.loads(result.stdout.strip().splitlines()[-1]))
    assert [name for name in NEVER if name in loaded] == []


def test_the_public_face_resolves_every_name():
    assert all(getattr(strategy, name) is not None for name in strategy.__all__)
    assert sorted(strategy.__all__) == sorted(strategy._HOME)
