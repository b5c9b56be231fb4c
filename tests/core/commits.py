"""Waiting for admission's batched commit: a state the tests wait for, with a deadline."""

from __future__ import annotations

import asyncio

from core.services import Services


async def waiting_to_commit(service: Services, count: int) -> None:
    """Until ``count`` requests have passed their first checks and wait for the commit."""
    for _ in range(3000):  # 30 s at most
        if len(service.admission._waiting) >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{len(service.admission._waiting)} of {count} reached the commit")
