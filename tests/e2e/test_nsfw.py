"""The NSFW output filter end to end: blurred as a spoiler, withheld, or unchanged in an
NSFW channel. The tiny classifier's threshold is 0, so every image is flagged."""

from __future__ import annotations

import pytest

from devtools.tiny import write_tiny_classifier
from tests.e2e.expect import wait_result
from tests.e2e.fake_discord import FakeDiscord


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


def test_block_withholds_flagged_images(fake_discord: FakeDiscord, bot_factory, classifier_dir):
    bot_factory(NSFW_FILTER="block", NSFW_MODEL=classifier_dir, NSFW_THRESHOLD=0)
    alice = fake_discord.member("alice")
    grid = wait_result(fake_discord.invoke("imagine", alice, prompt="a blocked fox --steps 4"))
    assert "4 images were withheld by the NSFW filter" in grid.content
    pixels = grid.image().convert("RGB")
    assert set(pixels.getdata()) == {(96, 96, 96)}, "every cell replaced by a grey tile"
