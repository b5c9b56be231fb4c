"""What a finished job leaves on disk (core/outputs.py): one PNG per image with its recipe,
the grid, and the /history thumbnails; read back from the files, over real storage."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from core.model import EVERYWHERE, JobParams, NewJob
from core.outputs import (
    THUMBNAIL_SIDE,
    censored_thumbnail,
    ensure_thumbnail,
    write_outputs,
)
from engine import JobOutput, JobSpec
from storage.db import Storage

COLOURS = [(250, 0, 0), (0, 250, 0), (0, 0, 250), (250, 250, 0)]


def imagine(negative: str = "people") -> NewJob:
    """A text-to-image job of user 42."""
    fields = {
        "user_id": 42,
        "prompt": "a fox",
        "negative": negative,
        "seed": 7,
        "params": JobParams(width=64, height=48, steps=4, guidance=6.5),
        "guild_id": 1,
        "channel_id": 2,
    }
    try:  # a job's recipe is a typed value (issue 24); before that, a kind
        from core.recipes import Imagine
    except ImportError:
        return NewJob(kind="imagine", **fields)
    return NewJob(recipe=Imagine(), **fields)


def spec_of(job, **fields) -> JobSpec:
    values = {"width": 64, "height": 48, "steps": 4, "guidance": 6.5, "seed": job.seed}
    values.update(fields)
    return JobSpec(job.id, job.prompt, job.negative, **values)


def images(count: int, size=(64, 48)) -> list[Image.Image]:
    """Plain images of one colour each."""
    return [Image.new("RGB", size, COLOURS[i]) for i in range(count)]


def striped(count: int) -> list[Image.Image]:
    """Images of 2-pixel stripes, their colour and black: detail a censor removes."""
    out = []
    for colour in COLOURS[:count]:
        pixels = np.zeros((48, 64, 3), dtype=np.uint8)
        for column in range(0, 64, 4):
            pixels[:, column : column + 2] = colour
        out.append(Image.fromarray(pixels))
    return out


def text_of(path) -> dict[str, str]:
    with Image.open(path) as image:
        image.load()
        return dict(image.text)


@pytest.fixture
async def storage(tmp_path):
    async with Storage(tmp_path / "data") as storage:
        yield storage


async def test_a_grid_job_leaves_four_pngs_with_their_recipe_a_grid_and_a_thumbnail(storage):
    job = await storage.create_job(imagine())
    output = JobOutput(job.id, images(4), nsfw=[False, True, False, False])
    rows = write_outputs(storage, job, spec_of(job), output, "Euler a")
    assert [(r.index, r.seed, r.nsfw, r.width, r.height) for r in rows] == [
        (1, 7, False, 64, 48),
        (2, 8, True, 64, 48),
        (3, 9, False, 64, 48),
        (4, 10, False, 64, 48),
    ]
    folder = storage.job_dir(job.id)
    assert sorted(p.name for p in folder.iterdir()) == [
        "1.png",
        "2.png",
        "3.png",
        "4.png",
        "grid.png",
        "thumb.webp",
    ]
    for row, colour in zip(rows, COLOURS, strict=True):
        with Image.open(storage.image_file(row)) as image:
            assert image.size == (64, 48) and image.convert("RGB").getpixel((3, 3)) == colour
    second = text_of(storage.image_path(job.id, 2))
    assert {k: second[k] for k in ("prompt", "negative", "seed", "steps", "guidance")} == {
        "prompt": "a fox",
        "negative": "people",
        "seed": "8",
        "steps": "4",
        "guidance": "6.5",
    }
    assert (second["size"], second["job"], second["index"]) == ("64x48", str(job.id), "2")
    assert (second["kind"], second["Software"]) == ("imagine", "imaginebot")
    assert second["parameters"] == (
        "a fox\nNegative prompt: people\n"
        "Steps: 4, Sampler: Euler a, CFG scale: 6.5, Seed: 8, Size: 64x48, "
        f"Model: {job.params.model}"
    )
    with Image.open(storage.grid_path(job.id)) as grid:
        assert grid.size == (128, 96)
        assert grid.convert("RGB").getpixel((64 + 3, 48 + 3)) == COLOURS[3]  # bottom right
        assert grid.text == {"prompt": "a fox", "job": str(job.id), "Software": "imaginebot"}
    with Image.open(storage.thumbnail_path(job.id)) as thumb:
        assert thumb.format == "WEBP" and max(thumb.size) <= THUMBNAIL_SIDE


async def test_one_image_has_no_grid_and_its_own_thumbnail(storage, tmp_path):
    job = await storage.create_job(imagine(negative=""))
    source = tmp_path / "source.png"
    Image.new("RGB", (64, 48)).save(source)
    spec = spec_of(job, num_images=1, source_image=source, strength=0.3, tile=True)
    big = Image.new("RGB", (640, 480), (9, 9, 9))
    (row,) = write_outputs(storage, job, spec, JobOutput(job.id, [big]), "DPM++")
    assert (row.width, row.height, row.nsfw) == (640, 480, False)
    assert not storage.grid_path(job.id).exists()
    recipe = text_of(storage.image_path(job.id, 1))
    assert (recipe["strength"], recipe["tile"]) == ("0.3", "on")
    assert "negative" in recipe and recipe["negative"] == ""
    assert recipe["parameters"].startswith("a fox\nSteps: 4, Sampler: DPM++,")  # no negative
    assert recipe["parameters"].endswith(", Denoising strength: 0.3, Tiling: True")
    with Image.open(storage.thumbnail_path(job.id)) as thumb:
        assert thumb.size == (214, 160)  # 640x480 reduced by 3, within THUMBNAIL_SIDE


async def test_a_missing_thumbnail_is_made_once_from_the_grid(storage):
    job = await storage.create_job(imagine())
    write_outputs(storage, job, spec_of(job), JobOutput(job.id, images(4)), "Euler")
    path = storage.thumbnail_path(job.id)
    path.unlink()  # a job from before thumbnails
    assert ensure_thumbnail(storage, job) == path and path.is_file()
    made = path.stat().st_mtime_ns
    assert ensure_thumbnail(storage, job) == path and path.stat().st_mtime_ns == made
    await storage.purge_job(job.id)
    purged = await storage.get_job(job.id, scope=EVERYWHERE)
    assert ensure_thumbnail(storage, purged) is None
    queued = await storage.create_job(imagine())
    assert ensure_thumbnail(storage, queued) is None  # no images yet


@pytest.mark.parametrize("mode", ["blur", "block"])
async def test_the_censored_thumbnail_hides_the_flagged_image_only(storage, mode):
    job = await storage.create_job(imagine())
    flags = [True, False, False, False]
    output = JobOutput(job.id, striped(4), nsfw=flags)
    write_outputs(storage, job, spec_of(job), output, "Euler")
    path = censored_thumbnail(storage, job, flags, mode)
    assert path == storage.thumbnail_path(job.id, mode)
    with Image.open(path) as shown, Image.open(storage.thumbnail_path(job.id)) as plain:
        shown_px = np.asarray(shown.convert("RGB"), dtype=np.float32)
        plain_px = np.asarray(plain.convert("RGB"), dtype=np.float32)
    h, w = shown_px.shape[0] // 2, shown_px.shape[1] // 2
    quarters = [(slice(0, h), slice(0, w)), (slice(h, None), slice(w, None))]
    (flagged, shown_other), (plain_flagged, plain_other) = (
        [pixels[rows, cols].std(axis=(0, 1)).max() for rows, cols in quarters]
        for pixels in (shown_px, plain_px)
    )
    # The flagged image (top left) loses its stripes; the others keep theirs.
    assert flagged < plain_flagged / 3
    assert abs(shown_other - plain_other) < plain_other / 10
    assert censored_thumbnail(storage, job, flags, mode) == path  # made once
    missing = await storage.create_job(imagine())
    assert censored_thumbnail(storage, missing, flags, mode) is None
