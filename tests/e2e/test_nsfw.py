"""The NSFW output filter end to end: blurred as a spoiler, withheld, or unchanged in an
NSFW channel, wherever a flagged image can be seen (the job's message, its previews, the
Vary (Region) picker, /history thumbnails). The tiny classifier's threshold is 0, so
every image (and every preview) is flagged."""

from __future__ import annotations

import re
from typing import Any

import pytest
from PIL import Image

from devtools.tiny import write_tiny_classifier
from engine import region_preview
from engine.images import _blurred
from tests.blur import difference, roughness
from tests.e2e.expect import job_id, wait_result
from tests.e2e.fake_discord import FakeDiscord, FakeMember, Interaction, StoredMessage

HELD = "a held lighthouse --steps 4 --seed 11"  # held at the end of step 1: 25%
_RUNNING = re.compile(r"running: 25%")


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory):
    return write_tiny_classifier(tmp_path_factory.mktemp("nsfw") / "tiny-nsfw")


def test_blur_outside_nsfw_channels_and_unchanged_inside(
    fake_discord: FakeDiscord, bot_factory, classifier_dir
) -> None:
    bot = bot_factory(NSFW_FILTER="blur", NSFW_MODEL=classifier_dir, NSFW_THRESHOLD=0)
    alice = fake_discord.member("alice")
    general = wait_result(fake_discord.invoke("imagine", alice, prompt="a flagged fox --steps 4"))
    [attachment] = general.attachments
    assert attachment.filename.startswith("SPOILER_"), "blurred images are sent as a spoiler"
    assert "4 images were flagged by the NSFW filter, blurred" in general.content
    assert bot.query("SELECT SUM(nsfw) FROM images") == [(4,)], "the flag is stored"
    inside = wait_result(
        fake_discord.invoke("imagine", alice, prompt="a flagged fox --steps 4", channel="nsfw")
    )
    [attachment] = inside.attachments
    assert not attachment.filename.startswith("SPOILER_") and "NSFW filter" not in inside.content


def _flagging_bot(bot_factory, classifier_dir, step_gate, mode: str):
    """A bot whose classifier flags every image, held at the step gate, previewing at
    every step."""
    return bot_factory(
        NSFW_FILTER=mode,
        NSFW_MODEL=classifier_dir,
        NSFW_THRESHOLD=0,
        E2E_STEP_GATE=step_gate,
        E2E_PREVIEW_SECONDS=0,
    )


def test_block_withholds_flagged_images(
    fake_discord: FakeDiscord, bot_factory, classifier_dir, step_gate
):
    bot = _flagging_bot(bot_factory, classifier_dir, step_gate, "block")
    alice = fake_discord.member("alice")
    handle, running = _held(fake_discord, step_gate, alice, "general")
    assert not running.attachments, "a flagged preview is withheld"
    step_gate.unlink()
    grid = wait_result(handle)
    assert "4 images were withheld by the NSFW filter" in grid.content
    pixels = grid.image().convert("RGB")
    assert set(pixels.getdata()) == {(96, 96, 96)}, "every cell replaced by a grey tile"
    # /history: the thumbnail is grey too; in an NSFW channel, the images themselves.
    page = _reply(fake_discord.invoke("history", alice))
    assert _thumbnail_spoilers(page) == [False]
    grey = page.image().convert("RGB")
    assert max(abs(value - 96) for pixel in grey.getdata() for value in pixel) <= 2
    inside = _reply(fake_discord.invoke("history", alice, channel="nsfw"))
    assert inside.attachments[0].data == _thumb(bot, job_id(grid)).read_bytes()


