"""A batch's images (engine/entries.py): one entry per image with its job, seed, and the
source and mask at the job's size."""

from __future__ import annotations

import numpy as np
from PIL import Image

from engine.canvas import region
from engine.entries import entries_of
from engine.handle import JobHandle
from engine.types import JobSpec, Paint


def handle(job_id: int, **fields) -> JobHandle:
    values = {"width": 64, "height": 48, "steps": 2, "guidance": 7.0, "seed": 10 * job_id}
    values.update(fields)
    return JobHandle(JobSpec(job_id, "a fox", "", **values), 0)


async def test_each_image_of_each_job_with_its_seed_in_order():
    first, second = handle(1, num_images=2), handle(2, num_images=3, seed=2**32 - 1)
    entries = entries_of([first, second])
    assert [(e.item, e.seed) for e in entries] == [
        (first, 10),
        (first, 11),
        (second, 2**32 - 1),
        (second, 0),  # seeds wrap as the seed range does
        (second, 1),
    ]
    assert all(e.source is None and e.mask is None for e in entries)
    assert entries_of([]) == []


async def test_a_source_and_a_mask_are_read_at_the_jobs_size(tmp_path):
    Image.new("RGBA", (32, 16), (200, 10, 10, 128)).save(tmp_path / "source.png")
    Image.new("RGB", (64, 48), (255, 255, 255)).save(tmp_path / "mask.png")
    image_to_image = handle(1, num_images=1, source_image=tmp_path / "source.png", strength=0.5)
    inpaint = handle(
        2, num_images=1, source_image=tmp_path / "source.png", mask_image=tmp_path / "mask.png"
    )
    (plain,), (painted,) = entries_of([image_to_image]), entries_of([inpaint])
    assert (plain.source.mode, plain.source.size, plain.mask) == ("RGB", (64, 48), None)
    assert plain.source.getpixel((32, 24)) == (200, 10, 10)
    assert (painted.mask.mode, painted.mask.size) == ("L", (64, 48))
    assert painted.mask.getpixel((0, 0)) == 255


async def test_a_region_is_painted_on_the_source_with_its_cells_masked(tmp_path):
    Image.new("RGB", (64, 48), (10, 120, 30)).save(tmp_path / "source.png")
    job = handle(
        1,
        num_images=2,
        source_image=tmp_path / "source.png",
        paint=Paint("region", cells=(1, 5)),
    )
    entries = entries_of([job])
    assert [e.seed for e in entries] == [10, 11]
    for entry in entries:
        assert entry.source.size == (64, 48) and entry.source.getpixel((5, 5)) == (10, 120, 30)
        assert np.array_equal(np.asarray(entry.mask), np.asarray(region((64, 48), [1, 5])))
