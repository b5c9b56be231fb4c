"""Fast time and relax through the real bot and the fake Discord (issue 28): a member past
their fast minutes gets their next job in relax, the message saying why; /info shows fast
time used and left and the mode; /settings mode:relax; an admin's /admin quota minutes:
override; with RELAX=off the job is refused privately with the time fast time renews.

FAST_MINUTES_DAILY=0.0002 is 12 ms: the first job (4 images of 128 px, 2 steps: 0.13
units of work) fits at the default rate (0.06 s a unit: 8 ms); a second one of 40 steps
(20 times the work) at the rate the first one measured does not, however fast this CPU."""

from __future__ import annotations

from tests.e2e.expect import (
    assert_single,
    job_id,
    new_message,
    press,
    refused_privately,
    wait_result,
)
from tests.e2e.fake_discord import FakeDiscord, Interaction

SHORT = "--steps 2"


def _reply(handle: Interaction) -> str:
    message = handle.wait_reply(lambda m: not m.loading and bool(m.text), 20)
    assert message.ephemeral
    return message.text


def test_past_its_fast_time_a_member_runs_in_relax(fake_discord: FakeDiscord, bot_factory):
    fake = fake_discord
    bot = bot_factory(FAST_MINUTES_DAILY="0.0002")
    alice, mod = fake.member("alice"), fake.member("mod")
    first = wait_result(fake.invoke("imagine", alice, prompt=f"a fast fox {SHORT}"))
    assert "relax" not in first.content
    [(mode, spent)] = bot.query("SELECT mode, gpu_seconds FROM jobs WHERE id = ?", job_id(first))
    assert mode == "fast" and spent > 0  # measured on the worker, kept on the row

    second = wait_result(fake.invoke("imagine", alice, prompt="a relaxed fox --steps 40"))
    assert "relax (your fast time is used up)" in second.content
    [(mode, moved)] = bot.query("SELECT mode, moved FROM jobs WHERE id = ?", job_id(second))
    assert (mode, moved) == ("relax", 1)

    info = _reply(fake.invoke("info", alice))
    assert "Fast time:" in info and "GPU-minutes used today" in info and "Mode: fast." in info

    said = _reply(fake.invoke("settings", alice, mode="relax"))
    assert "mode: `relax`" in said
    chosen = wait_result(fake.invoke("imagine", alice, prompt=f"a calm fox {SHORT}"))
    assert f"job {job_id(chosen)} · relax · seed" in chosen.content  # chosen, not moved
    assert "Mode: relax." in _reply(fake.invoke("info", alice))

    # An admin gives Alice an hour of fast time a day: her fast jobs are fast again.
    answer = _reply(fake.invoke("admin quota", mod, minutes=60, user=alice))
    assert "60 fast minutes" in answer
    fast = wait_result(fake.invoke("imagine", alice, prompt=f"a quick fox {SHORT} --fast"))
    assert "relax" not in fast.content
    [(mode,)] = bot.query("SELECT mode FROM jobs WHERE id = ?", job_id(fast))
    assert mode == "fast"


def test_with_relax_off_it_is_refused_with_the_renewal(fake_discord: FakeDiscord, bot_factory):
    """And the bot's owners see every server's totals in /admin stats."""
    fake = fake_discord
    owner, carol = fake.member("owner"), fake.member("carol", "b")  # carol: the other server
    # Carol is one of the bot's owners too: no fast-time limit, her job runs.
    owners = f"{owner.id},{carol.id}"
    bot = bot_factory(FAST_MINUTES_DAILY="0.0002", RELAX="off", OWNER_IDS=owners)
    bob = fake.member("bob")
    wait_result(fake.invoke("imagine", bob, prompt=f"a fast owl {SHORT}"))  # the first fits
    jobs = bot.count_jobs()
    refusal = refused_privately(fake.invoke("imagine", bob, prompt="one more owl --steps 40"), bob)
    assert "fast minutes for today" in refusal.content and "relax mode is off" in refusal.content
    assert "Fast time renews <t:" in refusal.content
    assert bot.count_jobs() == jobs, "a refused job leaves no row"
    # The owners' /admin stats: every server's (Carol's job is in the other one).
    wait_result(fake.invoke("imagine", carol, prompt=f"an owl elsewhere {SHORT}"))
    stats = fake.invoke("admin stats", owner).wait_reply(lambda m: bool(m.attachments), 30)
    assert "(every server)" in stats.content
    assert f"<@{bob.id}>" in stats.content and f"<@{carol.id}>" in stats.content


def test_a_draft_grid_offers_enhance(fake_discord: FakeDiscord, bot_process) -> None:
    """--draft: a grid at half the side whose first row is E1-E4 and 🔄; E2 re-renders
    image 2 at full quality as one image, with the upscaled image's buttons."""
    fake = fake_discord
    alice = fake.member("alice")
    draft = wait_result(fake.invoke("imagine", alice, prompt=f"a kite at noon {SHORT} --draft"))
    assert draft.rows == [["E1", "E2", "E3", "E4", "🔄"], ["V1", "V2", "V3", "V4"]]
    assert "· draft" in draft.content
    cell = draft.image().width // 2
    enhanced = new_message(fake, press(fake, draft, "E2", alice), draft)
    assert_single(enhanced)  # one image, the upscaled image's four rows
    assert enhanced.image().width == 2 * cell  # the full size: twice the draft's side
    assert "Image #2 of the draft, enhanced" in enhanced.content
    [(kind, seed)] = bot_process.query("SELECT kind, seed FROM jobs WHERE id = ?", job_id(enhanced))
    [(drafted,)] = bot_process.query(
        "SELECT seed FROM images WHERE job_id = ? AND idx = 2", job_id(draft)
    )
    assert kind == "enhance" and seed == drafted


def test_admin_stats_shows_a_chart_and_the_figures(fake_discord: FakeDiscord, bot_process):
    fake = fake_discord
    alice, mod = fake.member("alice"), fake.member("mod")
    wait_result(fake.invoke("imagine", alice, prompt=f"a counted kite {SHORT}"))
    handle = fake.invoke("admin stats", mod, days=3)
    reply = handle.wait_reply(lambda m: not m.loading and bool(m.attachments), 30)
    assert reply.ephemeral and reply.visible_to == mod.id
    [chart] = reply.attachments
    assert chart.filename == "stats.png" and reply.image().format == "PNG"
    assert "GPU minutes" in reply.content and "in the last 3 days" in reply.content
    assert f"<@{alice.id}>" in reply.content and "By kind: " in reply.content