def test_flagged_previews_pickers_and_thumbnails_are_blurred_outside_nsfw_channels(
    fake_discord: FakeDiscord, bot_factory, classifier_dir, step_gate
) -> None:
    bot = _flagging_bot(bot_factory, classifier_dir, step_gate, "blur")
    alice = fake_discord.member("alice")
    # Previews: the same job (prompt, seed) in #general and in #nsfw, each held at the end
    # of step 1 with that step's preview shown: the same preview, blurred or not.
    results, previews = {}, {}
    for channel in ("general", "nsfw"):
        handle, running = _held(fake_discord, step_gate, alice, channel)
        [attachment] = running.attachments
        previews[channel] = (attachment.filename, running.image().convert("RGB"))
        step_gate.unlink()
        results[channel] = wait_result(handle)
    (outside_name, outside), (inside_name, inside) = previews["general"], previews["nsfw"]
    assert (outside_name, inside_name) == ("SPOILER_preview.png", "preview.png")
    assert difference(outside, _blurred(inside)) < 1, "the preview, blurred"
    assert difference(outside, inside) > 10 and roughness(outside) < roughness(inside) / 4
    assert results["general"].attachments[0].filename.startswith("SPOILER_")
    assert not results["nsfw"].attachments[0].filename.startswith("SPOILER_")

    # Vary (Region): the picker of a flagged upscale shows it blurred outside #nsfw.
    for channel, grid in results.items():
        upscale = wait_result(fake_discord.press(grid, "U1", alice))
        picker = _picker(fake_discord, upscale, alice)
        [attachment] = picker.attachments
        shown = picker.image().convert("RGB")
        raw = _stored(bot, job_id(upscale))
        clear = region_preview(raw)
        if channel == "nsfw":
            assert attachment.filename == "regions.png"
            assert difference(shown, clear) < 1, "the image itself, with its cells"
        else:
            assert attachment.filename == "SPOILER_regions.png"
            assert difference(shown, region_preview(_blurred(raw))) < 1
            assert difference(shown, clear) > 10

    # /history: four flagged jobs; their thumbnails are blurred spoilers outside #nsfw.
    outside_page = _reply(fake_discord.invoke("history", alice))
    inside_page = _reply(fake_discord.invoke("history", alice, channel="nsfw"))
    assert _thumbnail_spoilers(outside_page) == [True] * 4
    assert _thumbnail_spoilers(inside_page) == [False] * 4
    numbers = [int(name) for name in re.findall(r"job (\d+)`", inside_page.text)]
    assert len(numbers) == 4
    for index, number in enumerate(numbers):
        raw_thumb = _thumb(bot, number)
        assert inside_page.attachments[index].data == raw_thumb.read_bytes()
        with Image.open(raw_thumb) as opened:
            raw = opened.convert("RGB")
        blurred = outside_page.image(index).convert("RGB")
        assert blurred.size == raw.size and roughness(blurred) < roughness(raw) / 4, number


def _held(
    fake: FakeDiscord, step_gate, member: FakeMember, channel: str
) -> tuple[Interaction, StoredMessage]:
    """``HELD`` started in ``channel``, and its message while the call is held at the
    end of step 1 (with that step's preview, unless it is withheld)."""
    step_gate.write_text("1")
    handle = fake.invoke("imagine", member, prompt=HELD, channel=channel)
    return handle, handle.wait_original(lambda m: bool(_RUNNING.search(m.content)), 60)


def _picker(fake: FakeDiscord, upscale: StoredMessage, member: FakeMember) -> StoredMessage:
    handle = fake.press(upscale, "Vary (Region)", member)
    assert handle.wait_ack().ephemeral, "the picker is the presser's own"
    return handle.wait_original()


def _reply(handle: Interaction) -> StoredMessage:
    message = handle.wait_reply(lambda m: not m.loading and bool(m.text), 20)
    assert message.ephemeral
    return message


def _stored(bot, number: int) -> Image.Image:
    with Image.open(bot.data_dir / "images" / str(number) / "1.png") as image:
        return image.convert("RGB")


def _thumb(bot, number: int):
    return bot.data_dir / "images" / str(number) / "thumb.webp"


def _thumbnail_spoilers(message: StoredMessage) -> list[bool]:
    """Whether each thumbnail of a Components V2 message is a spoiler, in order."""
    found: list[bool] = []

    def walk(items: Any) -> None:
        for item in items or ():
            if isinstance(item, dict):
                if item.get("type") == 11:
                    found.append(bool(item.get("spoiler")))
                walk(item.get("components"))
                if isinstance(item.get("accessory"), dict):
                    walk([item["accessory"]])

    walk(message.components)
    return found
