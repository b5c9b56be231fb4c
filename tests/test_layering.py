"""The layering rule: engine/, storage/ and the service never import discord."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DISCORD_FREE = [
    *sorted((ROOT / "engine").rglob("*.py")),
    *sorted((ROOT / "storage").rglob("*.py")),
    *(
        ROOT / "bot" / name
        for name in (
            "service.py",
            "params.py",
            "errors.py",
            "settings.py",
            "wordfilter.py",
            "bench.py",
        )
    ),
]
DISCORD_FREE_MODULES = ["engine.engine", "engine.tiny", "storage.db", "bot.service", "bot.cli"]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_discord_free_files_do_not_import_discord():
    assert len(DISCORD_FREE) > 8
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            name for name in imported_modules(path) if name.split(".")[0] == "discord"
        )
        for path in DISCORD_FREE
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_discord_free_modules_load_without_discord():
    # Blocking the package makes any import of it, however indirect, fail.
    code = "import sys; sys.modules['discord'] = None\n" + "".join(
        f"import {module}\n" for module in DISCORD_FREE_MODULES
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr


def test_the_check_sees_a_discord_import(tmp_path):
    planted = tmp_path / "planted.py"
    planted.write_text("from discord import ui\n")
    assert "discord" in imported_modules(planted)
