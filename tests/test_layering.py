"""The layering rule, checked on every file of the product tree (no hand-kept list):

- only ``bot/discord_app/`` imports ``discord``;
- ``engine/`` imports nothing of ``core``, ``storage``, ``bot`` or ``devtools``;
- ``core/`` uses the engine only through its public face (``engine`` and ``engine.types``)
  and imports nothing of ``bot`` or ``devtools``;
- ``storage/`` imports nothing of ``bot``, ``engine`` or ``devtools``;
- nothing in the product imports ``devtools`` except the CLI commands that run it.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bot", "core", "devtools", "engine", "storage")
DISCORD_LAYER = ROOT / "bot" / "discord_app"
ENGINE_FACE = {"engine", "engine.types"}


def product_files() -> list[Path]:
    return sorted(path for package in PACKAGES for path in (ROOT / package).rglob("*.py"))


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(source: str) -> set[str]:
    tree = ast.parse(source)
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def top(name: str) -> str:
    return name.split(".")[0]


def breaks(path: Path, name: str) -> str | None:
    """Why importing ``name`` from ``path`` breaks the rule, or None."""
    inside = top(module_name(path))
    if top(name) == "discord" and not path.is_relative_to(DISCORD_LAYER):
        return "only bot/discord_app imports discord"
    if inside == "engine" and top(name) in {"core", "storage", "bot", "devtools"}:
        return "the engine imports nothing of the rest"
    if inside == "core" and top(name) == "engine" and name not in ENGINE_FACE:
        return "core uses the engine through `engine` and `engine.types` only"
    if inside == "core" and top(name) in {"bot", "devtools"}:
        return "core imports nothing of bot or devtools"
    if inside == "storage" and top(name) in {"bot", "engine", "devtools"}:
        return "storage imports nothing of bot, engine or devtools"
    if top(name) == "devtools" and inside not in {"devtools"} and path.name != "cli.py":
        return "devtools are tools, not the product"
    return None


def test_every_product_file_keeps_the_layering_rule():
    files = product_files()
    assert DISCORD_LAYER / "client.py" in files and ROOT / "core" / "services.py" in files
    offenders = {
        f"{path.relative_to(ROOT)} imports {name}": why
        for path in files
        for name in sorted(imported_modules(path.read_text(encoding="utf-8")))
        if (why := breaks(path, name))
    }
    assert offenders == {}


def test_everything_outside_the_discord_layer_loads_without_discord():
    modules = [
        module_name(path)
        for path in product_files()
        if not path.is_relative_to(DISCORD_LAYER) and path.name != "__main__.py"
    ]
    assert "core.services" in modules and "bot.cli" in modules
    # Blocking the package makes any import of it, however indirect, fail.
    code = "import sys; sys.modules['discord'] = None\n" + "".join(
        f"import {module}\n" for module in modules
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("where", "source", "expected"),
    [
        ("core/planted.py", "from discord import ui\n", "only bot/discord_app"),
        ("bot/planted.py", "import discord\n", "only bot/discord_app"),
        ("engine/planted.py", "from core.model import Job\n", "the engine imports nothing"),
        ("core/planted.py", "from engine.worker import Worker\n", "through `engine`"),
        ("storage/planted.py", "import engine.types\n", "storage imports nothing"),
        ("core/planted.py", "from devtools.tiny import x\n", "core imports nothing"),
        ("bot/discord_app/planted.py", "import discord\n", None),
        ("core/planted.py", "from engine.types import JobSpec\n", None),
    ],
)
def test_the_check_sees_each_kind_of_break(where, source, expected):
    # Checked as if the file were there, without writing into the tree.
    (name,) = imported_modules(source)
    why = breaks(ROOT / where, name)
    if expected is None:
        assert why is None
    else:
        assert why is not None and expected in why
