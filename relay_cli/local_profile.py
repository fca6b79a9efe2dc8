"""The local stack's profile: how `relay --stage local` reaches the stack `make run` started.

The stack writes it when it is ready and removes it when it stops: a small JSON file (0600, it
holds the stack's generated admin key) in the stack's build directory, never in the repository.
Without it the local stage has nowhere to go, and the CLI says so instead of falling back to AWS
or to the real broker.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

LOCAL_STAGE = "local"
PROFILE_NAME = "relay-profile.json"
DEFAULT_PROFILE = Path(__file__).resolve().parents[1] / "build" / "local-stack" / PROFILE_NAME
PROFILE_VARIABLE = "RELAY_LOCAL_PROFILE"  # a stack started with another workdir


def profile_path(environ: dict[str, str] | os._Environ[str] = os.environ) -> Path:
    return Path(environ.get(PROFILE_VARIABLE) or DEFAULT_PROFILE)


def write_profile(path: Path, profile: dict[str, Any]) -> None:
    """Readable by its owner only, and never half-written: a reader sees the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        json.dump(profile, file, indent=2)
    os.chmod(partial, 0o600)  # O_CREAT's mode does not apply to a file left over from before
    os.replace(partial, path)


def read_profile(path: Path) -> dict[str, Any] | None:
    try:
        profile = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return profile if isinstance(profile, dict) else None
