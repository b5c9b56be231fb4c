"""Logging set-up shared by the bot and the CLI.

Whatever the level, no line carries a secret: every line (its message, its arguments and
any traceback) is redacted as it is formatted, whichever library logged it. The paths of
interaction callbacks and webhooks hold a live interaction token (discord.py logs them at
DEBUG; an aiohttp error names its URL), an ``Authorization`` header or a payload's
``token`` field holds one too, and the bot token is redacted wherever it appears.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Iterable

REDACTED = "[redacted]"
_PATTERNS = (
    # /interactions/<id>/<token>/callback, /webhooks/<application id>/<token>[/messages/...]
    re.compile(r"(/(?:interactions|webhooks)/[0-9]+/)[^/?#\s'\"<>]+"),
    # "token": "..." in a payload (an INTERACTION_CREATE logged whole)
    re.compile(r"""(['"]token['"]\s*:\s*['"])[^'"]+"""),
    # an Authorization header's value
    re.compile(r"""((?i:authorization)['"]?\s*[:=]\s*['"]?(?:Bot|Bearer)\s+)[^\s'",}]+"""),
    # anything shaped like a Discord bot token (id.timestamp.hmac)
    re.compile(r"()\b[A-Za-z0-9_-]{23,28}\.[A-Za-z0-9_-]{6,7}\.[A-Za-z0-9_-]{27,40}\b"),
)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every interaction token, webhook token and the ``secrets`` replaced."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    for pattern in _PATTERNS:
        text = pattern.sub(rf"\g<1>{REDACTED}", text)
    return text


class RedactingFormatter(logging.Formatter):
    """A formatter whose every line (traceback included) goes through ``redact``."""

    def __init__(self, fmt: str, datefmt: str, secrets: Iterable[str] = ()) -> None:
        super().__init__(fmt, datefmt)
        self.secrets = tuple(s for s in secrets if s)

    def format(self, record: logging.LogRecord) -> str:
        """The record as the base class formats it, redacted."""
        return redact(super().format(record), self.secrets)


def configure_logging(level: str = "INFO", secrets: Iterable[str] = ()) -> None:
    """Log lines to stderr, redacted (``secrets``: the bot token, and any other string
    that must never be logged); quiet the libraries' loading bars and import chatter."""
    logging.basicConfig(level=level, force=True)
    formatter = RedactingFormatter(
        "%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S", secrets
    )
    for handler in logging.getLogger().handlers:
        handler.setFormatter(formatter)
    # transformers warns at import when torchvision is missing (it is optional here).
    warnings.filterwarnings("ignore", message=".*torchvision.*")
    for noisy in ("discord.http", "discord.gateway"):
        logging.getLogger(noisy).setLevel(max(logging.getLogger().level, logging.INFO))
    try:
        import diffusers.utils.logging as diffusers_logging
        import transformers.utils.logging as transformers_logging
    except ImportError:  # pragma: no cover - both are required dependencies
        return
    diffusers_logging.disable_progress_bar()
    diffusers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    transformers_logging.set_verbosity_error()
