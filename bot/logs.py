"""Logging set-up shared by the bot and the CLI."""

from __future__ import annotations

import logging
import warnings


def configure_logging(level: str = "INFO") -> None:
    """Log lines to stderr; quiet the libraries' loading bars and import chatter."""
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%Y-%m-%d %H:%M:%S",
        force=True,
    )
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
