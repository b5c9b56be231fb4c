"""Fixtures of the core tests: services over real SQLite and the tiny pipeline."""

from __future__ import annotations

import pytest


@pytest.fixture
async def service(make_services):
    return await make_services(max_steps=50, max_upscale_side=512)


@pytest.fixture
async def small_service(make_services):
    # Not started: jobs stay queued until a test starts the engine.
    return await make_services(started=False, max_queued_per_user=2, max_queue=3)
