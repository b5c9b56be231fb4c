"""A slot's bookkeeping: the batch behind the running one takes its place, a lost worker
is retired (and said so), and a given-back batch's jobs go back to the queue once."""

from __future__ import annotations

import asyncio
import logging

import pytest

from engine.faults import Returned, WorkerLost
from engine.handle import JobHandle
from engine.inbox import Handoff
from engine.slots import Slot, local_workers, requeued
from engine.types import JobOutput
from tests.engine.test_scheduler import spec


class Named:
    """A worker as a slot sees it: only its name is read here."""

    def __init__(self, name: str) -> None:
        self.name = name


def _handoff() -> Handoff:
    loop = asyncio.get_running_loop()
    return Handoff(loop.create_future(), loop.create_future())


async def test_the_batch_behind_takes_the_running_ones_place():
    slot = Slot(Named("w0"))
    first, second = [JobHandle(spec(1), 0)], [JobHandle(spec(2), 1)]
    slot.running, slot.running_handoff = first, _handoff()
    assert not slot.idle and not slot.ready_for_next, "its batch has not reached its end"
    slot.running_handoff.ending.set_result(None)
    assert slot.ready_for_next
    slot.next, slot.next_handoff = second, _handoff()
    assert not slot.ready_for_next and slot.held() == first + second
    slot.through_with(first)
    assert slot.running == second and slot.next == [] and slot.next_handoff is None
    slot.through_with(second)
    assert slot.idle


async def test_a_lost_worker_is_retired_and_the_last_one_says_so(caplog):
    slots = [Slot(Named("w0")), Slot(Named("w1"))]
    with caplog.at_level(logging.ERROR, logger="engine.slots"):
        slots[0].retire("CUDA error", slots)
        assert "worker w0 lost (CUDA error); serving with 1 of 2 workers" in caplog.text
        assert "no worker left" not in caplog.text
        slots[1].retire("CUDA error", slots)
    assert "no worker left" in caplog.text
    assert not any(slot.idle for slot in slots), "a retired worker takes no batch"


async def test_a_given_back_batch_goes_back_once_then_fails():
    done, waiting = JobHandle(spec(1), 0), JobHandle(spec(2), 1)
    done.finish(JobOutput(1), None)
    lost = Returned(WorkerLost("w0: CUDA error"), started=True, retired=True)
    assert requeued([done, waiting], lost) == [waiting], "a finished job stays finished"
    assert waiting.requeued
    assert requeued([waiting], lost) == []
    with pytest.raises(WorkerLost, match="its worker failed twice"):
        await waiting


async def test_a_batch_given_back_unstarted_goes_back_as_often_as_it_comes():
    handle = JobHandle(spec(1), 0)
    unstarted = Returned(WorkerLost("w0: gone"), started=False, retired=True)
    assert requeued([handle], unstarted) == [handle]
    assert requeued([handle], unstarted) == [handle] and not handle.requeued


def test_one_classifier_and_one_set_of_options_per_model(sd_model):
    with pytest.raises(ValueError, match="at least one loaded model"):
        local_workers([], None, None, 2.0, 0.25, None)
    with pytest.raises(ValueError, match="one classifier and one set of worker options"):
        local_workers([sd_model], [None, None], None, 2.0, 0.25, None)
    workers, steps = local_workers([sd_model], None, [{"name": "w0"}], 2.0, 0.25, None)
    assert [worker.name for worker in workers] == ["w0"] and steps == []
