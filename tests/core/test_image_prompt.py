"""Image prompts: the file's checks (by content, before decoding), its preparation, and
the jobs that start from it."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from PIL import Image, ImageFile, PngImagePlugin

from core.errors import BadImage, BadParameter, Banned, BlockedPrompt, QuotaExceeded
from core.image_prompt import MAX_IMAGE_BYTES, image_strength, load_image_prompt, own_aspect
from core.model import Action, Requester
from core.recipes import ImagePrompt, Imagine, Reroll
from tests.images import (
    drawing,
    encoded,
    png_chunk,
    png_claiming,
    png_with_chunks,
    unpacking_to,
)

ALICE = Requester(user_id=101, guild_id=1, channel_id=10)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_png_jpeg_and_webp_are_read(fmt):
    image = load_image_prompt(encoded(drawing(), fmt))
    assert image.mode == "RGB" and image.size == (300, 200)


def test_exif_orientation_is_applied():
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90° clockwise: shown upright, it is 200 wide, 300 high
    image = load_image_prompt(encoded(drawing(), "JPEG", exif=exif.tobytes()))
    assert image.size == (200, 300)


def test_alpha_is_flattened_on_white():
    clear = Image.new("RGBA", (64, 64), (255, 0, 0, 0))
    image = load_image_prompt(encoded(clear, "PNG"))
    assert image.mode == "RGB" and image.getpixel((5, 5)) == (255, 255, 255)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (png_claiming(5000, 10), "5000x10 pixels; the most is 4096x4096"),
        (png_claiming(60000, 60000), "the most is 4096x4096"),  # a bomb's header
        (b"\x89PNG" + bytes(MAX_IMAGE_BYTES), "the most is 10 MB"),
        (b"just some text, named like an image", "not a PNG, JPEG or WebP"),
        (encoded(drawing(), "GIF"), "not a PNG, JPEG or WebP"),
        (encoded(drawing(), "PNG")[:200], "cut off"),
    ],
)
def test_bad_files_say_what_is_wrong(data, words):
    with pytest.raises(BadImage, match=words):
        load_image_prompt(data)


_BOMB = "unpacks to far more than an image needs"
_CUT_OFF = "The image file is cut off: it ends before the picture does"


def _text_bomb(kind: bytes) -> bytes:
    """A chunk of ``kind`` (zTXt, iTXt, iCCP) that unpacks to 50 MB from ~50 KB."""
    bomb = unpacking_to(50 * 1024 * 1024)
    header = {b"zTXt": b"Comment\0\0", b"iTXt": b"Comment\0\1\0\0\0", b"iCCP": b"icc\0\0"}
    return png_chunk(kind, header[kind] + bomb)


@pytest.mark.parametrize("kind", [b"zTXt", b"iTXt", b"iCCP"])
@pytest.mark.parametrize("where", ["before", "after"])
def test_a_chunk_that_unpacks_too_far_is_refused_as_a_bomb(kind, where):
    # Before the pixels Pillow reads it at open, after them at load: refused either way.
    chunks = {where: (_text_bomb(kind),)}
    with pytest.raises(BadImage, match=_BOMB):
        load_image_prompt(png_with_chunks(**chunks))


def test_many_text_chunks_past_pillows_total_are_refused_as_a_bomb():
    # Each under PngImagePlugin.MAX_TEXT_CHUNK, together past MAX_TEXT_MEMORY.
    per_chunk = PngImagePlugin.MAX_TEXT_CHUNK - 64
    count = PngImagePlugin.MAX_TEXT_MEMORY // per_chunk + 1
    text = zlib.compress(b"a" * per_chunk, 9)
    chunks = tuple(png_chunk(b"zTXt", b"k%d\0\0" % i + text) for i in range(count))
    assert len(png_with_chunks(before=chunks)) < MAX_IMAGE_BYTES
    with pytest.raises(BadImage, match=_BOMB):
        load_image_prompt(png_with_chunks(before=chunks))


def test_a_little_text_is_fine():
    note = png_chunk(b"zTXt", b"Comment\0\0" + zlib.compress(b"a sunny day" * 100))
    assert load_image_prompt(png_with_chunks(before=(note,), after=(note,))).size == (16, 16)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
@pytest.mark.parametrize("kept", [0.05, 0.5, 0.95])
def test_a_truncated_file_is_refused_as_cut_off(fmt, kept):
    # Noise, so that every format's file is long enough to cut anywhere.
    noise = np.random.default_rng(7).integers(0, 256, (200, 300, 3), dtype=np.uint8)
    whole = encoded(Image.fromarray(noise), fmt)
    assert load_image_prompt(whole).size == (300, 200)
    with pytest.raises(BadImage, match=_CUT_OFF):
        load_image_prompt(whole[: int(len(whole) * kept)])
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False, "a cut-off file is never patched up"


def test_a_damaged_file_is_refused_plainly():
    data = bytearray(encoded(drawing(), "WEBP"))
    data[30:60] = bytes(30)  # the VP8 frame header zeroed, the file's length intact
    with pytest.raises(BadImage, match="could not be read: the file is damaged"):
        load_image_prompt(bytes(data))


def test_own_aspect_is_reduced_and_kept_within_bounds():
    assert own_aspect(drawing((300, 200))) == (3, 2)
    assert own_aspect(drawing((4000, 100))) == (4, 1)
    assert own_aspect(drawing((100, 4000))) == (1, 4)


def test_image_weight_maps_to_strength():
    assert [image_strength(w) for w in (0, 1, 2, None)] == [0.95, 0.55, 0.15, 0.55]


async def test_an_image_prompt_makes_image_to_image_jobs_from_a_stored_source(make_services):
    service = await make_services(max_steps=50)
    data = encoded(drawing(), "PNG")
    with pytest.raises(BadParameter, match="--iw"):
        await service.jobs.imagine_all(ALICE, "a fox --iw 1.5")
    with pytest.raises(BadImage):
        await service.jobs.imagine_all(ALICE, "a fox", image=b"not an image")
    assert await service.storage.count_jobs() == 0

    [job] = await service.jobs.imagine_all(ALICE, "a fox --steps 4 --seed 3", image=data)
    assert job.recipe == Imagine(ImagePrompt(1.0)) and job.recipe.strength == 0.55
    assert job.params.aspect == "3:2"  # the image's own shape
    spec = service.runner.spec_for(job)
    assert spec.source_image == service.storage.source_path(job.id)
    done = await service.runner.wait(job.id)
    assert done.status == "done", done.error
    with Image.open(service.storage.source_path(job.id)) as source:
        assert source.size == (job.params.width, job.params.height)
    [row, *_] = await service.runner.images(job.id)
    with Image.open(service.storage.image_file(row)) as png:
        assert png.text["image"] == f"images/{job.id}/source.png"
        assert "Image weight: 1" in png.text["parameters"]
    # --ar: cover-cropped to it. 🔄 starts from the same image; V1 from image 1.
    [square] = await service.jobs.imagine_all(ALICE, "a fox --ar 1:1 --steps 4", image=data)
    assert square.params.width == square.params.height
    reroll = await service.jobs.press(ALICE, Action.REROLL, job.id, None)
    assert reroll.recipe == Reroll(Imagine(ImagePrompt(1.0, job.id)))
    assert service.runner.spec_for(reroll).source_image == service.storage.source_path(job.id)
    variation = await service.jobs.press(ALICE, Action.VARY_STRONG, job.id, 1)
    assert service.runner.spec_for(variation).source_image == service.storage.image_path(job.id, 1)
    for other in (square, reroll, variation):
        assert (await service.runner.wait(other.id)).status == "done"


async def test_the_image_is_fetched_only_after_the_cheap_checks(make_services):
    # Never started: every answer here comes before any GPU work.
    service = await make_services(started=False, daily_quota=1)
    bob = Requester(user_id=202, guild_id=1, channel_id=10)
    admin = Requester(user_id=303, guild_id=1, channel_id=10, is_admin=True)
    fetched: list[Requester] = []

    def fetch_for(who: Requester):
        async def fetch() -> bytes:
            fetched.append(who)
            return encoded(drawing(), "PNG")

        return fetch

    await service.jobs.imagine_all(ALICE, "a fox --steps 2")  # her one job of the day
    await service.moderation.ban(admin, bob.user_id, "spam")
    await service.moderation.banword(admin, "add", "gore")
    dave = Requester(user_id=505, guild_id=1, channel_id=10)
    refusals = [
        (ALICE, "a fox --steps 2", QuotaExceeded),
        (bob, "a fox --steps 2", Banned),
        (ALICE, "a fox --seed twelve", BadParameter),  # the parse comes first too
        (dave, "a g0re scene --steps 2", BlockedPrompt),  # and the blocked words
        (dave, "a fox --no gore --repeat 2", BlockedPrompt),
    ]
    for who, prompt, refusal in refusals:
        with pytest.raises(refusal):
            await service.jobs.imagine_all(who, prompt, fetch_for(who))
    assert fetched == [], "no download for a request refused by the cheaper checks"
    carol = Requester(user_id=404, guild_id=1, channel_id=10)
    [job] = await service.jobs.imagine_all(carol, "a fox --steps 2", fetch_for(carol))
    assert fetched == [carol] and job.recipe == Imagine(ImagePrompt(1.0))


def round_trip(model, image: Image.Image) -> np.ndarray:
    """``image`` through the VAE and back: what image-to-image gives at strength 0 (the
    tiny model's VAE has random weights, so this is far from the image itself)."""
    import torch

    pipe = model.text2img
    with torch.no_grad():
        tensor = pipe.image_processor.preprocess(image)
        latents = pipe.vae.encode(tensor).latent_dist.mean
        decoded = pipe.vae.decode(latents).sample
    [out] = pipe.image_processor.postprocess(decoded, output_type="pil")
    return np.asarray(out, dtype=np.float64)


async def test_image_weight_orders_results_by_distance_to_the_source(make_services, sd_model):
    service = await make_services(max_steps=50)
    data = encoded(drawing(), "PNG")
    distances = []
    for weight in (0, 1, 2):
        [job] = await service.jobs.imagine_all(
            ALICE, f"a fox --iw {weight} --steps 8 --seed 11", image=data
        )
        assert (await service.runner.wait(job.id)).status == "done"
        with Image.open(service.storage.source_path(job.id)) as source:
            reference = round_trip(sd_model, source.convert("RGB"))
        rows = await service.runner.images(job.id)
        with Image.open(service.storage.image_file(rows[0])) as result:
            distances.append(np.abs(np.asarray(result, dtype=np.float64) - reference).mean())
    assert distances[0] > distances[1] > distances[2], distances
