"""Fixtures of the storage tests (real SQLite on a temp dir)."""

from __future__ import annotations

import os

import pytest


@pytest.fixture
def open_umask():
    """The most permissive umask: any file made without an explicit mode is world-writable."""
    old = os.umask(0)
    yield
    os.umask(old)
