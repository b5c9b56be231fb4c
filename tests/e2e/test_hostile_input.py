"""Hostile input end to end: text the database cannot store, and forged custom ids with
numbers past SQLite's and Discord's ranges. Each gets a plain private answer; nobody
else's request is touched, and the bot logs no error."""

from __future__ import annotations

from tests.e2e.expect import assert_grid, job_id, refused_privately, wait_result
from tests.e2e.fake_discord import FakeDiscord, Interaction

SHORT = "--steps 2"
# 2**63 (one past SQLite's largest integer) and 20 digits (past any snowflake).
HUGE = ("9223372036854775808", "99999999999999999999")


def _answer(handle: Interaction) -> str:
    """The private answer of an interaction that starts nothing."""
    ack = handle.wait_ack()
    assert ack.type == 4 and ack.ephemeral, f"expected a private answer, got {ack}"
    return handle.wait_reply(lambda m: bool(m.content), 10).content


def test_a_prompt_that_cannot_be_stored_fails_alone_in_a_burst(
    fake_discord: FakeDiscord, bot_process
) -> None:
    fake = fake_discord
    alice, bob, curator = fake.member("alice"), fake.member("bob"), fake.member("curator")
    jobs = bot_process.count_jobs()
    burst = [
        (alice, f"a fox in snow {SHORT} --seed 1", None),
        (bob, f"a broken \ud800 fox {SHORT}", "U+D800"),  # a lone surrogate
        (curator, f"an owl at night {SHORT} --seed 2", None),
        (bob, f"a fox --no people\x00 {SHORT}", "U+0000"),
    ]
    handles = [fake.invoke("imagine", member, prompt=prompt) for member, prompt, _ in burst]
    grids = []
    for handle, (member, _, code) in zip(handles, burst, strict=True):
        if code is None:
            grids.append(wait_result(handle))
            continue
        refusal = refused_privately(handle, member).content
        assert "contains a character I can't store" in refusal and code in refusal
    for grid in grids:
        assert_grid(grid)
    assert bot_process.count_jobs() == jobs + 2
    prompts = [row[0] for row in bot_process.query("SELECT prompt FROM jobs")]
    assert "a fox in snow" in prompts and "an owl at night" in prompts


def test_forged_ids_past_the_ranges_get_a_plain_answer(
    fake_discord: FakeDiscord, bot_process
) -> None:
    fake = fake_discord
    alice = fake.member("alice")
    grid = wait_result(fake.invoke("imagine", alice, prompt=f"a forged fox {SHORT}"))
    number = job_id(grid)
    jobs = bot_process.count_jobs()
    for digits in HUGE:
        no_job = f"There is no job {digits}."
        # The job buttons: upscale, vary, reroll, cancel, zoom, Vary (Region), Custom Zoom.
        for action in ("u", "v", "r", "x", "z", "g", "m"):
            custom_id = f"{action}:{digits}:1"
            assert _answer(fake.press_custom_id(custom_id, alice, message=grid)) == no_job
        # /history's pages, and the picker's buttons (a job, an opener out of range).
        page = _answer(fake.press_custom_id(f"h:{digits}:1", alice, message=grid))
        assert "expired" in page
        prompt = fake.press_custom_id(f"gp:{digits}:1:{alice.id}:5", alice, message=grid)
        assert _answer(prompt) == no_job
        pick = fake.press_custom_id(f"gs:{digits}:1:{alice.id}", alice, message=grid, values=["5"])
        assert _answer(pick) == no_job
        submit = fake.press_custom_id(f"gb:{number}:1:{digits}:5", alice, message=grid)
        assert "expired" in _answer(submit)
    # The forms: a remix form opened for real, sent back with forged ids.
    assert "remix: on" in _answer(fake.invoke("settings", alice, remix=True))
    try:
        opened = fake.press(grid, "V1", alice)
        fake.modal_of(opened)
        for digits in HUGE:
            for custom_id in (f"fr:v:{digits}:1", f"fz:{digits}:1", f"fg:{digits}:1:{alice.id}:5"):
                answer = _answer(fake.submit_modal(opened, custom_id=custom_id))
                assert answer == f"There is no job {digits}.", custom_id
            opener = _answer(fake.submit_modal(opened, custom_id=f"fg:{number}:1:{digits}:5"))
            assert "expired" in opener
    finally:
        assert "remix: off" in _answer(fake.invoke("settings", alice, remix=False))
    assert bot_process.count_jobs() == jobs, "no job from a forged id"
