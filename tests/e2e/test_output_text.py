"""Issue 9, output text: a prompt shown by the bot is never a live link, URL, mention or
markdown. The real messages the bot sent the fake are rendered as the Discord client
would (``tests/discord_markdown.py``): in a job's message the only live things are the
bold around the prompt and the mention of the job's owner.
"""

from __future__ import annotations

import re

from tests.discord_markdown import Element, render
from tests.e2e.fake_discord import FakeDiscord, StoredMessage

JOB_TIMEOUT = 180.0
SHORT = "--steps 1 --seed 3"
HOSTILE = [
    "[free nitro\\](https://evil.example) [claim](<https://evil.example/gift>) "
    "\\\\[x](https://y.example)",
    "see https://evil.example/login <@1> <@!2> <@&3> <#4> @everyone @here steam://run/1 "
    "<https://evil.example> </imagine:5> <t:1:R>",
    "a fox\n# HEADING\n> quote\n- item\n1. one\n-# small **bold** __under__ *it* "
    "||spoiler|| ~~gone~~ `code` ```block```",
]


def _final(message: StoredMessage) -> bool:
    """The job's message once it carries the result (images), or says it failed."""
    if message.loading or any("Cancel" in row for row in message.rows):
        return False
    return bool(message.attachments) or bool(re.search(r"\b(failed|cancelled)\b", message.content))


def _unexpected(content: str, owner: int) -> list[Element]:
    """Live elements besides the bold around the prompt and the owner's mention."""
    return [
        e
        for e in render(content).elements
        if not (e.kind == "strong" and not e.inside)
        and not (e.kind == "user" and e.target == str(owner) and not e.inside)
    ]


def _check(content: str, owner: int, prompt: str) -> None:
    assert _unexpected(content, owner) == [], content
    [bold] = [e for e in render(content).elements if e.kind == "strong"]
    # The prompt as the bot keeps it (parameters off, spaces collapsed), as typed.
    assert bold.text.replace("@\u200b", "@") == " ".join(prompt.split()), content


def test_hostile_prompts_show_as_plain_text(fake_discord: FakeDiscord, bot_process) -> None:
    alice = fake_discord.member("alice")
    handles = [
        fake_discord.invoke("imagine", alice, prompt=f"{prompt} {SHORT}") for prompt in HOSTILE
    ]
    for prompt, handle in zip(HOSTILE, handles, strict=True):
        result = handle.wait_original(_final, JOB_TIMEOUT)
        assert result.attachments, f"the job did not produce images: {result.content!r}"
        assert not result.ephemeral
        contents = [
            content
            for message in handle.messages()
            for content in [*(e.content for e in message.edits), message.content]
            if content
        ]
        assert len(contents) >= 2, "the waiting message and the result"
        for content in contents:
            _check(content, alice.id, prompt)
        assert f"<@{alice.id}>" in result.content
