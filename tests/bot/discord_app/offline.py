"""Discord built offline for the Discord layer's own tests: the real client with real
channels parsed from gateway payloads, ``HTTPException``s as discord.py raises them, and
an interaction that records what it was answered with (a real ``discord.Interaction``
needs a logged-in client; only the few attributes the bot reads are given here)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import discord

from bot.discord_app.client import ImagineBot
from bot.settings import Settings

GUILD = 1


def make_settings(**values: Any) -> Settings:
    """Settings from these values alone (no ``.env``)."""
    values.setdefault("nsfw_filter", "blur")
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def make_bot(services: Any = None, **settings: Any) -> ImagineBot:
    """The real client, never connected; ``services`` None where the code under test
    reads none."""
    return ImagineBot(make_settings(**settings), services)


def _channel(channel_id: int, kind: int, nsfw: bool) -> dict[str, Any]:
    return {
        "id": str(channel_id),
        "type": kind,
        "name": f"c{channel_id}",
        "position": 0,
        "nsfw": nsfw,
        "permission_overwrites": [],
        "bitrate": 64000,
        "user_limit": 0,
    }


def _thread(thread_id: int, parent_id: int) -> dict[str, Any]:
    return {
        "id": str(thread_id),
        "type": 11,
        "name": f"t{thread_id}",
        "parent_id": str(parent_id),
        "owner_id": "1",
        "message_count": 0,
        "member_count": 0,
        "rate_limit_per_user": 0,
        "thread_metadata": {
            "archived": False,
            "auto_archive_duration": 60,
            "archive_timestamp": "2024-01-01T00:00:00+00:00",
            "locked": False,
        },
    }


def add_guild(
    bot: discord.Client,
    *,
    text: dict[int, bool] | None = None,
    voice: dict[int, bool] | None = None,
    threads: dict[int, int] | None = None,
) -> discord.Guild:
    """A server in the client's cache, as a GUILD_CREATE leaves it: text and voice
    channels (id: marked NSFW) and threads (id: parent)."""
    channels = [_channel(i, 0, nsfw) for i, nsfw in (text or {}).items()]
    channels += [_channel(i, 2, nsfw) for i, nsfw in (voice or {}).items()]
    data = {
        "id": str(GUILD),
        "name": "server",
        "channels": channels,
        "threads": [_thread(i, parent) for i, parent in (threads or {}).items()],
    }
    state = bot._connection
    guild = discord.Guild(data=data, state=state)  # type: ignore[arg-type]
    state._add_guild(guild)  # what discord.py does with a GUILD_CREATE
    return guild


def http_error(status: int, text: str = "error") -> discord.HTTPException:
    """The exception discord.py raises for an HTTP ``status`` answer."""
    response = SimpleNamespace(status=status, reason=f"status {status}")
    return discord.HTTPException(response, text)  # type: ignore[arg-type]


class Message(SimpleNamespace):
    """What Discord answered a send or an edit with: its id and channel."""


class Response:
    """``interaction.response``: records the one answer (or the deferral)."""

    def __init__(self, done: bool = False) -> None:
        self.done = done
        self.sent: list[tuple[str | None, dict[str, Any]]] = []
        self.deferred: dict[str, Any] | None = None
        self.on_defer = asyncio.Event()

    def is_done(self) -> bool:
        return self.done

    async def send_message(self, content: str | None = None, **options: Any) -> Any:
        assert not self.done, "an interaction is answered once"
        self.done = True
        self.sent.append((content, options))
        return SimpleNamespace(resource=None)

    async def defer(self, **options: Any) -> None:
        assert not self.done, "an interaction is answered once"
        self.done = True
        self.deferred = options
        self.on_defer.set()


class Followup:
    """``interaction.followup``: records each message."""

    def __init__(self, fails: BaseException | None = None) -> None:
        self.sent: list[tuple[str | None, dict[str, Any]]] = []
        self.fails = fails

    async def send(self, content: str | None = None, **options: Any) -> None:
        if self.fails is not None:
            raise self.fails
        self.sent.append((content, options))


class Interaction:
    """A member's interaction in channel ``channel_id`` of server ``GUILD``."""

    def __init__(
        self,
        client: Any,
        *,
        user_id: int = 42,
        channel_id: int | None = 10,
        created_at: datetime | None = None,
        answered: bool = False,
        followup_fails: BaseException | None = None,
    ) -> None:
        self.id = 7
        self.client = client
        self.user = SimpleNamespace(id=user_id, roles=[])
        self.guild_id = GUILD
        self.channel_id = channel_id
        self.permissions = discord.Permissions.none()
        self.created_at = created_at or discord.utils.utcnow()
        self.response = Response(answered)
        self.followup = Followup(followup_fails)
        self.edits: list[dict[str, Any]] = []
        self.edited = asyncio.Event()
        self._message_ids = iter(range(900, 10_000))

    async def edit_original_response(self, **options: Any) -> Message:
        self.edits.append(options)
        self.edited.set()
        return Message(id=next(self._message_ids), channel=SimpleNamespace(id=self.channel_id))


def dynamic_items(bot: discord.Client) -> set[type]:
    """The persistent items the client routes presses to (discord.py keeps them in its
    view store, by template)."""
    return set(bot._connection._view_store._dynamic_items.values())
