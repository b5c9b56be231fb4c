"""The rows of one admission batch: one transaction for every request in it, or, when
that fails, one per request, so that a row the database will not take fails only the
request it belongs to (the others get their jobs)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from core.errors import UnknownJob
from core.model import Job, NewJob, Requester
from core.specs import folders_read
from storage.db import Storage
from storage.jobs import FoldersGone

logger = logging.getLogger(__name__)

# One request waiting for its rows: who, its jobs, and the future its caller awaits.
Request = tuple[Requester, list[NewJob], "asyncio.Future[list[Job]]"]


async def create_rows(
    storage: Storage, requests: Sequence[Request]
) -> list[tuple[Request, list[Job]]]:
    """Each request with its committed jobs, in order. A request whose rows could not be
    written alone is left out, its future failed with that error; with a single request
    the error is raised (the caller fails the whole batch, which is that request)."""
    try:
        jobs = await _create(storage, [new for _, news, _ in requests for new in news])
    except Exception:
        if len(requests) < 2:
            raise
        logger.warning(
            "a batch of %d requests could not be committed; committing each alone",
            len(requests),
            exc_info=True,
        )
    else:
        made = iter(jobs)
        return [(request, [next(made) for _ in request[1]]) for request in requests]
    written = []
    for request in requests:
        _, news, waiter = request
        try:
            group = await _create(storage, news)
        except Exception as error:
            if not waiter.done():
                waiter.set_exception(error)
            continue
        written.append((request, group))
    return written


async def _create(storage: Storage, news: list[NewJob]) -> list[Job]:
    """The jobs' rows, written only while every older job's folder they read is kept:
    admission checked those, but a retention pass (or a purge) may have marked one since.
    """
    reads = set().union(*(folders_read(new) for new in news))
    try:
        return await storage.create_jobs(news, reads=reads)
    except FoldersGone as gone:
        kept_with = f" (kept with job {gone.job_ids[0]})" if gone.job_ids else ""
        raise UnknownJob(
            f"The images this job would start from{kept_with} were removed or have "
            "expired; start a new /imagine."
        ) from None
