"""Findings on disk: ``--save-failures DIR`` writes each one; ``tasktail replay FILE`` reads it."""

from __future__ import annotations

import json
import os
import re
from typing import Any

from ._findings import Finding
from ._subject import Subject

__all__ = ["factory_spec", "save_finding"]


def factory_spec(factory: Any) -> str | None:
    """``module:qualname`` when the factory can be imported back, else None."""
    module, qualname = getattr(factory, "__module__", None), getattr(factory, "__qualname__", "")
    if not module or "<" in qualname:
        return None
    return f"{module}:{qualname}"


def save_finding(finding: Finding, directory: str, factory: Any, subject: Subject) -> str:
    """Write ``finding`` as JSON under ``directory``; one file per finding; returns the path."""
    os.makedirs(directory, exist_ok=True)
    what = finding.check or "program"
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{finding.rule}-{finding.kind}-{what}-{finding.backend}")
    path = os.path.join(directory, f"{stem}.json")
    n = 1
    while os.path.exists(path):
        n += 1
        path = os.path.join(directory, f"{stem}-{n}.json")
    data = {"factory": factory_spec(factory), "backend": finding.backend, "rule": finding.rule,
            "kind": finding.kind, "message": finding.message, "capabilities": sorted(subject.capabilities),
            "config": subject.user_config, "check": finding.check,
            "program": None if finding.program is None else finding.program.to_json()}
    with open(path, "w") as f:
        json.dump(data, f, indent=1)
    finding.saved = path
    finding.reproduce += f"\n# saved: tasktail replay {path}"
    return path
