"""A finished job's message: the grid with U/V buttons, or one image with its rows; the
PNG as written (scaled down only past the upload limit); flagged images blurred as a
spoiler or withheld outside NSFW channels, with a notice; nothing for a job not done."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import shutil

import pytest
from PIL import Image

from bot.discord_app.delivery.payload import GONE, Payload, build_payload
from bot.discord_app.text import result_text
from core.model import Action, Requester
from tests.bot.discord_app.offline import add_guild, make_bot

SAFE, NSFW = 10, 11
ALICE = Requester(user_id=101, guild_id=1, channel_id=SAFE)
IN_NSFW = Requester(user_id=101, guild_id=1, channel_id=NSFW)
LIMIT = 10 * 1024 * 1024


@pytest.fixture
async def services(make_services):
    return await make_services()


async def finished(services, who=ALICE, prompt="a fox --steps 2"):
    job = await services.jobs.imagine(who, prompt)
    return await services.runner.wait(job.id)


def bot_for(services, mode="blur"):
    bot = make_bot(services, nsfw_filter=mode)
    add_guild(bot, text={SAFE: False, NSFW: True})
    return bot


def ids(payload: Payload) -> list[str]:
    assert payload.view is not None
    return [item.custom_id for item in payload.view.children]  # type: ignore[attr-defined]


async def flag(services, job_id: int, *indexes: int) -> None:
    """What the classifier would have recorded: these images flagged."""
    rows = await services.runner.images(job_id)
    flagged = [dataclasses.replace(r, nsfw=True) for r in rows if r.index in indexes]
    await services.storage.add_images(flagged)


def picture(payload: Payload) -> Image.Image:
    ((_, data),) = payload.attachments
    return Image.open(io.BytesIO(data))


async def test_a_grid_is_its_png_as_written_with_the_grid_buttons_censored_outside_nsfw(
    services,
) -> None:
    job = await finished(services)  # one job for the whole test: jobs are the cost here
    payload = await build_payload(bot_for(services), job, LIMIT)
    grid = services.storage.grid_path(job.id).read_bytes()
    assert payload.attachments == [(f"job-{job.id}.png", grid)]
    assert ids(payload)[:5] == [f"u:{job.id}:{n}" for n in (1, 2, 3, 4)] + [f"r:{job.id}:0"]
    assert payload.content(job) == result_text(job) and payload.notice == ""
    # Past the upload limit: scaled down to fit, not refused.
    small = await build_payload(bot_for(services), job, len(grid) // 2)
    assert len(small.attachments[0][1]) <= len(grid) // 2
    assert picture(small).width < picture(payload).width

    await flag(services, job.id, 2)
    clear = Image.open(services.storage.grid_path(job.id)).convert("RGB")
    blurred = await build_payload(bot_for(services, "blur"), job, LIMIT)
    assert blurred.attachments[0][0] == f"SPOILER_job-{job.id}.png"
    assert blurred.notice == "1 image was flagged by the NSFW filter, blurred: open the spoiler."
    assert blurred.content(job) == f"{result_text(job)}\n{blurred.notice}"
    blocked = await build_payload(bot_for(services, "block"), job, LIMIT)
    assert blocked.attachments[0][0] == f"job-{job.id}.png"
    assert blocked.notice == "1 image was withheld by the NSFW filter."
    for censored in (blurred, blocked):
        shown = picture(censored).convert("RGB")
        assert shown.size == clear.size and shown.tobytes() != clear.tobytes()
        assert ids(censored)[0] == f"u:{job.id}:1"  # the buttons stay

    # As they are in a channel Discord marks NSFW, or with the filter off.
    in_nsfw = dataclasses.replace(job, channel_id=NSFW)
    for bot, shown_job in ((bot_for(services, "block"), in_nsfw), (bot_for(services, "off"), job)):
        as_is = await build_payload(bot, shown_job, LIMIT)
        assert as_is.attachments == [(f"job-{job.id}.png", grid)] and as_is.notice == ""


async def test_an_upscale_is_its_one_image_with_the_upscale_rows_or_nothing_if_blocked(
    services,
) -> None:
    grid = await finished(services)
    child = await services.jobs.press(ALICE, Action.UPSCALE, grid.id, 2)
    upscaled = await services.runner.wait(child.id)
    payload = await build_payload(bot_for(services), upscaled, LIMIT)
    (row,) = await services.runner.images(upscaled.id)
    image = services.storage.image_file(row).read_bytes()
    assert payload.attachments == [(f"job-{upscaled.id}.png", image)]
    assert ids(payload)[0] == f"v:{upscaled.id}:1" and len(ids(payload)) == 11
    await flag(services, upscaled.id, 1)
    blocked = await build_payload(bot_for(services, "block"), upscaled, LIMIT)
    assert blocked.attachments == [] and blocked.notice.startswith("1 image was withheld")


async def test_a_job_not_done_has_no_images_and_no_buttons(make_services) -> None:
    services = await make_services(started=False)
    job = await services.jobs.imagine(ALICE, "a fox --steps 2")  # queued, as admitted
    payload = await build_payload(bot_for(services), job, LIMIT)
    assert (payload.attachments, payload.view) == ([], None)


async def test_a_result_whose_images_went_before_it_was_posted_is_its_text(services) -> None:
    """A result that never reached Discord (its channel gone, the bot stopped) while
    KEEP_IMAGES_DAYS went by, or whose files went as it was posted: its text, no buttons."""
    job = await finished(services)
    await asyncio.to_thread(shutil.rmtree, services.storage.job_dir(job.id))
    for shown in (job, dataclasses.replace(job, images_expired_at="2026-03-01T00:00:00")):
        payload = await build_payload(bot_for(services), shown, LIMIT)
        assert (payload.attachments, payload.view, payload.notice) == ([], None, GONE)
        assert payload.content(shown) == f"{result_text(shown)}\n{GONE}"
