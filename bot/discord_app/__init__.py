"""The Discord layer: the only code that imports discord.

``create_bot`` puts the client together with its features; each feature module has a
``setup(bot)`` that adds its commands and persistent buttons.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.discord_app.client import ImagineBot
    from bot.metrics import Metrics
    from bot.settings import Settings
    from core.services import Services


def create_bot(
    settings: Settings, services: Services, metrics: Metrics | None = None
) -> ImagineBot:
    """The client with every feature: /imagine, the forms (remix, Custom Zoom, Vary
    (Region)), /settings and /info, /history, /admin, /describe (and its message menu),
    /blend; ``metrics``: what it reports to (``METRICS_PORT``), if any."""
    from bot.discord_app import admin, blend, describe, forms, history, imagine, members
    from bot.discord_app.client import ImagineBot

    features = (imagine.setup, forms.setup, members.setup, history.setup, admin.setup)
    features += (describe.setup, blend.setup)
    return ImagineBot(settings, services, features, metrics)
