"""The fake's data: errors, ids, the people and places of its two servers, and the records
it keeps (messages, attachments, interactions, calls, rejections, faults, gateway sessions).

Plain data: nothing here touches the lock or the event loop (``FakeDiscord`` does), but
``Hold``, the gate a test opens to let held requests through."""

from __future__ import annotations

import asyncio
import io
import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from .constants import DISCORD_EPOCH_MS, EPHEMERAL, LOADING


class CommandUsageError(AssertionError):
    """The test asked for something a Discord client could not send."""


class DiscordError(Exception):
    """A request Discord would reject; becomes a Discord-style error response."""

    def __init__(
        self, status: int, code: int, message: str, errors: dict[str, Any] | None = None
    ) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors is not None:
            body["errors"] = self.errors
        return body


def _field_error(code: str, message: str) -> dict[str, Any]:
    return {"_errors": [{"code": code, "message": message}]}


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="microseconds")


class Snowflakes:
    """Discord ids: milliseconds since 2015 in the top bits, so ``created_at`` is real."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = 0

    def next(self) -> int:
        with self._lock:
            now = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22
            value = max(now, self._last + 1)
            self._last = value
            return value

    def next_on_shard(self, shard: int, shards: int) -> int:
        """An id whose guild Discord routes to ``shard`` of ``shards``: ``(id >> 22) %
        shards`` (the millisecond moves on until it does)."""
        with self._lock:
            now = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22
            value = max(now, self._last + 1)
            while (value >> 22) % shards != shard:
                value = ((value >> 22) + 1) << 22
            self._last = value
            return value


# people and places


@dataclass(frozen=True)
class FakeRole:
    id: int
    name: str
    permissions: int
    position: int
    managed: bool = False
    bot_id: int | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "name": self.name,
            "permissions": str(self.permissions),
            "position": self.position,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "managed": self.managed,
            "mentionable": False,
            "icon": None,
            "unicode_emoji": None,
            "flags": 0,
            "description": None,
        }
        if self.bot_id is not None:
            data["tags"] = {"bot_id": str(self.bot_id)}
        return data


@dataclass(frozen=True)
class FakeMember:
    """A membership: one user (``id``) in one server (``guild_id``), the bot's own too.

    A user in both servers has two ``FakeMember`` s with the same ``id``: roles are per
    server. ``guild_id`` None (a member a test built itself) means server A."""

    name: str
    id: int
    roles: tuple[int, ...] = ()
    bot: bool = False
    joined_at: float = field(default_factory=lambda: time.time() - 86400 * 30)
    guild_id: int | None = None

    def user_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "username": self.name,
            "global_name": self.name.capitalize(),
            "discriminator": "0",
            "avatar": None,
            "bot": self.bot,
            "system": False,
            "public_flags": 0,
            "flags": 0,
            "banner": None,
            "accent_color": None,
            "avatar_decoration_data": None,
            "primary_guild": None,
            "collectibles": None,
        }

    def member_json(self, *, with_user: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "roles": [str(r) for r in self.roles],
            "nick": None,
            "avatar": None,
            "banner": None,
            "joined_at": _iso(self.joined_at),
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "communication_disabled_until": None,
            "avatar_decoration_data": None,
        }
        if with_user:
            data["user"] = self.user_json()
        return data


@dataclass(frozen=True)
class FakeChannel:
    name: str
    id: int
    guild_id: int
    position: int
    nsfw: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "type": 0,
            "guild_id": str(self.guild_id),
            "name": self.name,
            "position": self.position,
            "permission_overwrites": [],
            "nsfw": self.nsfw,
            "topic": None,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "parent_id": None,
            "flags": 0,
        }


@dataclass
class _Guild:
    """One server of the fake: ``key`` is ``"a"`` or ``"b"`` in the driver API."""

    key: str
    id: int
    name: str
    owner_id: int
    roles: list[FakeRole]
    members: dict[str, FakeMember]
    channels: dict[str, FakeChannel]

    def member_by_id(self, user_id: int) -> FakeMember | None:
        return next((m for m in self.members.values() if m.id == user_id), None)

    def channel_by_id(self, channel_id: int) -> FakeChannel | None:
        return next((c for c in self.channels.values() if c.id == channel_id), None)


# stored state


@dataclass
class StoredAttachment:
    """An uploaded file; ``data`` is its bytes."""

    id: int
    filename: str
    size: int
    content_type: str | None
    width: int | None
    height: int | None
    data: bytes = field(repr=False)
    url: str = ""
    ephemeral: bool = False

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "filename": self.filename,
            "size": self.size,
            "url": self.url,
            "proxy_url": self.url,
            "content_type": self.content_type,
            "flags": 0,
        }
        if self.width is not None:
            data["width"] = self.width
            data["height"] = self.height
        if self.ephemeral:
            data["ephemeral"] = True
        return data


@dataclass
class Edit:
    """One state of a message: when it was set, and what it showed."""

    at: float
    content: str
    attachment_ids: list[int]
    rows: list[list[str]]
    flags: int


@dataclass
class StoredMessage:
    """A message as the fake keeps it (tests get deep copies)."""

    id: int
    channel_id: int
    guild_id: int | None
    author: dict[str, Any]
    kind: str  # "original", "followup" or "channel"
    type: int
    created_at: float
    content: str = ""
    embeds: list[dict[str, Any]] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[StoredAttachment] = field(default_factory=list)
    flags: int = 0
    interaction_id: int | None = None
    interaction_type: int | None = None
    interaction_name: str | None = None
    interaction_user: dict[str, Any] | None = None
    visible_to: int | None = None  # the one user who sees an ephemeral message
    webhook_id: int | None = None
    edited_at: float | None = None
    deleted: bool = False
    deleted_at: float | None = None
    edits: list[Edit] = field(default_factory=list)

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL)

    @property
    def loading(self) -> bool:
        return bool(self.flags & LOADING)

    @property
    def buttons(self) -> list[dict[str, Any]]:
        return [
            item
            for row in self.components
            if row.get("type") == 1
            for item in row.get("components", [])
            if item.get("type") == 2
        ]

    @property
    def texts(self) -> list[str]:
        """The text displays of a Components V2 message, in order (nested ones too)."""
        found: list[str] = []

        def walk(items: Any) -> None:
            for item in items or ():
                if isinstance(item, dict):
                    if item.get("type") == 10:
                        found.append(str(item.get("content") or ""))
                    walk(item.get("components"))

        walk(self.components)
        return found

    @property
    def text(self) -> str:
        """What a reader sees as text: the content, or a V2 message's text displays."""
        return "\n".join([self.content, *self.texts]) if self.texts else self.content

    @property
    def media(self) -> list[str]:
        """The media URLs of a Components V2 message (thumbnails, galleries), in order."""
        from .validation import v2_media_urls

        return v2_media_urls(self.components)

    @property
    def rows(self) -> list[list[str]]:
        """Button labels (or emoji names) per action row."""
        return [
            [_button_label(item) for item in row.get("components", [])]
            for row in self.components
            if row.get("type") == 1
        ]

    def button(self, label: str) -> dict[str, Any]:
        """The button with ``label``; ``CommandUsageError`` when there is none."""
        for item in self.buttons:
            if _button_label(item) == label:
                return item
        raise CommandUsageError(f"message {self.id} has no button {label!r} (rows: {self.rows})")

    def image(self, index: int = 0):
        """Attachment ``index`` decoded with PIL."""
        from PIL import Image

        image = Image.open(io.BytesIO(self.attachments[index].data))
        image.load()
        return image

    def snapshot(self) -> Edit:
        return Edit(
            at=time.time(),
            content=self.content,
            attachment_ids=[a.id for a in self.attachments],
            rows=self.rows,
            flags=self.flags,
        )


