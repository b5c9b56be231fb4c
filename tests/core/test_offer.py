"""Picking the model and LoRAs (``--model``, ``/settings model``, ``--lora``) on a bot
that offers two models: each job runs on its own, children keep their parent's, a restart
resumes queued jobs on theirs, and what is not offered is refused with what is."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from PIL import Image

from core.errors import BadParameter, UnknownJob, UserError
from core.limits import Limits
from core.model import Action
from core.services import open_services
from engine import Engine
from engine.loras import LoraFile
from engine.resident import Resident
from storage.db import Storage
from tests.core.commits import ALICE, BOB, finished


def two_models(loaded_models, loras: dict | None = None) -> Resident:
    """The tiny SD model as the default (``default``) and the tiny SDXL one as ``xl``."""
    models = {"default": loaded_models["sd"], "xl": loaded_models["sdxl"]}
    return Resident({}, default="default", loaded=models, loras=loras)


def recipe_of(service, job, index: int = 1) -> str:
    """The A1111 ``parameters`` text of a job's image."""
    path = service.storage.image_path(job.id, index)
    with Image.open(path) as image:
        return image.text["parameters"]


async def test_each_job_runs_on_the_model_it_names_and_its_children_keep_it(
    make_services, loaded_models
):
    service = await make_services(model=two_models(loaded_models))
    on_xl = await service.jobs.imagine(ALICE, "a fox --model xl --steps 2")
    on_xl = await finished(service, on_xl.id)
    plain = await finished(service, (await service.jobs.imagine(ALICE, "a fox --steps 2")).id)
    assert on_xl.params.model == "tiny-sdxl" and plain.params.model == "tiny-sd"
    # SDXL's defaults, not SD's: its guidance and native size.
    xl = loaded_models["sdxl"].defaults
    assert on_xl.params.guidance == xl.guidance and on_xl.params.size == (xl.native_size,) * 2
    assert xl.guidance != loaded_models["sd"].defaults.guidance
    assert "Model: tiny-sdxl" in recipe_of(service, on_xl)
    assert recipe_of(service, plain).endswith("Model: tiny-sd")
    children = [
        await service.jobs.press(BOB, Action.VARY_STRONG, on_xl.id, 2),
        await service.jobs.press(BOB, Action.REROLL, on_xl.id, None),
    ]
    for child in children:
        done = await finished(service, child.id)
        assert done.params.model == "tiny-sdxl", child.kind
        assert "Model: tiny-sdxl" in recipe_of(service, done)
    # A form's --model or --lora would change the parent's: refused, saying so.
    with pytest.raises(BadParameter, match="keeps its job's model"):
        await service.jobs.press(
            ALICE, Action.REROLL, on_xl.id, None, remix="a cat --model default"
        )


async def test_a_model_not_offered_is_refused_listing_those_that_are(make_services, loaded_models):
    service = await make_services(model=two_models(loaded_models))
    with pytest.raises(BadParameter) as refused:
        await service.jobs.imagine(ALICE, "a fox --model flux")
    assert refused.value.parameter == "--model"
    assert "`--model flux` is not a model here. This bot offers `default`, `xl`." in str(
        refused.value
    )
    assert await service.storage.count_jobs() == 0


async def test_settings_model_is_the_default_a_prompt_model_wins_and_a_gone_one_is_refused(
    make_services, loaded_models
):
    service = await make_services(model=two_models(loaded_models), started=False)
    mine = await service.users.update_settings(ALICE, model="XL")
    assert mine == {"model": "xl"}
    saved = await service.jobs.imagine(ALICE, "a fox")
    assert saved.params.model == "tiny-sdxl"
    assert saved.params.steps == loaded_models["sdxl"].defaults.steps
    chosen = await service.jobs.imagine(ALICE, "a fox --model default")
    assert chosen.params.model == "tiny-sd"
    with pytest.raises(BadParameter):
        await service.users.update_settings(ALICE, model="flux")
    # An alias the operator took out of MODELS since it was saved.
    await service.storage.set_user_settings(BOB.user_id, {"model": "old"})
    with pytest.raises(UserError, match=r"Your `/settings model` \(old\) is no longer offered"):
        await service.jobs.imagine(BOB, "a fox")
    info = await service.users.info(ALICE)
    assert [(m.alias, m.name, m.default) for m in info.models] == [
        ("default", "tiny-sd", True),
        ("xl", "tiny-sdxl", False),
    ]


