"""--sref/--sw, --oref/--ow and /blend in the core (core/references.py, core/blends.py)
over real SQLite: what is refused before any fetch, what a job keeps (its reference files
and their names in its params), what its children and the engine are given. Whether the
images follow the references is tests/engine/test_references.py's, through the tiny
IP-Adapter."""

from __future__ import annotations

import dataclasses
import io

import pytest
from PIL import Image

from core.errors import (
    BadImage,
    BadParameter,
    Banned,
    QuotaExceeded,
    UnknownJob,
    UserError,
)
from core.model import Requester
from core.recipes import Blend, Reroll
from core.references import scale_of
from tests.core.commits import ALICE, BOB, finished

ADMIN = Requester(user_id=303, guild_id=1, channel_id=10, is_admin=True)
ELSEWHERE = Requester(user_id=404, guild_id=2, channel_id=20)
CDN = "https://cdn.discordapp.com/attachments/1/2/ref.png"


def png(size=(96, 64), colour=(20, 120, 200)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


class Links:
    """What downloads links: counts each request (a refused link makes none)."""

    def __init__(self, data: bytes | None = None) -> None:
        self.data = data or png()
        self.urls: list[str] = []

    async def __call__(self, url: str) -> bytes:
        self.urls.append(url)
        return self.data


@pytest.fixture
async def links():
    return Links()


@pytest.fixture
async def refs_service(make_services, links):
    # The engine does not run: what is admitted and kept is the subject here.
    return await make_services(started=False, ip_adapters={"sd": "unused"}, fetch_url=links)


def test_weights_become_adapter_scales():
    assert scale_of(0) == 0.0
    assert scale_of(100) == pytest.approx(0.6, abs=0.01)
    assert scale_of(1000) == pytest.approx(0.94, abs=0.01)
    assert scale_of(1) < scale_of(100) < scale_of(500) < scale_of(1000) < 1


async def test_a_link_to_another_host_is_refused_without_a_request(refs_service, links):
    for url in (
        "https://evil.example/ref.png",
        "http://cdn.discordapp.com/ref.png",  # not https
        "https://user@cdn.discordapp.com/ref.png",
        "https://cdn.discordapp.com.evil.example/ref.png",
    ):
        with pytest.raises(BadParameter, match="only fetch images from Discord"):
            await refs_service.jobs.imagine_all(ALICE, f"a cat --sref {url}")
    with pytest.raises(BadParameter, match="only fetch"):
        await refs_service.jobs.imagine_all(ALICE, "a cat --oref https://127.0.0.2/x.png")
    with pytest.raises(BadParameter, match="only fetch"):
        await refs_service.jobs.imagine_all(ALICE, "a cat --oref https://:pw@cdn.discordapp.com/x")
    # An id past SQLite's integers is not an image of a job (the parser says so).
    with pytest.raises(BadParameter, match="is not an image"):
        await refs_service.jobs.imagine_all(ALICE, "a cat --sref 9999999999999999999:1")
    assert links.urls == []
    [job] = await refs_service.jobs.imagine_all(ALICE, f"a cat --sref {CDN} --sw 500")
    assert links.urls == [CDN]
    assert job.params.references == (("style", None, 1),)
    assert job.params.style_weight == 500 and job.params.omni_weight is None


async def test_cheap_refusals_come_before_any_fetch(refs_service, links, make_services):
    with pytest.raises(BadParameter, match="--sw"):
        await refs_service.jobs.imagine_all(ALICE, "a cat --sw 300")
    with pytest.raises(BadParameter, match="--ow"):
        await refs_service.jobs.imagine_all(ALICE, "a cat --ow 300")
    await refs_service.moderation.ban(ADMIN, BOB.user_id, "spam")
    with pytest.raises(Banned):
        await refs_service.jobs.imagine_all(BOB, f"a cat --sref {CDN}")
    assert links.urls == []
    # A model whose family has no IP-Adapter here refuses them, naming the model.
    plain = await make_services(started=False, fetch_url=links)
    with pytest.raises(BadParameter, match=r"IP-Adapter\), and the model .* has none"):
        await plain.jobs.imagine_all(ALICE, f"a cat --oref {CDN}")
    with pytest.raises(BadParameter, match="has none"):
        await plain.blends.blend(ALICE, [png(), png()])
    assert links.urls == []


async def test_a_jobs_image_is_a_reference_in_its_own_server_only(make_services):
    service = await make_services(ip_adapters={"sd": "unused"})
    done = await service.jobs.imagine(ALICE, "a fox --steps 2")
    await finished(service, done.id)
    with pytest.raises(BadParameter, match=f"no job {done.id}"):
        await service.jobs.imagine_all(ELSEWHERE, f"a cat --sref {done.id}:1")
    with pytest.raises(BadParameter, match="no job 999"):
        await service.jobs.imagine_all(ALICE, "a cat --sref 999:1")
    rows = await service.storage.images(done.id)
    await service.storage.add_images([dataclasses.replace(rows[2], nsfw=True)])
    with pytest.raises(BadParameter, match="flagged"):
        await service.jobs.imagine_all(ALICE, f"a cat --oref {done.id}:3")
    [job] = await service.jobs.imagine_all(
        BOB, f"a cat --sref {done.id}:1 {done.id}:2 --oref {done.id}:4 --ow 40 --steps 2"
    )
    assert job.params.references == (("style", None, 1), ("style", None, 2), ("omni", None, 3))
    assert (job.params.style_weight, job.params.omni_weight) == (100, 40)
    for slot in (1, 2, 3):
        with Image.open(service.storage.reference_path(job.id, slot)) as kept:
            assert kept.size == (128, 128)


async def test_children_and_restarts_keep_the_references(refs_service):
    [job] = await refs_service.jobs.imagine_all(ALICE, f"a cat --sref {CDN} --sw 0")
    spec = refs_service.runner.spec_for(job)
    assert [(r.role, r.path, r.scale) for r in spec.references] == [
        ("style", refs_service.storage.reference_path(job.id, 1), 0.0)
    ]
    # As after a restart: the row read back gives the same spec.
    again = await refs_service.jobs.get_job(job.id, ALICE)
    assert refs_service.runner.spec_for(again).references == spec.references
    # A child names the parent's files (its own folder has none).
    from core import derive

    child = derive.reroll(BOB, again, again.params.model, 128, None)
    assert isinstance(child.recipe, Reroll)
    assert child.params.references == (("style", job.id, 1),)
    assert child.params.style_weight == 0
    with pytest.raises(BadParameter, match="keeps its job's references"):
        refs_service.jobs.edit(again, f"a dog --sref {CDN}")


async def test_a_bad_reference_file_is_refused_saying_which(make_services):
    service = await make_services(
        started=False, ip_adapters={"sd": "unused"}, fetch_url=Links(b"not an image")
    )
    with pytest.raises(BadImage, match="--oref"):
        await service.jobs.imagine_all(ALICE, f"a cat --oref {CDN}")


async def test_blend_keeps_its_images_and_is_refused_like_a_job(refs_service):
    job = await refs_service.blends.blend(ALICE, [png(), png((64, 96)), png()], "landscape")
    assert isinstance(job.recipe, Blend) and job.recipe.images == 3
    assert job.prompt == "" and job.params.aspect == "3:2"
    assert job.params.references == tuple(("blend", None, slot) for slot in (1, 2, 3))
    spec = refs_service.runner.spec_for(job)
    assert [r.role for r in spec.references] == ["blend"] * 3
    assert all(r.scale == 1.0 and r.path.is_file() for r in spec.references)
    with pytest.raises(UserError, match="2 to 5 images"):
        await refs_service.blends.blend(ALICE, [png()])
    with pytest.raises(UserError, match="2 to 5 images"):
        await refs_service.blends.blend(ALICE, [png()] * 6)
    with pytest.raises(BadParameter, match="dimensions"):
        await refs_service.blends.blend(ALICE, [png(), png()], "wide")
    fetched = []

    async def fetch() -> bytes:
        fetched.append(1)
        return png()

    await refs_service.moderation.ban(ADMIN, BOB.user_id, "spam")
    with pytest.raises(Banned):
        await refs_service.blends.blend(BOB, [fetch, fetch])
    assert fetched == []


async def test_blend_counts_against_the_quota(make_services):
    service = await make_services(started=False, ip_adapters={"sd": "unused"}, daily_quota=1)
    await service.blends.blend(ALICE, [png(), png()])
    with pytest.raises(QuotaExceeded):
        await service.blends.blend(ALICE, [png(), png()])


@pytest.fixture(scope="module")
def adapter_model(tiny_model_dirs):
    """This module's own tiny SD copy (its UNet takes the adapters) and a tiny IP-Adapter
    folder for it, laid out as h94/IP-Adapter."""
    from devtools.tiny_ip_adapter import write_tiny_ip_adapter
    from engine.model import load_model

    model = load_model(str(tiny_model_dirs["sd"]), "cpu")
    folder = tiny_model_dirs["sd"].parent / "ip-adapter-core"
    write_tiny_ip_adapter(folder, model.text2img, "sd")
    return model, str(folder)


def pixels(service, job_id: int, index: int = 1):
    import numpy as np

    path = service.storage.image_path(job_id, index)
    with Image.open(path) as image:
        return np.asarray(image, np.float32)


async def test_references_change_the_images_and_weight_0_does_not(make_services, adapter_model):
    import numpy as np

    model, folder = adapter_model
    service = await make_services(model=model, ip_adapters={"sd": folder})
    base = await service.jobs.imagine(ALICE, "a fox --seed 11 --steps 2")
    await finished(service, base.id)
    other = await service.jobs.imagine(ALICE, "a wave --seed 3 --steps 2")
    await finished(service, other.id)
    made = {}
    for name, extra in (
        ("style", f"--sref {other.id}:2 --sw 500"),
        ("zero", f"--sref {other.id}:2 --sw 0"),
        ("omni", f"--oref {other.id}:3"),
    ):
        [job] = await service.jobs.imagine_all(ALICE, f"a fox --seed 11 --steps 2 {extra}")
        made[name] = (await finished(service, job.id)).id
    blend = await service.blends.blend(BOB, [png(), png(colour=(250, 250, 0))])
    blended = await finished(service, blend.id)
    with Image.open(service.storage.image_path(made["style"], 1)) as image:
        assert image.text["style references"] == f"images/{made['style']}/ref-1.png"
        assert f"IP-Adapter style: 1 at {scale_of(500):g}" in image.text["parameters"]
    plain = pixels(service, base.id)
    assert float(np.abs(pixels(service, made["style"]) - plain).mean()) > 1.0
    assert float(np.abs(pixels(service, made["omni"]) - plain).mean()) > 1.0
    assert float(np.abs(pixels(service, made["zero"]) - plain).max()) <= 1.0
    # A reroll of the blend keeps its images (from the blend's folder).
    child = await service.jobs.press(ALICE, "r", blended.id, None)
    assert child.params.references == tuple(("blend", blended.id, s) for s in (1, 2))
    child = await finished(service, child.id)
    # Once an admin purges the blend, its images are gone: a child's button says so.
    await service.moderation.purge(ADMIN, blended.id)
    with pytest.raises(UnknownJob, match="reference images of this job"):
        await service.jobs.press(ALICE, "v", child.id, 1)


async def test_a_queued_job_keeps_its_references_over_a_restart(adapter_model, tmp_path):
    from core.services import open_services
    from engine import Engine
    from engine.resident import Resident
    from storage.db import Storage

    model, folder = adapter_model
    links = Links(png(colour=(250, 10, 10)))

    def engine() -> Engine:
        resident = Resident.single(model)
        resident.ip_adapters = {"sd": folder}
        return Engine(resident)

    async with Storage(tmp_path) as storage:
        stopped = engine()  # never started: the job stays queued
        async with open_services(storage, stopped, fetch_url=links) as service:
            [job] = await service.jobs.imagine_all(ALICE, f"a fox --steps 2 --sref {CDN}")
        await stopped.stop()
    async with (
        Storage(tmp_path) as storage,
        engine() as running,
        open_services(storage, running) as service,
    ):
        final = await service.runner.wait(job.id)
        assert final.status == "done", final.error
        assert final.params.references == (("style", None, 1),)
    assert links.urls == [CDN]  # fetched once, at admission; kept since
