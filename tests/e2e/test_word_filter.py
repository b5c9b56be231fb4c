"""The blocked-word filter through the real bot: a sample of every kind of evasion is
refused in private with no job, and a sample of words people write in other languages,
brands, model numbers and names runs."""

from __future__ import annotations

from tests.core.wordfilter.cases import READING_BLOCKED as BLOCKED
from tests.e2e.expect import wait_result
from tests.e2e.fake_discord import FakeDiscord, Interaction, StoredMessage

# One or two of each kind in the core tables (tests/core/wordfilter/cases.py).
REFUSED = [
    "a s€x scene",  # symbol leet
    "@$$ and p3n!s",
    "vvhore",  # vv, ph
    "phuck it",
    "sexx on the beach",  # doubled letters
    "a NudeBeach at dawn",  # camelCase
    "ᑎᑌᗪᗴ figure",  # Canadian syllabics
    "🇳🇺🇩🇪 painting",  # regional indicators
    "ΝυԀΕ statue",  # Greek and Cyrillic mixed
    "a nake d man",  # one letter split off
    "nu\u200ade art",  # hair space
    "stop hate\u3000speech",  # ideographic space
    "гoд of war",  # Cyrillic around a Latin letter
]
PASSED = [
    "год назад, a city",
    "a bốt cảnh sát at night",
    "kıllı kedi",
    "Samsung A55 phone on a table",
    "a Gore-Tex jacket",
    "a good dog in boots",
    "g00d vibes only",
    "RTX4090 render, 35mm, f/1.8",
    "Middlesex county fair",
    "a goddess and a robot",
]


def _reply(handle: Interaction) -> StoredMessage:
    return handle.wait_reply(lambda m: not m.loading and bool(m.content), 20)


def test_evasions_are_refused_and_ordinary_words_run(
    fake_discord: FakeDiscord, bot_factory
) -> None:
    bot = bot_factory()
    mod = fake_discord.member("mod")
    for entry in BLOCKED:
        added = _reply(fake_discord.invoke("admin banword", mod, action="add", word=entry))
        assert "blocked." in added.content, added.content
    alice = fake_discord.member("alice")
    before = bot.count_jobs()
    for prompt in REFUSED:
        refused = _reply(fake_discord.invoke("imagine", alice, prompt=f"{prompt} --steps 1"))
        assert refused.ephemeral, prompt
        assert "blocked in this server" in refused.content, (prompt, refused.content)
    assert bot.count_jobs() == before, "a refused prompt starts no job"
    for prompt in PASSED:
        grid = wait_result(fake_discord.invoke("imagine", alice, prompt=f"{prompt} --steps 1"))
        assert not grid.ephemeral and grid.attachments, prompt
    assert bot.count_jobs() == before + len(PASSED)