def _button_label(item: dict[str, Any]) -> str:
    if item.get("label"):
        return str(item["label"])
    emoji = item.get("emoji") or {}
    return str(emoji.get("name") or "")


@dataclass(frozen=True)
class Callback:
    """The accepted first response to an interaction."""

    type: int
    latency: float  # seconds from INTERACTION_CREATE to the callback
    ephemeral: bool


@dataclass
class _InteractionRecord:
    id: int
    token: str
    type: int
    member: FakeMember
    guild_id: int
    channel_id: int
    created: float  # monotonic
    attachment_size_limit: int
    name: str | None = None
    custom_id: str | None = None
    source_message_id: int | None = None
    ack: Callback | None = None
    original_id: int | None = None
    followup_ids: list[int] = field(default_factory=list)
    modal: dict[str, Any] | None = None
    expired: bool = False
    checked: bool = False
    # A type-5 deferral whose first followup has not come yet (and @original not edited):
    # that followup takes the deferral's visibility, whatever it asks for.
    deferral_pending: bool = False


# bookkeeping


@dataclass(frozen=True)
class Call:
    """One request the fake received."""

    at: float
    method: str
    path: str
    query: str
    status: int
    payload: Any = None


@dataclass(frozen=True)
class Rejection:
    """A request the fake refused, as Discord would."""

    at: float
    method: str
    path: str
    status: int
    code: int
    message: str
    errors: Any = None

    def __str__(self) -> str:
        detail = f" {json.dumps(self.errors)}" if self.errors else ""
        return f"{self.method} {self.path} -> {self.status} ({self.code} {self.message}){detail}"


@dataclass
class _Fault:
    method: str
    pattern: re.Pattern[str]
    status: int | None  # None: served as usual, once the hold is open
    body: dict[str, Any]
    times: int
    hold: Hold | None = None  # served as usual once the test opens it


class Hold:
    """Requests held by the fake until the test opens the hold (``FakeDiscord.hold_next``):
    a slow Discord whose pace the test decides, not a clock."""

    def __init__(self) -> None:
        self.reached = threading.Event()
        self._opened = threading.Event()

    def wait_reached(self, timeout: float = 60) -> None:
        """Until a request is held."""
        assert self.reached.wait(timeout), "no request reached the hold"

    def open(self) -> None:
        """Serve the held requests, and the later ones at once."""
        self._opened.set()

    async def pass_through(self) -> None:
        """(In the fake) hold a request until the hold is open (60 s at most)."""
        self.reached.set()
        await asyncio.to_thread(self._opened.wait, 60)


@dataclass
class _Gateway:
    ws: web.WebSocketResponse
    shard: int = 0
    seq: int = 0
    session_id: str = ""
    identified: bool = False
    intents: int | None = None
