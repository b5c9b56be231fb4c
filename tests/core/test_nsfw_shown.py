"""Flagged images as the NSFW filter shows them outside NSFW channels, beyond the job's
own message: the Vary (Region) picture and the /history thumbnail. The tiny classifier's
threshold is 0, so every image is flagged."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from core.model import Requester
from core.outputs import Thumbnail, censored_thumbnail
from core.services import open_services
from devtools.tiny import write_tiny_classifier
from engine import region_preview
from engine.images import BLOCKED_GREY, _blurred
from engine.nsfw import NsfwClassifier
from engine.scheduler import Engine
from storage.db import Storage
from tests.blur import difference, roughness

ALICE = Requester(user_id=101, guild_id=1, channel_id=10)


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory):
    return write_tiny_classifier(tmp_path_factory.mktemp("nsfw") / "tiny-nsfw")


@pytest.fixture
async def flagging(sd_model, classifier_dir, tmp_path):
    """Services whose classifier flags every image, and a finished grid of alice's."""
    classifier = NsfwClassifier.load(str(classifier_dir), "cpu", 0.0)
    async with (
        Storage(tmp_path) as storage,
        Engine(sd_model, classifier=classifier) as engine,
        open_services(storage, engine) as service,
    ):
        job = await service.jobs.imagine(ALICE, "a flagged fox --steps 2")
        done = await service.runner.wait(job.id)
        assert [row.nsfw for row in await service.runner.images(job.id)] == [True] * 4
        yield service, done


def _open(path) -> Image.Image:
    with Image.open(path) as image:
        return image.convert("RGB")


async def test_the_region_picture_is_blurred_or_grey_unless_the_filter_is_off(flagging):
    service, job = flagging
    raw = _open(service.storage.image_path(job.id, 2))
    pictures = {}
    for mode in ("off", "blur", "block"):
        data, hidden = await service.jobs.region_picture(ALICE, job.id, 2, mode)
        assert hidden == (mode != "off")
        pictures[mode] = Image.open(io.BytesIO(data)).convert("RGB")
    clear = region_preview(raw)
    assert difference(pictures["off"], clear) == 0, "in an NSFW channel: the image itself"
    # The cells drawn over the image blurred as its message blurs it, or over a grey tile.
    assert difference(pictures["blur"], region_preview(_blurred(raw))) == 0
    assert difference(pictures["blur"], clear) > 10
    grey = region_preview(Image.new("RGB", raw.size, BLOCKED_GREY))
    assert difference(pictures["block"], grey) == 0


async def test_history_thumbnails_of_flagged_jobs_are_censored_once_per_mode(flagging):
    service, job = flagging
    storage = service.storage
    page = await service.users.history(ALICE)
    clear = await service.users.thumbnails(page, "off")
    assert clear == {job.id: Thumbnail(storage.thumbnail_path(job.id))}
    blurred = await service.users.thumbnails(page, "blur")
    assert blurred == {job.id: Thumbnail(storage.thumbnail_path(job.id, "blur"), blurred=True)}
    raw, shown = _open(clear[job.id].path), _open(blurred[job.id].path)
    assert shown.size == raw.size and roughness(shown) < roughness(raw) / 4
    made = blurred[job.id].path.stat().st_mtime_ns
    assert await service.users.thumbnails(page, "blur") == blurred
    assert blurred[job.id].path.stat().st_mtime_ns == made, "made once, not on each view"
    blocked = await service.users.thumbnails(page, "block")
    assert blocked == {job.id: Thumbnail(storage.thumbnail_path(job.id, "block"))}
    grey = np.asarray(_open(blocked[job.id].path), dtype=np.int16)
    assert np.abs(grey - np.array(BLOCKED_GREY)).max() <= 2, "every cell grey (WebP, lossy)"
    # Purged: no images, no thumbnail of any kind.
    await storage.purge_job(job.id)
    page = await service.users.history(ALICE)
    assert await service.users.thumbnails(page, "blur") == {}


async def test_only_the_flagged_cells_of_a_thumbnail_are_censored(flagging):
    service, job = flagging
    storage = service.storage
    flags = [True, False, False, True]
    path = censored_thumbnail(storage, job, flags, "blur")
    assert path == storage.thumbnail_path(job.id, "blur")
    raw, shown = _open(storage.thumbnail_path(job.id)), _open(path)
    width, height = raw.width // 2, raw.height // 2
    for index, flagged in enumerate(flags):
        box = ((index % 2) * width, (index // 2) * height)
        box = (*box, box[0] + width, box[1] + height)
        cell, raw_cell = shown.crop(box), raw.crop(box)
        if flagged:
            assert roughness(cell) < roughness(raw_cell) / 4, index
        else:
            # As it is, but for the WebP encoding (lossy; noisy tiny-model pictures).
            assert roughness(cell) > roughness(raw_cell) * 0.8, index
            assert difference(cell, raw_cell) < 10, index
