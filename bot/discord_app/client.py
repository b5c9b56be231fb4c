"""The Discord client: the services and the features come in through the constructor
(it imports no feature), job messages are kept in step with the runner's events."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

import aiohttp
import discord
from discord import app_commands

from bot.discord_app.admission import ANSWER_DEADLINE
from bot.discord_app.delivery import JobMessages
from bot.discord_app.errors import reply_error
from bot.settings import Settings
from core.services import Services

if TYPE_CHECKING:
    from bot.metrics import Metrics

logger = logging.getLogger(__name__)

# A modal submit's handler: the interaction and its custom id matched.
FormHandler = Callable[[discord.Interaction, re.Match[str]], Awaitable[None]]
DOWNLOAD_TIMEOUT = 10.0  # seconds for an image prompt's download, all of it
EXPIRED_FORM = "This form has expired. Press the button again to open a new one."


class ImagineTree(app_commands.CommandTree):
    """The command tree; its ``on_error`` is where domain errors become ephemeral replies."""

    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError, /
    ) -> None:
        """Answer the user; log what is not their fault."""
        await reply_error(interaction, error)


class ImagineBot(discord.AutoShardedClient):
    """The bot: dependencies come in through the constructor.

    Sharded as Discord recommends (``GET /gateway/bot``: one shard for a small bot, more
    as it grows): every shard's events reach this one client, and everything keyed by
    server (storage, the core's scoping, the job messages) is the same on any shard.
    ``AutoShardedClient`` rather than ``commands.AutoShardedBot``: the bot has no prefix
    commands, only its app-command tree."""

    def __init__(
        self,
        settings: Settings,
        services: Services,
        features: Sequence[Callable[[ImagineBot], None]] = (),
        metrics: Metrics | None = None,
    ) -> None:
        super().__init__(
            intents=discord.Intents.default(),
            # METRICS_PORT: every error answer from Discord counted (bot.metrics).
            http_trace=None if metrics is None else metrics.discord_trace(),
            # Interactions carry their member: no member lists asked for at start (one
            # request and wait per server: slow with a thousand of them).
            chunk_guilds_at_startup=False,
            # Nothing pings unless a message names whom (a job's owner, when a result
            # is posted in the channel).
            allowed_mentions=discord.AllowedMentions.none(),
        )
        self.settings = settings
        self.services = services
        self.metrics = metrics  # each command's admission is timed (admission.py)
        self.tree = ImagineTree(self)
        self.job_messages = JobMessages(self)
        self.answer_deadline = ANSWER_DEADLINE  # seconds before a slow admission is held
        self.download_timeout = DOWNLOAD_TIMEOUT  # seconds for an image prompt's download
        # The bot's own HTTP session for downloads (image prompts), opened in setup_hook.
        self._http_session: aiohttp.ClientSession | None = None
        self._features = tuple(features)  # each feature's setup(bot)
        self._forms: list[tuple[re.Pattern[str], FormHandler]] = []

    def add_form(self, custom_id: re.Pattern[str], handler: FormHandler) -> None:
        """Route the submits of the modals whose custom id matches to ``handler``: by id,
        so that a form opened before a restart is answered after it."""
        self._forms.append((custom_id, handler))

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """Answer modal submits (the forms); everything else has its own handler."""
        if interaction.type is not discord.InteractionType.modal_submit:
            return
        custom_id = str((interaction.data or {}).get("custom_id", ""))
        try:
            for pattern, handler in self._forms:
                match = pattern.fullmatch(custom_id)
                if match is not None:
                    await handler(interaction, match)
                    return
            logger.info("interaction %s: a form this version does not know", interaction.id)
            await interaction.response.send_message(EXPIRED_FORM, ephemeral=True)
        except Exception as error:
            await reply_error(interaction, error)

    @property
    def http_session(self) -> aiohttp.ClientSession:
        """The session image prompts are downloaded with (one for the bot's life)."""
        if self._http_session is None or self._http_session.closed:
            self._http_session = aiohttp.ClientSession()
        return self._http_session

    async def setup_hook(self) -> None:
        """Let each feature add its commands and persistent buttons, listen to the
        runner, and sync the commands."""
        for setup in self._features:
            setup(self)
        self.services.runner.add_listener(self.job_messages.on_event)
        self.job_messages.start()
        await self.sync_commands()

    async def close(self) -> None:
        """Stop updating job messages, then disconnect."""
        await self.job_messages.close()
        if self._http_session is not None:
            await self._http_session.close()
        # A stop within the first seconds would otherwise let discord.py's pending "ready"
        # fire after the loop is gone (it dispatches on a closed client and logs an error).
        ready = getattr(self._connection, "_ready_task", None)
        if ready is not None and not ready.done():
            ready.cancel()
        await super().close()

    async def sync_commands(self) -> None:
        """Sync globally, and to ``DEV_GUILD_ID`` (instant) when set."""
        try:
            synced = await self.tree.sync()
            logger.info("synced %d global commands", len(synced))
            if self.settings.dev_guild_id:
                guild = discord.Object(self.settings.dev_guild_id)
                self.tree.copy_global_to(guild=guild)
                synced = await self.tree.sync(guild=guild)
                logger.info("synced %d commands to guild %s", len(synced), guild.id)
        except discord.HTTPException as exc:
            # The commands already registered keep working; the next start syncs again.
            logger.error("command sync failed: %s", exc)

    async def on_ready(self) -> None:
        """Log who we are once connected; post results that a stop kept from Discord, and
        keep the waiting messages of the jobs resumed at this start in step."""
        # Servers whose GUILD_CREATE did not come before discord.py gave up waiting (2 s
        # after the last one) are still unavailable: they come later, or are in an outage.
        logger.info(
            "connected as %s (%s) to %d servers (%d unavailable)",
            self.user,
            self.user and self.user.id,
            len(self.guilds),
            sum(guild.unavailable for guild in self.guilds),
        )
        await self.job_messages.deliver_pending()
        await self.job_messages.adopt_waiting()