async def test_a_restart_resumes_queued_jobs_on_their_models(loaded_models, tmp_path):
    limits = Limits()
    async with Storage(tmp_path) as storage:
        engine = Engine(two_models(loaded_models))  # never started: the jobs stay queued
        async with open_services(storage, engine, limits) as service:
            queued = [
                await service.jobs.imagine(ALICE, "a fox --model xl --steps 2"),
                await service.jobs.imagine(BOB, "a fox --steps 2"),
            ]
        await engine.stop()
    async with (
        Storage(tmp_path) as storage,
        Engine(two_models(loaded_models)) as engine,
        open_services(storage, engine, limits) as service,
    ):
        done = [await finished(service, job.id) for job in queued]
        assert [job.params.model for job in done] == ["tiny-sdxl", "tiny-sd"]
        assert "Model: tiny-sdxl" in recipe_of(service, done[0])
        # Each with its model's defaults (SDXL's guidance, SD's).
        assert [job.params.guidance for job in done] == [
            m.defaults.guidance for m in (loaded_models["sdxl"], loaded_models["sd"])
        ]
    # MODELS no longer offers the model a queued job names: it fails, saying why.
    async with Storage(tmp_path) as storage:
        engine = Engine(two_models(loaded_models))
        async with open_services(storage, engine, limits) as service:
            orphan = await service.jobs.imagine(ALICE, "a fox --model xl --steps 2")
        await engine.stop()
    renamed = {
        "default": loaded_models["sd"],
        "xl2": dataclasses.replace(loaded_models["sdxl"], name="another-xl"),
    }
    async with (
        Storage(tmp_path) as storage,
        Engine(Resident({}, default="default", loaded=renamed)) as engine,
        open_services(storage, engine, limits) as service,
    ):
        failed = await service.runner.wait(orphan.id)
        assert failed.status == "failed"
        assert failed.error == "the model it was made with (tiny-sdxl) is no longer offered"
        with pytest.raises(UnknownJob, match="no longer offers"):
            await service.jobs.press(ALICE, Action.REROLL, queued[0].id, None)
    # A bot that offers one model runs every job on it (as before MODELS): an operator
    # who changes MODEL_ID keeps the old grids' buttons.
    async with (
        Storage(tmp_path) as storage,
        Engine(loaded_models["sd"]) as engine,
        open_services(storage, engine, limits) as service,
    ):
        again = await service.jobs.press(ALICE, Action.REROLL, queued[0].id, None)
        assert (await finished(service, again.id)).params.model == "tiny-sd"  # the one


async def test_a_lora_taken_out_of_the_folder_fails_its_queued_job_and_refuses_buttons(
    loaded_models, tmp_path
):
    ink = {"ink": LoraFile("ink", Path(tmp_path / "ink.safetensors"), "sd")}
    async with Storage(tmp_path) as storage:
        engine = Engine(two_models(loaded_models, ink))  # never started
        async with open_services(storage, engine, Limits()) as service:
            queued = await service.jobs.imagine(ALICE, "a fox --lora ink --steps 2")
        await engine.stop()
    async with (
        Storage(tmp_path) as storage,
        Engine(two_models(loaded_models)) as engine,  # LORA_DIR without it now
        open_services(storage, engine, Limits()) as service,
    ):
        failed = await service.runner.wait(queued.id)
        assert failed.error == "the LoRA it was made with (ink) is no longer offered"


async def test_loras_are_checked_against_the_folder_and_the_model_family(
    make_services, loaded_models, tmp_path
):
    loras = {
        "ink": LoraFile("ink", Path(tmp_path / "ink.safetensors"), "sd"),
        "xl_ink": LoraFile("xl_ink", Path(tmp_path / "xl_ink.safetensors"), "sdxl"),
    }
    service = await make_services(model=two_models(loaded_models, loras), started=False)
    with pytest.raises(BadParameter) as refused:
        await service.jobs.imagine(ALICE, "a fox --lora nope")
    assert "`nope` is not a LoRA here. This bot offers `ink`, `xl_ink`." in str(refused.value)
    with pytest.raises(BadParameter) as refused:
        await service.jobs.imagine(ALICE, "a fox --model xl --lora ink:0.5")
    assert "The LoRA `ink` is for sd models, and `xl` is of the sdxl family" in str(refused.value)
    job = await service.jobs.imagine(ALICE, "a fox --lora ink:0.5")
    assert job.params.loras == (("ink", 0.5),)
    assert service.runner.spec_for(job).loras == (("ink", 0.5),)
    info = await service.users.info(ALICE)
    assert [(lora.name, lora.family) for lora in info.loras] == [("ink", "sd"), ("xl_ink", "sdxl")]
