"""pip-audit on the runtime requirements (what ships to Lambda), honest about what it could not check.

pip-audit looks every pinned release up in a vulnerability service. A machine that cannot reach
one gets "could not be audited" for each package, and pip-audit still prints "No known
vulnerabilities found"; this wrapper says how many packages were really checked instead.

Exit status: 1 when any package has a known vulnerability; 1 when nothing could be audited and
AUDIT_REQUIRED=1 (a CI with network access should set it); otherwise 0, with a warning naming
every package that went unchecked.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "build" / "audit.json"
TIME_LIMIT_SECONDS = 180


@dataclass
class AuditSummary:
    audited: list[str] = field(default_factory=list)
    vulnerable: dict[str, list[str]] = field(default_factory=dict)  # "name==version" -> advisories
    unchecked: dict[str, str] = field(default_factory=dict)  # name -> why

    @property
    def failed(self) -> bool:
        return bool(self.vulnerable)


def summarise(report: dict) -> AuditSummary:
    """Classify pip-audit's JSON report (format `json`, one entry per resolved dependency)."""
    summary = AuditSummary()
    for dependency in report.get("dependencies", []):
        name = dependency["name"]
        if "skip_reason" in dependency:
            summary.unchecked[name] = dependency["skip_reason"]
            continue
        summary.audited.append(name)
        vulns = dependency.get("vulns") or []
        if vulns:
            summary.vulnerable[f"{name}=={dependency.get('version')}"] = [
                f"{v['id']} (fixed in {', '.join(v.get('fix_versions') or []) or 'no release yet'})" for v in vulns
            ]
    return summary


def render(summary: AuditSummary) -> list[str]:
    total = len(summary.audited) + len(summary.unchecked)
    lines = [f"audit: {total} runtime packages, {len(summary.audited)} checked, "
             f"{len(summary.vulnerable)} with known vulnerabilities, {len(summary.unchecked)} not checked"]
    for package, advisories in sorted(summary.vulnerable.items()):
        lines.append(f"  VULNERABLE {package}: {'; '.join(advisories)}")
    if summary.unchecked:
        lines.append("  not checked (the vulnerability service does not answer for these releases from here):")
        lines.append("    " + ", ".join(sorted(summary.unchecked)))
    return lines


def main() -> int:
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.unlink(missing_ok=True)
    required = os.environ.get("AUDIT_REQUIRED") == "1"
    try:
        run = subprocess.run(  # noqa: S603 - fixed argv: this interpreter and the repo's own files
            [sys.executable, "-m", "pip_audit", "--requirement", str(ROOT / "requirements.txt"),
             "--format", "json", "--output", str(REPORT), "--progress-spinner", "off", "--timeout", "10"],
            capture_output=True, text=True, timeout=TIME_LIMIT_SECONDS, check=False,
            env={**os.environ, "PIP_DEFAULT_TIMEOUT": "10", "PIP_RETRIES": "1"},
        )
        reason = (run.stderr.strip().splitlines() or ["no output"])[-1][:300]
    except subprocess.TimeoutExpired:  # an unreachable network can hang; the suite must go on
        reason = f"no answer within {TIME_LIMIT_SECONDS} s"
    if not REPORT.exists():
        print(f"audit: nothing was checked: pip-audit could not run ({reason})")
        return 1 if required else 0
    summary = summarise(json.loads(REPORT.read_text()))
    print("\n".join(render(summary)))
    if summary.failed:
        return 1
    return 1 if required and summary.unchecked else 0


if __name__ == "__main__":
    sys.exit(main())
