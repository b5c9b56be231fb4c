"""Logging: no interaction token, webhook token or bot token in any line, at any level."""

from __future__ import annotations

import io
import logging

import pytest

from bot.logs import REDACTED, RedactingFormatter, configure_logging, redact

TOKEN = "aW50ZXJhY3Rpb246" + "x-Y_z" * 12
BOT_TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GhIjKl.abcdefghijklmnopqrstuvwxyz0123"


@pytest.mark.parametrize(
    "line",
    [
        f"POST https://discord.com/api/v10/interactions/123/{TOKEN}/callback has returned 200",
        f"Webhook ID 99 with PATCH https://x/api/v10/webhooks/99/{TOKEN}/messages/@original",
        f"POST http://127.0.0.1:4000/api/v10/webhooks/99/{TOKEN}?wait=1 has returned 404",
        f"WebSocket Event: {{'t': 'INTERACTION_CREATE', 'd': {{'token': '{TOKEN}', 'id': '1'}}}}",
        f'{{"type": 3, "token": "{TOKEN}"}}',
        f"headers {{'Authorization': 'Bot {BOT_TOKEN}'}}",
        f"logged in with {BOT_TOKEN}",
    ],
)
def test_tokens_are_redacted_wherever_they_appear(line):
    redacted = redact(line)
    assert TOKEN not in redacted and BOT_TOKEN not in redacted
    assert REDACTED in redacted


def test_the_rest_of_a_line_is_kept():
    line = "job 12 queued: imagine by user 101 (/webhooks are fine as a word)"
    assert redact(line) == line
    path = f"/webhooks/99/{TOKEN}/messages/@original"
    assert redact(path) == f"/webhooks/99/{REDACTED}/messages/@original"


def test_a_records_arguments_and_traceback_are_redacted_with_the_given_secrets():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(RedactingFormatter("%(message)s", "%H:%M", secrets=["plain-secret"]))
    logger = logging.getLogger("tests.bot.test_logs")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("%s %s", f"/interactions/1/{TOKEN}/callback", "plain-secret")
        try:
            raise RuntimeError(f"404 for url='http://h/api/v10/webhooks/2/{TOKEN}?wait=1'")
        except RuntimeError:
            logger.exception("failed with plain-secret")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    text = stream.getvalue()
    assert "Traceback" in text and "RuntimeError" in text
    assert TOKEN not in text and "plain-secret" not in text
    assert text.startswith(
        f"/interactions/1/{REDACTED}/callback {REDACTED}\nfailed with {REDACTED}"
    )


def test_configure_logging_redacts_every_root_handler_at_debug():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        configure_logging("DEBUG", secrets=["fake-bot-token"])
        ours = root.handlers
        assert ours and all(isinstance(h.formatter, RedactingFormatter) for h in ours)
        record = logging.LogRecord(
            "discord.webhook.async_",
            logging.DEBUG,
            __file__,
            1,
            "Webhook ID %s with %s %s has returned status code %s",
            ("1", "POST", f"http://h/api/v10/webhooks/1/{TOKEN}", 200),
            None,
        )
        line = ours[0].format(record)
        assert TOKEN not in line and "webhooks/1/[redacted]" in line
        assert "fake-bot-token" not in ours[0].format(
            logging.LogRecord("x", logging.INFO, __file__, 1, "fake-bot-token", (), None)
        )
    finally:
        configure_logging("WARNING")
        root.handlers[:] = handlers
        root.setLevel(level)
