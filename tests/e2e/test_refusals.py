"""Scenario 5: bad prompts are refused in private and start no job."""

from __future__ import annotations

import pytest

from tests.e2e.fake_discord import FakeDiscord

LONG_PROMPT = ("a fox in snow, " * 400)[:5000]

CASES = [
    ("a fox --ar 0:1", "--ar"),
    ("a fox --seed -1", "--seed"),
    ("a fox --seed abc", "--seed"),
    ("a fox --steps 9999", "--steps"),
    ("a fox --cfg 50", "--cfg"),
    ("a fox --foo 1", "--foo"),
    ("--ar 3:2", "empty"),
    (LONG_PROMPT, "1500"),
]


@pytest.mark.parametrize(
    ("prompt", "named"), CASES, ids=[named.strip("-") + "-" + p[:12] for p, named in CASES]
)
def test_bad_prompt_gets_a_private_refusal(
    fake_discord: FakeDiscord, bot_process, prompt: str, named: str
) -> None:
    bob, alice = fake_discord.member("bob"), fake_discord.member("alice")
    jobs_before = bot_process.count_jobs()

    handle = fake_discord.invoke("imagine", bob, prompt=prompt)
    handle.wait_ack()
    reply = handle.wait_reply(timeout=10)

    assert reply.ephemeral, "a refusal must be ephemeral"
    assert reply.visible_to == bob.id
    assert named.lower() in reply.content.lower(), reply.content
    assert not reply.attachments and not reply.components
    assert all(message.ephemeral for message in handle.messages()), "nothing public"
    assert not [
        m for m in fake_discord.messages(visible_to=alice) if m.interaction_id == handle.id
    ], "another member sees nothing of it"
    assert bot_process.count_jobs() == jobs_before, "a refused prompt must not create a job"
