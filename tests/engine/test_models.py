"""Several models on one engine (``MODELS``): a burst from members on two models is served
fairly, never fused across models, each job on its own model; with a memory budget that
holds one model, the least recently used goes out and the swap is logged with its cost."""

from __future__ import annotations

import asyncio
import dataclasses
import logging

import numpy as np
import pytest

from bot.app import load_engine
from core.runner import failure_reason
from engine import Engine, JobSpec
from engine.model import model_bytes
from engine.resident import GB, RETRY_LOAD_S, ModelLoadFailed, Resident
from tests.bot.discord_app.offline import make_settings
from tests.gates import held_worker


class Recorder:
    """Worker hooks that note each batch's jobs and models, in the order they run."""

    def __init__(self) -> None:
        self.batches: list[list[tuple[int, str]]] = []

    def before_batch(self, items) -> None:
        self.batches.append([(item.spec.job_id, item.spec.model) for item in items])

    def after_step(self, step: int) -> None:
        pass


def spec(job_id: int, owner: int, model: str, size: int = 64) -> JobSpec:
    return JobSpec(
        job_id=job_id,
        prompt=f"a lighthouse, job {job_id}",
        negative="",
        width=size,
        height=size,
        steps=2,
        guidance=5.0,
        seed=1000 + job_id,
        owner=owner,
        model=model,
    )


def same_images(a: list, b: list) -> bool:
    return len(a) == len(b) and all(
        np.abs(np.asarray(x, np.float32) - np.asarray(y, np.float32)).max() <= 2.0
        for x, y in zip(a, b, strict=True)
    )


async def test_a_burst_from_four_members_on_two_models_is_fair_and_never_fused_across_models(
    loaded_models,
):
    models = {"sd": loaded_models["sd"], "xl": loaded_models["sdxl"]}
    recorder = Recorder()
    engine = Engine(Resident({}, default="sd", loaded=models), max_batch_images=8, hooks=recorder)
    assert sorted(engine.models) == ["sd", "xl"] and engine.default_model == "sd"
    # Members 1 and 2 on the default model, 3 and 4 on the other: two jobs each, all
    # submitted while the worker is held.
    burst = [
        spec(job_id, owner, "sd" if owner <= 2 else "xl")
        for owner in (1, 2, 3, 4)
        for job_id in (2 * owner - 1, 2 * owner)
    ]
    async with engine:
        async with held_worker(engine):
            handles = [engine.submit(s) for s in burst]
        outputs = await asyncio.gather(*handles)
    # The measured order: round-robin over the members, two grids a call, one model a
    # call: members 1 and 2 (sd), then 3 and 4 (xl), then the second round.
    assert recorder.batches == [
        [(1, "sd"), (3, "sd")],
        [(5, "xl"), (7, "xl")],
        [(2, "sd"), (4, "sd")],
        [(6, "xl"), (8, "xl")],
    ]
    # Each job's images are its own model's: the same as that model alone gives.
    async with Engine(Resident({}, default="sd", loaded=models), batching=False) as alone:
        for job, output in zip(burst, outputs, strict=True):
            expected = await alone.submit(spec(100 + job.job_id, 9, job.model))
            assert not same_images(output.images, expected.images)  # another seed
            again = await alone.submit(
                JobSpec(**{**_fields(job), "job_id": 200 + job.job_id})  # same seed
            )
            assert same_images(output.images, again.images), job
    # And not the other model's.
    sd_first = outputs[0].images
    async with Engine(models["xl"], batching=False) as other:
        as_xl = await other.submit(spec(1, 1, ""))
    assert not same_images(sd_first, as_xl.images)


def _fields(job: JobSpec) -> dict:
    return {name: getattr(job, name) for name in JobSpec.__dataclass_fields__}


