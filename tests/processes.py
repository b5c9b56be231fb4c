"""Running the product's entry points as a user would: a fresh Python process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_python(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    """``python ARGS`` in ``cwd`` with this checkout importable, no token or model set
    unless ``env`` gives them."""
    clean = {k: v for k, v in os.environ.items() if k not in {"DISCORD_TOKEN", "MODEL_ID"}}
    clean["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
