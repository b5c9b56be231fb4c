"""What the README links is in the repository: a fresh clone shows every picture and file
(``.gitignore`` once kept the canvas pictures out, so the README showed broken images)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\]\(([^)\s#]+)")


def tracked_files() -> set[str]:
    listed = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    return set(listed.stdout.split())


def test_every_file_the_readme_links_is_tracked_by_git():
    links = LINK.findall((ROOT / "README.md").read_text(encoding="utf-8"))
    local = {link for link in links if not re.match(r"[a-z][a-z0-9+.-]*:", link)}
    assert any(link.endswith(".png") for link in local), "the README's pictures are linked"
    tracked = tracked_files()
    missing = sorted(
        link
        for link in local
        if link not in tracked and not any(t.startswith(link.rstrip("/") + "/") for t in tracked)
    )
    assert not missing, f"linked in README.md but not in the repository: {missing}"