async def test_a_budget_that_holds_one_model_swaps_the_least_recently_used_out(
    tiny_model_dirs, loaded_models, caplog
):
    """The bot's own start-up (``load_engine``: MODELS, MODEL_MEMORY_GB) loads both models
    once; the budget keeps one; each job of the other model swaps, logged with its cost."""
    sizes = {family: model_bytes(loaded_models[family]) for family in ("sd", "sdxl")}
    budget = (sizes["sd"] + sizes["sdxl"] - 1) / GB  # one fits, not both
    settings = make_settings(
        model_id=str(tiny_model_dirs["sd"]),
        models=f"xl={tiny_model_dirs['sdxl']}",
        model_memory_gb=budget,
        device="cpu",
        nsfw_filter="off",
    )
    caplog.set_level(logging.INFO, logger="engine.resident")
    engine = await asyncio.to_thread(load_engine, settings, nsfw_filter=False)
    assert list(engine.models) == ["default", "xl"] and engine.default_model == "default"
    assert engine.models["xl"].name == "tiny-sdxl" and engine.models["xl"].memory == sizes["sdxl"]
    assert engine.alias_of("tiny-sdxl") == "xl" and engine.alias_of("") == "default"
    [worker] = [slot.worker for slot in engine._slots]
    resident = worker.resident
    assert resident.on_device == {"default"}  # loaded last at start: it stays
    assert engine.workers()[0].swaps == 2  # what the metrics read: the loads at start
    caplog.clear()
    async with engine:
        xl = await engine.submit(spec(1, 1, "xl"))
        assert resident.on_device == {"xl"}
        sd = await engine.submit(spec(2, 1, ""))
        assert resident.on_device == {"default"}
    [state] = engine.workers()
    assert state.swaps == 4 and state.busy_seconds == worker.call_seconds > 0
    swaps = [r.getMessage() for r in caplog.records if "model swap" in r.getMessage()]
    assert len(swaps) == 2, swaps
    assert swaps[0].startswith("model swap on cpu: xl in from disk (")
    assert swaps[0].endswith("; out: default") and " s" in swaps[0]
    assert swaps[1].startswith("model swap on cpu: default in from disk (")
    assert [s.alias for s in list(resident.swaps)[-2:]] == ["xl", "default"]
    # Each on its own model: as that model alone gives.
    for family, job, output in (("sdxl", 1, xl), ("sd", 2, sd)):
        async with Engine(loaded_models[family], batching=False) as alone:
            expected = await alone.submit(JobSpec(**{**_fields(spec(job, 1, "")), "job_id": 9}))
        assert same_images(output.images, expected.images), family


async def test_a_batch_goes_to_the_worker_that_holds_its_model(loaded_models, sd_model_copy):
    """Two workers, each holding another model: each job runs where its model is, with
    no swap."""
    first = Resident({}, default="sd", loaded={"sd": sd_model_copy})
    second = Resident(
        {}, default="sd", loaded={"xl": loaded_models["sdxl"], "sd": loaded_models["sd"]}
    )
    second.get("xl")  # the most recently used: the one a budget would keep
    engine = Engine([first, second], worker_options=[{"name": "a"}, {"name": "b"}])
    assert engine._slots[0].holds("sd") and not engine._slots[0].holds("xl")
    assert engine._slots[1].holds("xl")
    recorder_a, recorder_b = Recorder(), Recorder()
    engine._slots[0].worker.hooks = recorder_a
    engine._slots[1].worker.hooks = recorder_b
    async with engine:
        await engine.submit(spec(1, 1, "xl"))
    assert recorder_b.batches == [[(1, "xl")]] and recorder_a.batches == []


async def test_a_lora_changes_the_image_at_weight_0_it_does_not_and_it_never_fuses(
    tiny_model_dirs, tmp_path
):
    """Through the worker: the same seed with the LoRA differs, at weight 0 it is the image
    without it, and LoRA and no-LoRA jobs (or two weights) are never one call."""
    from devtools.tiny_lora import write_tiny_lora
    from engine.loras import scan_lora_dir
    from engine.model import load_model

    write_tiny_lora(tmp_path, "sd")
    loras = scan_lora_dir(tmp_path)
    own = load_model(str(tiny_model_dirs["sd"]), "cpu")  # its adapters stay in this test
    recorder = Recorder()
    resident = Resident({}, default="sd", loaded={"sd": own}, loras=loras)
    engine = Engine(resident, max_batch_images=16, hooks=recorder)
    plain = spec(1, 1, "sd")
    jobs = [
        plain,
        dataclasses.replace(plain, job_id=2, owner=2, loras=(("tiny-sd", 1.0),)),
        dataclasses.replace(plain, job_id=3, owner=3, loras=(("tiny-sd", 0.0),)),
        dataclasses.replace(plain, job_id=4, owner=4),
    ]
    async with engine:
        async with held_worker(engine):
            handles = [engine.submit(job) for job in jobs]
        outputs = await asyncio.gather(*handles)
    # 1 and 4 share a call; the LoRA jobs each have their own.
    assert recorder.batches == [[(1, "sd"), (4, "sd")], [(2, "sd")], [(3, "sd")]]
    without, with_lora, weight_0, after = (output.images for output in outputs)
    assert not same_images(without, with_lora)
    assert same_images(without, weight_0) and same_images(without, after)
    assert list(own.adapters) == ["tiny-sd"]  # loaded once


