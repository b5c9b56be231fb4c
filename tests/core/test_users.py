"""Per-user defaults (/settings), history pages and /info, through real SQLite."""

from __future__ import annotations

import pytest

from core.errors import BadParameter, NotAllowed
from core.model import Requester
from core.outputs import Thumbnail

ALICE = Requester(user_id=101, guild_id=1, channel_id=10)
BOB = Requester(user_id=202, guild_id=1, channel_id=11)
ADMIN = Requester(user_id=303, guild_id=1, channel_id=10, is_admin=True)


@pytest.fixture
async def service(make_services):
    # Not started: jobs stay queued.
    return await make_services(started=False, max_queued_per_user=50, max_queue=100)


async def test_settings_round_trip_and_reset(service):
    assert await service.users.user_settings(ALICE) == {}
    saved = await service.users.update_settings(ALICE, aspect="16:9", steps=12, cfg=4.5)
    assert saved == {"aspect": "16:9", "steps": 12, "cfg": 4.5}
    saved = await service.users.update_settings(ALICE, negative="  blurry,   text ")
    assert saved == {"aspect": "16:9", "steps": 12, "cfg": 4.5, "negative": "blurry, text"}
    assert await service.users.user_settings(ALICE) == saved
    assert await service.users.update_settings(ALICE, reset=True) == {}
    assert await service.users.update_settings(ALICE, reset=True, steps=3) == {"steps": 3}


@pytest.mark.parametrize(
    ("option", "value", "fragment"),
    [
        ("aspect", "9:1", "1:4 and 4:1"),
        ("aspect", "wide", "two whole numbers"),
        ("steps", 0, "1 to 50"),
        ("steps", 51, "1 to 50"),
        ("cfg", 20.5, "0 to 20"),
        ("negative", "   ", "needs text"),
    ],
)
async def test_bad_settings_get_the_prompt_parameters_messages(service, option, value, fragment):
    with pytest.raises(BadParameter, match=fragment) as caught:
        await service.users.update_settings(ALICE, **{option: value})
    assert caught.value.parameter == option
    assert await service.users.user_settings(ALICE) == {}


async def test_the_prompt_wins_over_settings_which_win_over_the_model(service):
    await service.users.update_settings(ALICE, aspect="3:2", steps=7, cfg=3, negative="people")
    job = await service.jobs.imagine(ALICE, "a fox")
    p = job.params
    assert (p.width, p.height, p.steps, p.guidance) == (192, 128, 7, 3.0)
    assert job.negative == "people"
    job = await service.jobs.imagine(ALICE, "a fox --ar 2:3 --steps 9 --cfg 5 --no cars")
    p = job.params
    assert (p.width, p.height, p.steps, p.guidance) == (128, 192, 9, 5.0)
    assert job.negative == "cars"
    other = await service.jobs.imagine(BOB, "a fox")  # Bob has no defaults: the model's
    assert (other.params.width, other.params.steps, other.params.guidance) == (
        128,
        25,
        7.0,
    )


async def test_history_pages_newest_first_and_admin_only_for_others(service):
    ids = [(await service.jobs.imagine(ALICE, f"fox {i} --steps 2")).id for i in range(23)]
    await service.jobs.imagine(BOB, "bob's fox --steps 2")
    first = await service.users.history(ALICE)
    assert (first.page, first.pages, first.total) == (1, 3, 23)
    assert [job.id for job in first.jobs] == ids[::-1][:10]
    last = await service.users.history(ALICE, 3)
    assert [job.id for job in last.jobs] == ids[::-1][20:]
    with pytest.raises(BadParameter, match="Page 4 is past the end: there are 3 pages"):
        await service.users.history(ALICE, 4)
    with pytest.raises(BadParameter, match="starts at 1"):
        await service.users.history(ALICE, 0)
    with pytest.raises(NotAllowed, match="Only admins"):
        await service.users.history(BOB, user_id=ALICE.user_id)
    seen_by_admin = await service.users.history(ADMIN, 2, user_id=ALICE.user_id)
    assert [job.id for job in seen_by_admin.jobs] == ids[::-1][10:20]
    empty = await service.users.history(ADMIN)
    assert (empty.total, empty.pages, empty.jobs) == (0, 1, [])


async def test_info_shows_quota_jobs_queue_and_model(service):
    first = await service.jobs.imagine(ALICE, "one --steps 2")
    second = await service.jobs.imagine(ALICE, "two --steps 2")
    await service.jobs.imagine(BOB, "three --steps 2")
    details = await service.users.info(ALICE)
    assert (details.quota.used, details.quota.limit, details.quota.left) == (2, 50, 48)
    assert details.jobs == [(first.id, 1), (second.id, 3)]  # Bob's job is fairly between
    assert details.queue_length == 3 and details.running == 0
    assert details.model == "tiny-sd" and details.device == "cpu"
    assert details.workers == [], "the workers are for admins"
    admin = await service.users.info(ADMIN)
    assert [(w.name, w.up, w.error) for w in admin.workers] == [("cpu", True, "")]


async def test_history_thumbnails_are_made_once_per_job(make_services):
    from PIL import Image

    service = await make_services()
    done = await service.runner.wait((await service.jobs.imagine(ALICE, "a fox --steps 2")).id)
    path = service.storage.thumbnail_path(done.id)
    assert path.is_file(), "made when the job ended"
    with Image.open(path) as thumbnail:
        assert thumbnail.format == "WEBP" and max(thumbnail.size) <= 256
    page = await service.users.history(ALICE)
    assert await service.users.thumbnails(page) == {done.id: Thumbnail(path)}
    # A job from before thumbnails gets one at its first view, then keeps it.
    path.unlink()
    assert await service.users.thumbnails(page) == {done.id: Thumbnail(path)}
    made = path.stat().st_mtime_ns
    await service.users.thumbnails(page)
    assert path.stat().st_mtime_ns == made
    # No images, no thumbnail: a purged job is a line alone.
    await service.storage.purge_job(done.id)
    page = await service.users.history(ALICE)
    assert await service.users.thumbnails(page) == {}
