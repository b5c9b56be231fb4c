"""The bot's log at DEBUG holds no secret: no interaction token (each is a live
credential for 15 minutes: it can edit and post the bot's replies) and no bot token."""

from __future__ import annotations

from bot.logs import REDACTED
from tests.e2e.expect import refused_privately, wait_result
from tests.e2e.fake_discord import FakeDiscord


def test_no_token_reaches_the_log_at_debug(fake_discord: FakeDiscord, bot_factory) -> None:
    fake = fake_discord
    bot = bot_factory(LOG_LEVEL="DEBUG")
    alice = fake.member("alice")
    grid = wait_result(fake.invoke("imagine", alice, prompt="a logged fox --steps 2"))
    wait_result(fake.press(grid, "V1", alice))
    refused_privately(fake.invoke("imagine", alice, prompt="a fox --seed many"), alice)
    bot.stop()
    log = bot.log_since(0)
    # The libraries did log the webhook calls (with the token in the path, unredacted).
    assert " DEBUG " in log and f"/webhooks/{fake.application_id}/{REDACTED}" in log
    tokens = fake.issued_tokens()
    assert len(tokens) >= 3
    assert [token for token in tokens if token in log] == []
    assert fake.bot_token and fake.bot_token not in log
