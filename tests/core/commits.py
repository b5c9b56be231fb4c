"""What the core tests share: two members, waiting for admission's batched commit (a
state the tests wait for, with a deadline) and for a job to be done."""

from __future__ import annotations

import asyncio

from core.model import Job, Requester
from core.services import Services


async def waiting_to_commit(service: Services, count: int) -> None:
    """Until ``count`` requests have passed their first checks and wait for the commit."""
    for _ in range(3000):  # 30 s at most
        if service.admission.waiting >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{service.admission.waiting} of {count} reached the commit")


ALICE = Requester(user_id=101, guild_id=1, channel_id=10)
BOB = Requester(user_id=202, guild_id=1, channel_id=11)


async def finished(service: Services, job_id: int) -> Job:
    """The job's final row, once it is done (``AssertionError`` with its error if not)."""
    final = await service.runner.wait(job_id)
    assert final.status == "done", final.error
    return final
