"""/admin stats (core/stats.py, issue 28): GPU time by member and day, jobs by kind and
model, failures; an admin sees their server, an owner every server; the chart is a PNG."""

from __future__ import annotations

import dataclasses
import io

import pytest
from PIL import Image

from core.errors import BadParameter, NotAllowed
from core.stats import chart_png, figures_text
from tests.core.commits import ALICE, BOB, finished

ADMIN = dataclasses.replace(ALICE, user_id=303, is_admin=True)
OWNER = dataclasses.replace(ADMIN, user_id=404, is_owner=True)
ELSEWHERE = dataclasses.replace(BOB, guild_id=2)


async def test_stats_by_member_kind_model_and_failures(make_services):
    service = await make_services()
    jobs = []
    for who, seconds in ((ALICE, 120.0), (BOB, 30.0), (ELSEWHERE, 600.0)):
        job = await finished(service, (await service.jobs.imagine(who, "a kite --steps 2")).id)
        await service.storage.add_gpu_seconds(job.id, seconds)
        jobs.append(job)
    failed = await service.jobs.imagine(ALICE, "a fox --steps 2")
    await service.runner.wait(failed.id)
    await service.storage.finish_job(failed.id, "failed", "the GPU ran out of memory", 5.0)

    here = await service.moderation.stats(ADMIN, 7)
    assert not here.everywhere and here.days == 7
    members = {user: (seconds, count) for user, seconds, count in here.by_member}
    assert set(members) == {ALICE.user_id, BOB.user_id}, "this server's members only"
    assert members[ALICE.user_id][1] == 2 and members[ALICE.user_id][0] > 125
    assert here.by_member[0][0] == ALICE.user_id  # the most first
    assert dict((k, n) for k, n, _ in here.by_kind) == {"imagine": 3}
    assert [reason for reason, _ in here.failures] == ["the GPU ran out of memory"]
    assert here.by_model[0][0] == "tiny-sd" and here.jobs == 3
    assert here.gpu_seconds == pytest.approx(sum(s for _, s, _ in here.by_member))
    text = figures_text(here)
    assert "GPU minutes" in text and f"<@{ALICE.user_id}>" in text and "imagine 3" in text

    everywhere = await service.moderation.stats(OWNER, 7)
    assert everywhere.everywhere and everywhere.jobs == 4
    assert everywhere.by_member[0][0] == ELSEWHERE.user_id

    png = chart_png(here, {ALICE.user_id: "alice", BOB.user_id: "bob"})
    with Image.open(io.BytesIO(png)) as chart:
        assert chart.format == "PNG" and chart.size == (800, 400)


async def test_stats_are_for_admins_and_days_are_bounded(make_services):
    service = await make_services()
    with pytest.raises(NotAllowed):
        await service.moderation.stats(ALICE, 7)
    with pytest.raises(BadParameter, match="1 to 90"):
        await service.moderation.stats(ADMIN, 91)
    empty = await service.moderation.stats(ADMIN, 1)
    assert empty.jobs == 0 and "none" in figures_text(empty)
    assert chart_png(empty, {}).startswith(b"\x89PNG")  # "no GPU time yet"
