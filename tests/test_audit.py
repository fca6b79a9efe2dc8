"""The dependency audit tells a vulnerable pin, an unchecked pin and a clean pin apart."""

import importlib.util
import sys
from pathlib import Path

_spec = importlib.util.spec_from_file_location("ci_audit", Path(__file__).parent.parent / ".ci" / "audit.py")
audit = sys.modules["ci_audit"] = importlib.util.module_from_spec(_spec)  # dataclasses look it up
_spec.loader.exec_module(audit)

# pip-audit's `--format json` report, as it writes it
REPORT = {
    "dependencies": [
        {"name": "requests", "version": "2.31.0", "vulns": [
            {"id": "GHSA-9wx4-h78v-vm56", "fix_versions": ["2.32.0"], "aliases": ["CVE-2024-35195"], "description": "…"},
        ]},
        {"name": "pydantic", "version": "2.14.4", "vulns": []},
        {"name": "pyotp", "skip_reason": "Dependency not found on PyPI and could not be audited: pyotp (2.12.1)"},
    ],
    "fixes": [],
}


def test_a_known_vulnerability_fails_the_audit_and_names_the_fix():
    summary = audit.summarise(REPORT)
    assert summary.failed
    assert summary.vulnerable == {"requests==2.31.0": ["GHSA-9wx4-h78v-vm56 (fixed in 2.32.0)"]}
    lines = audit.render(summary)
    assert lines[0] == "audit: 3 runtime packages, 2 checked, 1 with known vulnerabilities, 1 not checked"
    assert "VULNERABLE requests==2.31.0: GHSA-9wx4-h78v-vm56 (fixed in 2.32.0)" in lines[1]


def test_an_unchecked_package_is_reported_not_counted_as_clean():
    summary = audit.summarise({"dependencies": [REPORT["dependencies"][1], REPORT["dependencies"][2]]})
    assert not summary.failed
    assert summary.audited == ["pydantic"] and list(summary.unchecked) == ["pyotp"]
    assert audit.render(summary)[-1].strip() == "pyotp"


def test_an_advisory_without_a_fixed_release_says_so():
    summary = audit.summarise({"dependencies": [{"name": "x", "version": "1", "vulns": [{"id": "PYSEC-1", "fix_versions": []}]}]})
    assert summary.vulnerable == {"x==1": ["PYSEC-1 (fixed in no release yet)"]}