async def test_with_room_for_one_model_a_round_takes_the_resident_model_first(
    tiny_model_dirs, loaded_models
):
    """The same burst with a budget that holds one model: within the round, members on
    the resident model go first (one swap instead of three), and no job waits past it."""
    import functools

    from engine.model import load_model

    sizes = {"sd": model_bytes(loaded_models["sd"]), "xl": model_bytes(loaded_models["sdxl"])}
    loaders = {
        alias: functools.partial(load_model, str(tiny_model_dirs[family]), "cpu", place=False)
        for alias, family in (("sd", "sd"), ("xl", "sdxl"))
    }
    resident = Resident(
        loaders,
        default="sd",
        loaded={"sd": load_model(str(tiny_model_dirs["sd"]), "cpu")},
        budget=max(sizes.values()) + min(sizes.values()) - 1,
        sizes=sizes,
    )
    recorder = Recorder()
    engine = Engine(resident, max_batch_images=8, hooks=recorder)
    burst = [
        spec(job_id, owner, "sd" if owner <= 2 else "xl")
        for owner in (3, 1, 4, 2)  # the members on xl asked first
        for job_id in (2 * owner - 1, 2 * owner)
    ]
    async with engine:
        async with held_worker(engine):
            handles = [engine.submit(s) for s in burst]
        await asyncio.gather(*handles)
    # Fair alone: xl (5, 7), sd (1, 3), xl (6, 8), sd (2, 4): a swap for every call. With
    # sd on the device, sd's first jobs go first, passing 5 over once; then 5 runs, and
    # with xl on the device, 6 passes 2 over once: two swaps.
    assert recorder.batches == [
        [(1, "sd"), (3, "sd")],
        [(5, "xl"), (7, "xl")],
        [(6, "xl"), (8, "xl")],
        [(2, "sd"), (4, "sd")],
    ]
    assert [swap.alias for swap in resident.swaps] == ["xl", "sd"]


async def test_a_model_that_cannot_come_in_fails_its_call_once_and_the_worker_goes_on(
    loaded_models, caplog
):
    """Its files gone, say: the jobs of that call fail with the error (the model is not
    loaded again for each of them), the resident set is still told, the next job runs."""
    calls = []

    def gone():
        calls.append(1)
        raise FileNotFoundError("model_index.json not found")

    resident = Resident({"gone": gone}, default="sd", loaded={"sd": loaded_models["sd"]})
    engine = Engine(resident, max_batch_images=8)
    async with engine:
        async with held_worker(engine):
            doomed = [engine.submit(spec(1, 1, "gone")), engine.submit(spec(2, 2, "gone"))]
            fine = engine.submit(spec(3, 1, "sd"))
        outcomes = await asyncio.gather(*doomed, return_exceptions=True)
        assert all(isinstance(o, ModelLoadFailed) for o in outcomes), outcomes
        assert all(isinstance(o.__cause__, FileNotFoundError) for o in outcomes)
        assert failure_reason(outcomes[0]).startswith("its model could not be loaded")
        assert len((await fine).images) == 4
    assert calls == [1]  # one call, one try
    assert resident.on_device == {"sd"}
    assert any("model 'gone' not brought in" in r.getMessage() for r in caplog.records)


def test_a_failed_load_is_not_tried_again_for_ten_minutes(loaded_models):
    """A model that failed to load (a download cut off, its files gone) fails the next
    jobs at once with that failure, without another try (the video model: each clip would
    hold the worker for a load that fails again), until ``RETRY_LOAD_S`` has passed."""
    calls, now = [], [1000.0]

    def flaky():
        calls.append(now[0])
        if len(calls) == 1:
            raise OSError("connection reset while fetching transformer/model.safetensors\nmore")
        return loaded_models["sd"]

    resident = Resident({"video": flaky}, default="sd", loaded={"sd": loaded_models["sd"]})
    resident.clock = lambda: now[0]
    with pytest.raises(ModelLoadFailed, match="'video' could not be loaded: OSError: conn"):
        resident.get("video")
    now[0] += 120
    with pytest.raises(ModelLoadFailed, match=r"'video' could not be loaded 120 s ago") as again:
        resident.get("video")
    assert "OSError: connection reset while fetching" in str(again.value)
    assert calls == [1000.0], "not tried again"
    now[0] += RETRY_LOAD_S
    assert resident.get("video") is loaded_models["sd"]
    assert len(calls) == 2 and "video" not in resident.failed
