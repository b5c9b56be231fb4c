"""A fake Discord that speaks the real protocol, for end-to-end tests of the real bot process.

Test code only: the product never imports it. ``FakeDiscord`` is an aiohttp server on
127.0.0.1 (an ephemeral port) that runs on its own event loop in a background thread. It
serves the REST API v10 under ``/api/v10`` and a gateway websocket at ``/gateway`` (JSON
text frames, no compression). Point discord.py at it with::

    discord.http.Route.BASE = f"{fake.url}/api/v10"
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)

(``tests/e2e/launcher.py`` does this in the bot's process).

What it enforces, with Discord's statuses and error codes
---------------------------------------------------------
- the first response to an interaction within ``ack_deadline`` (3 s): else 404 / 10062;
- interaction tokens live ``token_lifetime`` (15 min): else 401 / 50027;
- a second initial response: 400 / 40060; a followup or ``@original`` before any: 404 / 10015;
- message content at most 2000 characters, at most 5 action rows of at most 5 buttons,
  ``custom_id`` 1..100 characters and unique in a message, labels at most 80 characters,
  at most 10 attachments: 400 / 50035 "Invalid Form Body" with an ``errors`` object;
- each file at most ``attachment_size_limit`` (sent in every INTERACTION_CREATE): 413 / 40005;
- an empty message: 400 / 50006; an unknown message: 404 / 10008; unknown channel: 10003;
- REST routes of the bot (not webhooks) need ``Authorization: Bot ...``: else 401 / 0.

Every route it does not serve answers 404 ``{"message": "404: Not Found", "code": 0}`` and
is recorded in ``unexpected``; every rejected request is recorded in ``rejected``; an
interaction never acknowledged and an exception inside the fake are recorded too.
``problems()`` lists them all as lines; the ``fake_discord`` fixture fails a test that
leaves any (``allow_rejections(*codes)`` accepts the ones a test provokes on purpose).

Driver API (thread-safe, synchronous; call it from plain test functions)
------------------------------------------------------------------------
Server: ``start()``, ``stop()``, ``url``, ``gateway_url``, ``application_id``,
``bot_user_id``, ``guild_id``, ``other_guild_id``, ``attachment_size_limit`` (settable),
``token_lifetime``.

Two servers (guilds); ``server`` arguments take ``"a"``, ``"b"`` or a guild id:

- server A, ``guild_id``, "Fake Art Club": ``"owner"`` (its owner, ``owner_id``),
  ``"alice"``, ``"bob"`` (plain members), ``"mod"`` (Moderator role with Manage Server,
  ``moderator_role_id``), ``"curator"`` (a role without permissions, ``curator_role_id``);
  channels ``"general"``, ``"art"`` (text) and ``"nsfw"`` (age-restricted); ``roles``.
- server B, ``other_guild_id``, "Other Server": ``"owner_b"`` (its owner,
  ``other_owner_id``; not in A), ``"mod_b"`` (Moderator role with Manage Server,
  ``other_moderator_role_id``), ``"carol"`` (only in B), and ``"alice"`` and ``"bob"``,
  members of both servers (same user ids; in B they hold no role); channels
  ``"general"`` and ``"art"`` (their own ids); ``other_roles`` (the bot's role there is
  ``other_bot_role_id``).

People and places: ``member(name, server=None)`` (None: A when ``name`` is a member
there, else B: ``member("carol")`` is B's, ``member("alice")`` A's,
``member("alice", server="b")`` alice's membership in B); ``channel(name, server=None)``
likewise (``channel("general", server="b")``). They return a ``FakeMember`` (``id``,
``guild_id``, ``roles``) / ``FakeChannel`` (``id``, ``guild_id``). ``members`` and
``channels`` are server A's (by name); ``members_in(server)``, ``channels_in(server)``,
``roles_in(server)`` any server's; ``server_of(guild_id)`` gives ``"a"``/``"b"``;
``permissions_of(member)`` is computed in the member's own server (its owner has every
permission; only that server's roles count). Both guilds come in READY (unavailable),
then one GUILD_CREATE each (A first); ``/guilds/{id}``, ``/guilds/{id}/members/{user}``
and the channel routes serve both.

Gateway: ``identify_count``, ``command_sync_count``, ``wait_identified(count, timeout)``,
``connected`` (a bot session is live).

Commands: ``global_commands()``, ``guild_commands(guild_id=None)`` (a guild id or
``"a"``/``"b"``; None: A), ``command(name, guild=False, server=None)``: the synced trees
as the fake stored them (with ids). ``grant_command(name, server=None)`` lets every
member of that server (None: A) see a command whatever its
``default_member_permissions`` (until the bot syncs its global commands again).

Interactions (each returns an ``Interaction`` handle). The server is the member's
(``member.guild_id``): the payload's ``guild_id``, ``guild``, ``channel``, ``member``
(with its permissions there), ``app_permissions`` and ``authorizing_integration_owners``
are that server's.
- ``invoke("imagine", member, prompt="...", channel=None, guild=False)``: a slash command
  (type 2), validated against the synced tree: an unknown command or option, a missing
  required option, a wrong type, a value outside min/max/choices raise
  ``CommandUsageError``; so does a command hidden from the member by its
  ``default_member_permissions`` (checked with its permissions in its server).
  Subcommands are named with spaces: ``invoke("admin ban", mod, user=alice)``; user
  options take a ``FakeMember`` (resolved as that user's membership in the invoking
  server, or as a bare user when not a member there). ``guild=True`` uses the server's
  copy of a command (as ``DEV_GUILD_ID`` syncs it); a copy synced to A does not exist in
  B. ``channel`` is a name (in the member's server) or a ``FakeChannel``; default: the
  member's server's ``general``; a channel of another server raises
  ``CommandUsageError``.
- ``press(message, "U2", member)``: a button (type 3) on a stored message (a
  ``StoredMessage`` or an id), sent with the full current message object; a missing,
  disabled or invisible button, or a message in another server than the member's,
  raises ``CommandUsageError``.
- ``press_custom_id(custom_id, member, *, message=None, channel=None)``: a button
  interaction (type 3, component_type 2) with any ``custom_id`` (1..100 characters), as a
  forged or stale client could send: the message need not have that button. ``message``
  (a ``StoredMessage`` or id; default: the newest live bot message the member can see
  in ``channel``, default its server's ``general``) is sent as the interaction's
  ``message``; it must be in the member's server (else ``CommandUsageError``).

``Interaction`` handle: ``id``, ``token``, ``member``, ``guild_id``, ``channel_id``,
``ack`` (the accepted first callback: ``Callback(type, latency, ephemeral)`` or None),
``wait_ack(timeout)``, ``original()``, ``wait_original(predicate, timeout)``,
``followups()``, ``wait_followup(predicate, timeout)``, ``messages()`` (original and
followups, not deleted), ``wait_reply(predicate, timeout)`` (the first of those
matching).

Deferrals (type 5), strictly as Discord documents them: the first followup after the
deferral takes the deferral's visibility whatever flags it asks for. It replaces the
"thinking…" message; when that was deleted in between, it is a new message, still with
the deferral's visibility (a public deferral never turns into an ephemeral answer).
Editing ``@original`` answers the deferral too. Later followups honour their own flags.

Messages (all reads are snapshots, ``StoredMessage``): ``message(id)``,
``messages(channel_id=None, visible_to=None, include_deleted=False)``,
``wait_for_message(predicate, timeout, channel_id=None)`` (edits count: the predicate is
checked on every change), ``attachment_bytes(attachment_or_id)``. No message is ever
forgotten: deleted ones (by the bot, ``@original`` included, or by ``delete_message``)
stay with ``deleted`` set. ``message_mark()`` (how many messages were ever created) and
``public_messages_since(mark, channel_id=None)``: every non-ephemeral message created
after the mark, deleted and "thinking…" ones included (to prove that a refusal posted
nothing in public).
``StoredMessage`` has ``id``, ``channel_id``, ``guild_id``, ``content``, ``components``,
``rows`` (button labels per row), ``button(label)``, ``attachments``
(``StoredAttachment`` with ``data`` bytes, ``filename``, ``content_type``, ``width``,
``height``), ``image(i)`` (a PIL image), ``flags``, ``ephemeral``, ``loading``,
``visible_to``, ``interaction_id``, ``kind`` (``original``, ``followup`` or ``channel``),
``edits`` (every change, timed), ``deleted``.

Bookkeeping: ``calls`` (every request), ``rejected``, ``unexpected``, ``dropped`` (the
client went away mid-request), ``problems()``, ``mark()`` / ``problems(since=mark)``,
``allow_rejections(*codes)``, ``clear_allowed_rejections()``, ``pending_acks()``,
``wait_quiet()``.

Faults: ``fail_next("PATCH", r"/messages/@original$", status=500, times=1)`` answers the
next matching calls with an error instead (``injected`` lists them);
``delay_next("PATCH", r"/messages/@original$", 2.0)`` serves them late;
``clear_faults()``; ``expire(handle)`` makes an interaction's token invalid as if 15
minutes had passed; ``delete_message(m)`` deletes a message as a moderator would
(MESSAGE_DELETE carries the message's own guild).

Every ``wait_*`` fails at once, naming it, when the fake records a new problem while it
waits (a rejected edit does not leave a test waiting for its full timeout).
"""

from __future__ import annotations

import asyncio
import copy
import io
import itertools
import json
import re
import secrets
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from aiohttp import ClientPayloadError, WSMsgType, web

API_PREFIX = "/api/v10"
DISCORD_EPOCH_MS = 1420070400000

# Limits Discord enforces.
ACK_DEADLINE_S = 3.0
TOKEN_LIFETIME_S = 15 * 60
MAX_CONTENT = 2000
MAX_ROWS = 5
MAX_ROW_ITEMS = 5
MAX_CUSTOM_ID = 100
MAX_LABEL = 80
MAX_ATTACHMENTS = 10
DEFAULT_ATTACHMENT_LIMIT = 10 * 1024 * 1024
MAX_STRING_OPTION = 6000

# Message flags.
SUPPRESS_EMBEDS = 1 << 2
EPHEMERAL = 1 << 6
LOADING = 1 << 7
SUPPRESS_NOTIFICATIONS = 1 << 12
IS_COMPONENTS_V2 = 1 << 15

# Permission bits.
CREATE_INSTANT_INVITE = 1 << 0
KICK_MEMBERS = 1 << 1
BAN_MEMBERS = 1 << 2
ADMINISTRATOR = 1 << 3
MANAGE_CHANNELS = 1 << 4
MANAGE_GUILD = 1 << 5
ADD_REACTIONS = 1 << 6
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
MANAGE_MESSAGES = 1 << 13
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
USE_EXTERNAL_EMOJIS = 1 << 18
CONNECT = 1 << 20
SPEAK = 1 << 21
CHANGE_NICKNAME = 1 << 26
USE_APPLICATION_COMMANDS = 1 << 31
SEND_MESSAGES_IN_THREADS = 1 << 38
ALL_PERMISSIONS = (1 << 51) - 1
EVERYONE_PERMISSIONS = (
    CREATE_INSTANT_INVITE
    | ADD_REACTIONS
    | VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | USE_EXTERNAL_EMOJIS
    | CONNECT
    | SPEAK
    | CHANGE_NICKNAME
    | USE_APPLICATION_COMMANDS
    | SEND_MESSAGES_IN_THREADS
)

# Application command option types.
SUB_COMMAND, SUB_COMMAND_GROUP = 1, 2
STRING, INTEGER, BOOLEAN, USER, CHANNEL, ROLE, MENTIONABLE, NUMBER, ATTACHMENT = range(3, 12)
OPTION_TYPE_NAMES = {
    SUB_COMMAND: "subcommand",
    SUB_COMMAND_GROUP: "subcommand group",
    STRING: "string",
    INTEGER: "integer",
    BOOLEAN: "boolean",
    USER: "user",
    CHANNEL: "channel",
    ROLE: "role",
    MENTIONABLE: "mentionable",
    NUMBER: "number",
    ATTACHMENT: "attachment",
}

_COMMAND_NAME = re.compile(r"^[-_\w]{1,32}$")
_MENTION = re.compile(r"<@!?(\d+)>")
_JSON = {"Content-Type": "application/json"}


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


class Interaction:
    """A handle on one interaction the fake sent; every read is a fresh snapshot."""

    def __init__(self, fake: FakeDiscord, record: _InteractionRecord) -> None:
        self._fake = fake
        self.id = record.id
        self.token = record.token
        self.type = record.type
        self.member = record.member
        self.guild_id = record.guild_id
        self.channel_id = record.channel_id
        self.name = record.name
        self.custom_id = record.custom_id

    def __repr__(self) -> str:
        what = self.name if self.type == 2 else f"button {self.custom_id}"
        return f"<Interaction {self.id} {what} by {self.member.name}>"

    def _record(self) -> _InteractionRecord:
        return self._fake._interactions[self.id]

    @property
    def ack(self) -> Callback | None:
        with self._fake._cond:
            return self._record().ack

    def wait_ack(self, timeout: float = ACK_DEADLINE_S + 2) -> Callback:
        """The first callback; fails when none was accepted in ``timeout`` seconds."""

        def check() -> Callback | None:
            return self._record().ack

        return self._fake._wait(check, timeout, f"an accepted callback for {self!r}")

    def original(self, *, include_deleted: bool = False) -> StoredMessage | None:
        with self._fake._cond:
            message = self._fake._original_of(self._record())
            if message is None or (message.deleted and not include_deleted):
                return None
            return copy.deepcopy(message)

    def wait_original(
        self, predicate: Callable[[StoredMessage], bool] | None = None, timeout: float = 60
    ) -> StoredMessage:
        """The original response once it exists (not deleted) and matches ``predicate``."""

        def check() -> StoredMessage | None:
            message = self._fake._original_of(self._record())
            if message is None or message.deleted:
                return None
            if predicate is None or predicate(message):
                return copy.deepcopy(message)
            return None

        return self._fake._wait(check, timeout, f"original response of {self!r}")

    def followups(self, *, include_deleted: bool = False) -> list[StoredMessage]:
        with self._fake._cond:
            return [
                copy.deepcopy(m)
                for m in self._fake._followups_of(self._record())
                if include_deleted or not m.deleted
            ]

    def wait_followup(
        self, predicate: Callable[[StoredMessage], bool] | None = None, timeout: float = 60
    ) -> StoredMessage:
        def check() -> StoredMessage | None:
            for message in self._fake._followups_of(self._record()):
                if not message.deleted and (predicate is None or predicate(message)):
                    return copy.deepcopy(message)
            return None

        return self._fake._wait(check, timeout, f"followup of {self!r}")

    def messages(self) -> list[StoredMessage]:
        """The original response and the followups, not deleted, oldest first."""
        with self._fake._cond:
            return [copy.deepcopy(m) for m in self._fake._messages_of(self._record())]

    def wait_reply(
        self, predicate: Callable[[StoredMessage], bool] | None = None, timeout: float = 30
    ) -> StoredMessage:
        """The first message of this interaction (original or followup) matching ``predicate``."""

        def check() -> StoredMessage | None:
            for message in self._fake._messages_of(self._record()):
                if not message.loading and (predicate is None or predicate(message)):
                    return copy.deepcopy(message)
            return None

        return self._fake._wait(check, timeout, f"a reply to {self!r}")


@dataclass
class _Fault:
    method: str
    pattern: re.Pattern[str]
    status: int | None  # None: served as usual, after the delay
    body: dict[str, Any]
    times: int
    delay: float = 0.0


@dataclass
class _Gateway:
    ws: web.WebSocketResponse
    seq: int = 0
    session_id: str = ""
    identified: bool = False
    intents: int | None = None


class FakeDiscord:
    """The fake Discord server and its driver API (see the module docstring)."""

    def __init__(self, *, attachment_size_limit: int = DEFAULT_ATTACHMENT_LIMIT) -> None:
        self.attachment_size_limit = attachment_size_limit
        self.default_attachment_size_limit = attachment_size_limit
        self.ack_deadline = ACK_DEADLINE_S
        self.token_lifetime = TOKEN_LIFETIME_S
        self._ids = Snowflakes()
        self._cond = threading.Condition(threading.RLock())
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

        self.application_id = self._ids.next()
        self.bot_user_id = self.application_id
        self.guild_id = self._ids.next()

        self.moderator_role_id = self._ids.next()
        self.curator_role_id = self._ids.next()
        self.bot_role_id = self._ids.next()
        bot_perms = EVERYONE_PERMISSIONS | MANAGE_MESSAGES
        self.roles = [
            FakeRole(self.guild_id, "@everyone", EVERYONE_PERMISSIONS, 0),
            FakeRole(self.curator_role_id, "Curator", 0, 1),
            FakeRole(self.moderator_role_id, "Moderator", MANAGE_GUILD | MANAGE_MESSAGES, 2),
            FakeRole(self.bot_role_id, "ImagineBot", bot_perms, 3, True, self.bot_user_id),
        ]
        self._members = {
            name: FakeMember(name, self._ids.next(), roles, guild_id=self.guild_id)
            for name, roles in (
                ("owner", ()),
                ("alice", ()),
                ("bob", ()),
                ("mod", (self.moderator_role_id,)),
                ("curator", (self.curator_role_id,)),
            )
        }
        self.bot_member = FakeMember(
            "imaginebot", self.bot_user_id, (self.bot_role_id,), bot=True, guild_id=self.guild_id
        )
        self._members["imaginebot"] = self.bot_member
        self.owner_id = self._members["owner"].id
        self._channels = {
            name: FakeChannel(name, self._ids.next(), self.guild_id, position, nsfw)
            for position, (name, nsfw) in enumerate(
                (("general", False), ("art", False), ("nsfw", True))
            )
        }

        # Server B: its own owner, moderator and member; alice and bob are in both.
        self.other_guild_id = self._ids.next()
        self.other_moderator_role_id = self._ids.next()
        self.other_bot_role_id = self._ids.next()
        self.other_roles = [
            FakeRole(self.other_guild_id, "@everyone", EVERYONE_PERMISSIONS, 0),
            FakeRole(self.other_moderator_role_id, "Moderator", MANAGE_GUILD | MANAGE_MESSAGES, 1),
            FakeRole(self.other_bot_role_id, "ImagineBot", bot_perms, 2, True, self.bot_user_id),
        ]
        other_members = {
            name: FakeMember(name, self._ids.next(), roles, guild_id=self.other_guild_id)
            for name, roles in (
                ("owner_b", ()),
                ("mod_b", (self.other_moderator_role_id,)),
                ("carol", ()),
            )
        }
        for name in ("alice", "bob"):
            other_members[name] = replace(
                self._members[name], roles=(), guild_id=self.other_guild_id
            )
        other_members["imaginebot"] = replace(
            self.bot_member, roles=(self.other_bot_role_id,), guild_id=self.other_guild_id
        )
        self.other_owner_id = other_members["owner_b"].id
        other_channels = {
            name: FakeChannel(name, self._ids.next(), self.other_guild_id, position)
            for position, name in enumerate(("general", "art"))
        }
        self._guilds = {
            self.guild_id: _Guild(
                "a",
                self.guild_id,
                "Fake Art Club",
                self.owner_id,
                self.roles,
                self._members,
                self._channels,
            ),
            self.other_guild_id: _Guild(
                "b",
                self.other_guild_id,
                "Other Server",
                self.other_owner_id,
                self.other_roles,
                other_members,
                other_channels,
            ),
        }
        self._grants: set[tuple[int, str]] = set()

        self._gateway: _Gateway | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._active = 0
        self._last_activity = 0.0
        self.identify_count = 0
        self.command_sync_count = 0
        self.identify_payloads: list[dict[str, Any]] = []
        self._global_commands: list[dict[str, Any]] = []
        self._guild_commands: dict[int, list[dict[str, Any]]] = {}
        self._messages: dict[int, StoredMessage] = {}
        self._attachments: dict[int, StoredAttachment] = {}
        self._interactions: dict[int, _InteractionRecord] = {}
        self._by_token: dict[str, _InteractionRecord] = {}
        self.calls: list[Call] = []
        self.rejected: list[Rejection] = []
        self.unexpected: list[Call] = []
        self._problems: list[str] = []
        self._allowed_codes: set[int] = set()
        self._faults: list[_Fault] = []
        self.injected: list[Call] = []
        self.dropped: list[Call] = []
        self.bot_token: str | None = None

    # lifecycle

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    def start(self) -> FakeDiscord:
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            try:
                loop.run_until_complete(self._serve())
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._thread = threading.Thread(target=run, name="fake-discord", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop = None

    async def _serve(self) -> None:
        app = web.Application(client_max_size=256 * 1024 * 1024)
        app.router.add_get("/gateway", self._gateway_handler)
        app.router.add_get("/attachments/{attachment}/{filename}", self._attachment_handler)
        app.router.add_route("*", "/{path:.*}", self._rest_handler)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def _shutdown(self) -> None:
        gateway = self._gateway
        if gateway is not None:
            await gateway.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def _run(self, coro: Any, timeout: float = 10) -> Any:
        assert self._loop is not None, "the fake is not running"
        if threading.current_thread() is self._thread:
            raise RuntimeError("driver methods must not be called on the fake's own loop")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    # bookkeeping

    def mark(self) -> int:
        """A position in the problem list, for ``problems(since=...)``."""
        with self._cond:
            self._check_acks()
            return len(self._problems)

    def problems(self, since: int = 0) -> list[str]:
        """Unexpected calls, rejections (not allowed ones), missed acks, errors in the fake."""
        with self._cond:
            self._check_acks()
            return list(self._problems[since:])

    def allow_rejections(self, *codes: int) -> None:
        """Rejections with these Discord error codes are not problems (until cleared)."""
        with self._cond:
            self._allowed_codes.update(codes)

    def clear_allowed_rejections(self) -> None:
        with self._cond:
            self._allowed_codes.clear()

    def fail_next(
        self,
        method: str,
        path: str,
        *,
        status: int = 500,
        code: int = 0,
        message: str | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` on paths matching the regex ``path``
        (after ``/api/v10``) with ``status`` instead of serving them; recorded in
        ``injected``, not as problems."""
        body = {"message": message or f"{status}: Injected failure", "code": code}
        with self._cond:
            self._faults.append(_Fault(method.upper(), re.compile(path), status, body, times))

    def wait_quiet(self, quiet: float = 0.3, timeout: float = 5.0) -> bool:
        """Wait until no REST call has been served for ``quiet`` seconds (False on timeout).

        Stopping the bot right after it was answered lets it read that answer first."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                idle = time.monotonic() - self._last_activity
                if self._active == 0 and idle >= quiet:
                    return True
                if time.monotonic() >= deadline:
                    return False
                self._cond.wait(max(0.01, quiet - idle))

    def delay_next(self, method: str, path: str, seconds: float, *, times: int = 1) -> None:
        """Serve the next ``times`` matching calls only after ``seconds`` (a slow Discord)."""
        with self._cond:
            self._faults.append(_Fault(method.upper(), re.compile(path), None, {}, times, seconds))

    def clear_faults(self) -> None:
        """Forget the failures and delays not used up yet."""
        with self._cond:
            self._faults.clear()

    def pending_acks(self) -> list[int]:
        """Interactions still within their deadline and not acknowledged."""
        with self._cond:
            now = time.monotonic()
            return [
                r.id
                for r in self._interactions.values()
                if r.ack is None and now - r.created <= self.ack_deadline
            ]

    def _check_acks(self) -> None:
        now = time.monotonic()
        for record in self._interactions.values():
            if record.checked or record.ack is not None:
                continue
            if now - record.created > self.ack_deadline:
                record.checked = True
                what = f"/{record.name}" if record.type == 2 else f"button {record.custom_id}"
                self._problems.append(
                    f"interaction {record.id} ({what} by {record.member.name}) was not "
                    f"acknowledged within {self.ack_deadline:g} s"
                )

    def _reject(self, request: web.Request, error: DiscordError) -> None:
        rejection = Rejection(
            time.time(),
            request.method,
            request.path,
            error.status,
            error.code,
            error.message,
            error.errors,
        )
        with self._cond:
            self.rejected.append(rejection)
            if error.code not in self._allowed_codes:
                self._problems.append(f"rejected: {rejection}")
            self._cond.notify_all()

    def _wait(self, check: Callable[[], Any], timeout: float, what: str) -> Any:
        """Wait for ``check()`` to return something; fail at once on a new problem."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._check_acks()
            known = len(self._problems)
            while True:
                result = check()
                if result is not None:
                    return result
                self._check_acks()
                if len(self._problems) > known:
                    raise AssertionError(
                        f"while waiting for {what}, the fake recorded:\n- "
                        + "\n- ".join(self._problems[known:])
                    )
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
                self._cond.wait(min(remaining, 0.5))

    # people, places, commands

    def _guild(self, server: str | int | None) -> _Guild:
        """``"a"``, ``"b"`` or a guild id (None: server A)."""
        if server is None:
            return self._guilds[self.guild_id]
        for guild in self._guilds.values():
            if server in (guild.key, guild.id) or str(server) == str(guild.id):
                return guild
        raise KeyError(f"no server {server!r} (servers: 'a', 'b')")

    def _guild_of(self, member: FakeMember) -> _Guild:
        return self._guild(member.guild_id)

    def _channel_by_id(self, channel_id: int) -> FakeChannel | None:
        for guild in self._guilds.values():
            found = guild.channel_by_id(channel_id)
            if found is not None:
                return found
        return None

    def _user_by_id(self, user_id: int) -> FakeMember | None:
        for guild in self._guilds.values():
            found = guild.member_by_id(user_id)
            if found is not None:
                return found
        return None

    def member(self, name: str, server: str | int | None = None) -> FakeMember:
        """``name``'s membership in ``server`` (``"a"``, ``"b"``); None: server A when
        ``name`` is a member there, else server B."""
        return self._named("members", name, server)

    @property
    def members(self) -> dict[str, FakeMember]:
        """Server A's members (by name)."""
        return dict(self._members)

    def members_in(self, server: str | int) -> dict[str, FakeMember]:
        """The members of ``server`` (``"a"``, ``"b"`` or a guild id), by name."""
        return dict(self._guild(server).members)

    def channel(self, name: str, server: str | int | None = None) -> FakeChannel:
        """Channel ``name`` of ``server``; None: server A's when it has one, else B's."""
        return self._named("channels", name, server)

    def _named(self, kind: str, name: str, server: str | int | None) -> Any:
        """The member or channel (``kind``: ``"members"``/``"channels"``) called ``name``
        in ``server``; None: the first server that has one (A, then B)."""
        guilds = list(self._guilds.values()) if server is None else [self._guild(server)]
        for guild in guilds:
            found = getattr(guild, kind).get(name)
            if found is not None:
                return found
        where = "any server" if server is None else f"server {guilds[0].key}"
        raise KeyError(f"no {kind[:-1]} {name!r} in {where}")

    @property
    def channels(self) -> dict[str, FakeChannel]:
        """Server A's channels (by name)."""
        return dict(self._channels)

    def channels_in(self, server: str | int) -> dict[str, FakeChannel]:
        return dict(self._guild(server).channels)

    def roles_in(self, server: str | int) -> list[FakeRole]:
        return list(self._guild(server).roles)

    def server_of(self, guild_id: int) -> str:
        """``"a"`` or ``"b"`` for a guild id."""
        return self._guild(guild_id).key

    def permissions_of(self, member: FakeMember) -> int:
        """``member``'s permissions in its own server (the owner has them all)."""
        guild = self._guild_of(member)
        if member.id == guild.owner_id:
            return ALL_PERMISSIONS
        value = 0
        for role in guild.roles:
            if role.id == guild.id or role.id in member.roles:
                value |= role.permissions
        if value & ADMINISTRATOR:
            return ALL_PERMISSIONS
        return value

    @property
    def connected(self) -> bool:
        with self._cond:
            return self._gateway is not None and self._gateway.identified

    def wait_identified(self, count: int, timeout: float = 120) -> None:
        """Wait until ``identify_count`` reaches ``count``."""

        def check() -> bool | None:
            return True if self.identify_count >= count and self.connected else None

        self._wait(check, timeout, f"IDENTIFY number {count}")

    def global_commands(self) -> list[dict[str, Any]]:
        with self._cond:
            return copy.deepcopy(self._global_commands)

    def guild_commands(self, guild_id: int | str | None = None) -> list[dict[str, Any]]:
        """The commands synced to one server (a guild id, ``"a"`` or ``"b"``; None: A)."""
        key = self._guild(guild_id).id
        with self._cond:
            return copy.deepcopy(self._guild_commands.get(key, []))

    def command(
        self, name: str, *, guild: bool = False, server: str | int | None = None
    ) -> dict[str, Any]:
        """The synced command ``name`` as ``server`` (None: A) sees it: the global one
        (``guild=True``: that server's copy first), or the other when only one exists."""
        with self._cond:
            return self._find_command(name, self._guild(server).id, guild_first=guild)

    # messages (reads)

    def message(self, message_id: int) -> StoredMessage:
        with self._cond:
            return copy.deepcopy(self._messages[int(message_id)])

    def messages(
        self,
        channel_id: int | None = None,
        *,
        visible_to: FakeMember | int | None = None,
        include_deleted: bool = False,
    ) -> list[StoredMessage]:
        """Messages oldest first; ``visible_to`` keeps what that member can see."""
        viewer = visible_to.id if isinstance(visible_to, FakeMember) else visible_to
        with self._cond:
            return [
                copy.deepcopy(m)
                for m in self._messages.values()
                if (channel_id is None or m.channel_id == channel_id)
                and (include_deleted or not m.deleted)
                and (viewer is None or m.visible_to is None or m.visible_to == viewer)
            ]

    def wait_for_message(
        self,
        predicate: Callable[[StoredMessage], bool],
        timeout: float = 60,
        channel_id: int | None = None,
    ) -> StoredMessage:
        """The first live message (created or edited) for which ``predicate`` holds."""

        def check() -> StoredMessage | None:
            for message in self._messages.values():
                if message.deleted or (channel_id is not None and message.channel_id != channel_id):
                    continue
                if predicate(message):
                    return copy.deepcopy(message)
            return None

        return self._wait(check, timeout, "a matching message")

    def attachment_bytes(self, attachment: StoredAttachment | int) -> bytes:
        key = attachment.id if isinstance(attachment, StoredAttachment) else int(attachment)
        with self._cond:
            return self._attachments[key].data

    def message_mark(self) -> int:
        """How many messages were ever created (deleted ones included): a mark for
        ``public_messages_since``. The fake never forgets a message."""
        with self._cond:
            return len(self._messages)

    def public_messages_since(
        self, mark: int, *, channel_id: int | None = None
    ) -> list[StoredMessage]:
        """Every non-ephemeral message created after ``mark``, oldest first, deleted ones
        and "thinking…" ones included: what everyone in the channel could have seen."""
        with self._cond:
            return [
                copy.deepcopy(m)
                for m in list(self._messages.values())[mark:]
                if not m.ephemeral and (channel_id is None or m.channel_id == channel_id)
            ]

    def _original_of(self, record: _InteractionRecord) -> StoredMessage | None:
        if record.original_id is None:
            return None
        return self._messages.get(record.original_id)

    def _followups_of(self, record: _InteractionRecord) -> list[StoredMessage]:
        # The first followup after a "thinking" defer is the original message too.
        return [self._messages[i] for i in record.followup_ids]

    def _messages_of(self, record: _InteractionRecord) -> list[StoredMessage]:
        found = []
        original = self._original_of(record)
        if original is not None and original.interaction_id == record.id:
            found.append(original)
        found += [m for m in self._followups_of(record) if m.id != record.original_id]
        return [m for m in found if not m.deleted]

    # interactions (driver)

    def invoke(
        self,
        command: str,
        member: FakeMember | str,
        *,
        channel: FakeChannel | str | None = None,
        guild: bool = False,
        **options: Any,
    ) -> Interaction:
        """Run a slash command as ``member``; see the module docstring.

        The global command is used, or with ``guild=True`` the server's own copy (as
        ``DEV_GUILD_ID`` syncs it); when only one exists, that one.
        """
        member = self.member(member) if isinstance(member, str) else member
        server = self._guild_of(member)
        place = self._channel_of(channel, member)
        path = command.lstrip("/").split()
        with self._cond:
            top = self._find_command(path[0], server.id, guild_first=guild)
            granted = (server.id, top["name"]) in self._grants
        guild_command = top.get("guild_id") is not None
        required = int(top.get("default_member_permissions") or 0)
        perms = self.permissions_of(member)
        if (
            required
            and not granted
            and (perms & required) != required
            and not perms & ADMINISTRATOR
        ):
            raise CommandUsageError(
                f"{member.name} cannot see /{path[0]}: it needs permissions {required}"
            )
        resolved: dict[str, dict[str, Any]] = {}
        data: dict[str, Any] = {
            "id": str(top["id"]),
            "name": top["name"],
            "type": 1,
        }
        leaf = top
        nested: list[dict[str, Any]] = []
        container = nested
        for name in path[1:]:
            sub = next((o for o in leaf.get("options", []) if o["name"] == name), None)
            if sub is None or sub["type"] not in (SUB_COMMAND, SUB_COMMAND_GROUP):
                raise CommandUsageError(f"/{' '.join(path)}: no subcommand {name!r}")
            entry: dict[str, Any] = {"name": name, "type": sub["type"], "options": []}
            container.append(entry)
            container = entry["options"]
            leaf = sub
        if any(o["type"] in (SUB_COMMAND, SUB_COMMAND_GROUP) for o in leaf.get("options", [])):
            raise CommandUsageError(f"/{' '.join(path)} needs a subcommand")
        container.extend(self._command_options(" ".join(path), leaf, options, resolved, server))
        if nested:
            data["options"] = nested
        if resolved:
            data["resolved"] = resolved
        if guild_command:
            data["guild_id"] = str(server.id)
        return self._send_interaction(
            2, member, place, data, name=" ".join(path), custom_id=None, message=None
        )

    def press(
        self,
        message: StoredMessage | int,
        label: str,
        member: FakeMember | str,
    ) -> Interaction:
        """Press the button labelled ``label`` on ``message`` as ``member``."""
        member = self.member(member) if isinstance(member, str) else member
        message_id = message.id if isinstance(message, StoredMessage) else int(message)
        with self._cond:
            stored = self._visible_message(message_id, member)
            if stored.loading:
                raise CommandUsageError(f"message {message_id} is still 'thinking'")
            button = stored.button(label)
            if button.get("disabled"):
                raise CommandUsageError(f"button {label!r} on {message_id} is disabled")
            if button.get("style") == 5 or "custom_id" not in button:
                raise CommandUsageError(f"button {label!r} is a link, not an interaction")
            message_json = self._message_json(stored)
            channel = self._channel_by_id(stored.channel_id)
            assert channel is not None
        data = {"custom_id": button["custom_id"], "component_type": 2}
        return self._send_interaction(
            3,
            member,
            channel,
            data,
            name=None,
            custom_id=button["custom_id"],
            message=message_json,
            source_message_id=message_id,
        )

    def press_custom_id(
        self,
        custom_id: str,
        member: FakeMember | str,
        *,
        message: StoredMessage | int | None = None,
        channel: FakeChannel | str | None = None,
    ) -> Interaction:
        """A button interaction with any ``custom_id``, as a forged or stale client could
        send: nothing checks that the message has such a button. ``message`` (default:
        the newest bot message in ``channel``, default the member's server's general)
        must be one the member can see, in the member's server."""
        member = self.member(member) if isinstance(member, str) else member
        if not isinstance(custom_id, str) or not 1 <= len(custom_id) <= MAX_CUSTOM_ID:
            raise CommandUsageError(f"a custom_id is 1..{MAX_CUSTOM_ID} characters")
        with self._cond:
            if message is None:
                place = self._channel_of(channel, member)
                newest = [
                    m
                    for m in self._messages.values()
                    if m.channel_id == place.id
                    and not m.deleted
                    and m.author.get("id") == str(self.bot_user_id)
                    and (m.visible_to is None or m.visible_to == member.id)
                ]
                if not newest:
                    raise CommandUsageError(f"no bot message in #{place.name} to press on")
                stored = newest[-1]
            else:
                message_id = message.id if isinstance(message, StoredMessage) else int(message)
                stored = self._visible_message(message_id, member)
                if channel is not None and self._channel_of(channel, member).id != (
                    stored.channel_id
                ):
                    raise CommandUsageError(f"message {message_id} is in another channel")
            message_json = self._message_json(stored)
            place = self._channel_by_id(stored.channel_id)
            assert place is not None
        # discord.py only dispatches a custom id that the interaction's message carries
        # (as Discord only sends presses of buttons that exist): the message is sent as
        # one that carries it, as a message of the bot's could (an old layout, or a job id
        # of another server), so that the bot's own checks are what answers.
        if not any(
            item.get("custom_id") == custom_id
            for row in message_json.get("components", [])
            for item in row.get("components", [])
        ):
            button = {"type": 2, "style": 2, "label": "?", "custom_id": custom_id}
            rows = [*message_json.get("components", []), {"type": 1, "components": [button]}]
            message_json = {**message_json, "components": rows[-5:]}
        data = {"custom_id": custom_id, "component_type": 2}
        return self._send_interaction(
            3,
            member,
            place,
            data,
            name=None,
            custom_id=custom_id,
            message=message_json,
            source_message_id=stored.id,
        )

    def _visible_message(self, message_id: int, member: FakeMember) -> StoredMessage:
        """A live message ``member`` can see (its server's, not someone else's ephemeral)."""
        stored = self._messages.get(message_id)
        if stored is None or stored.deleted:
            raise CommandUsageError(f"message {message_id} does not exist (or was deleted)")
        server = self._guild_of(member)
        if stored.guild_id != server.id:
            raise CommandUsageError(
                f"{member.name} (server {server.key}) cannot see message {message_id}: it is "
                f"in server {self._guild(stored.guild_id).key}"
            )
        if stored.visible_to is not None and stored.visible_to != member.id:
            raise CommandUsageError(f"{member.name} cannot see ephemeral message {message_id}")
        return stored

    def _channel_of(self, channel: FakeChannel | str | None, member: FakeMember) -> FakeChannel:
        """A channel of ``member``'s server (by name there; None: its general)."""
        server = self._guild_of(member)
        if channel is None:
            return server.channels["general"]
        if isinstance(channel, str):
            if channel not in server.channels:
                raise CommandUsageError(f"server {server.key} has no channel {channel!r}")
            return server.channels[channel]
        if channel.guild_id != server.id:
            raise CommandUsageError(
                f"{member.name} is not in #{channel.name}'s server "
                f"({self._guild(channel.guild_id).key}, not {server.key})"
            )
        return channel

    def grant_command(self, name: str, server: str | int | None = None) -> None:
        """Let every member of ``server`` (None: A) see command ``name``, as a server that
        re-grants it in its Integrations settings: the bot's own run-time checks are all
        that is left. It lasts until the bot syncs its global commands again."""
        with self._cond:
            self._grants.add((self._guild(server).id, name))

    def _find_command(
        self, name: str, guild_id: int, *, guild_first: bool = False
    ) -> dict[str, Any]:
        trees = [self._global_commands, self._guild_commands.get(guild_id, [])]
        if guild_first:
            trees.reverse()
        for tree in trees:
            for command in tree:
                if command["name"] == name and command.get("type", 1) == 1:
                    return copy.deepcopy(command)
        known = sorted({c["name"] for tree in trees for c in tree})
        raise CommandUsageError(f"/{name} is not a synced command (synced: {known})")

    def _command_options(
        self,
        path: str,
        command: dict[str, Any],
        given: dict[str, Any],
        resolved: dict[str, dict[str, Any]],
        server: _Guild,
    ) -> list[dict[str, Any]]:
        declared = {o["name"]: o for o in command.get("options", [])}
        for name in given:
            if name not in declared:
                raise CommandUsageError(f"/{path} has no option {name!r} (has {list(declared)})")
        for name, option in declared.items():
            if option.get("required") and name not in given:
                raise CommandUsageError(f"/{path}: the required option {name!r} is missing")
        out = []
        for name, value in given.items():
            option = declared[name]
            out.append(
                {
                    "name": name,
                    "type": option["type"],
                    "value": self._option_value(path, option, value, resolved, server),
                }
            )
        return out

    def _option_value(
        self,
        path: str,
        option: dict[str, Any],
        value: Any,
        resolved: dict[str, dict[str, Any]],
        server: _Guild,
    ) -> Any:
        kind = option["type"]
        where = f"/{path} {option['name']}"
        type_name = OPTION_TYPE_NAMES.get(kind, str(kind))

        def wrong() -> CommandUsageError:
            return CommandUsageError(f"{where}: {value!r} is not a valid {type_name}")

        if kind == STRING:
            if not isinstance(value, str):
                raise wrong()
            low = option.get("min_length", 0)
            high = option.get("max_length", MAX_STRING_OPTION)
            if not low <= len(value) <= high or not value:
                raise CommandUsageError(
                    f"{where}: length {len(value)} is outside {max(low, 1)}..{high}"
                )
        elif kind == INTEGER:
            if isinstance(value, bool) or not isinstance(value, int):
                raise wrong()
            if not -(2**53) < value < 2**53:
                raise wrong()
        elif kind == NUMBER:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise wrong()
        elif kind == BOOLEAN:
            if not isinstance(value, bool):
                raise wrong()
        elif kind in (USER, MENTIONABLE):
            if not isinstance(value, FakeMember):
                raise wrong()
            resolved.setdefault("users", {})[str(value.id)] = value.user_json()
            # The membership in the invoking server; a user who is not in it is a user only.
            there = server.member_by_id(value.id)
            if there is not None:
                member = there.member_json(with_user=False)
                member["permissions"] = str(self.permissions_of(there))
                resolved.setdefault("members", {})[str(value.id)] = member
            return str(value.id)
        elif kind == CHANNEL:
            if not isinstance(value, FakeChannel):
                raise wrong()
            if value.guild_id != server.id:
                raise CommandUsageError(f"{where}: #{value.name} is in another server")
            channel = value.to_json()
            channel["permissions"] = str(EVERYONE_PERMISSIONS)
            resolved.setdefault("channels", {})[str(value.id)] = channel
            return str(value.id)
        elif kind == ROLE:
            role = next((r for r in server.roles if r.id == value), None)
            if role is None:
                raise wrong()
            resolved.setdefault("roles", {})[str(role.id)] = role.to_json()
            return str(role.id)
        else:
            raise CommandUsageError(f"{where}: options of type {type_name} are not supported")
        if kind in (INTEGER, NUMBER):
            low, high = option.get("min_value"), option.get("max_value")
            if (low is not None and value < low) or (high is not None and value > high):
                raise CommandUsageError(f"{where}: {value} is outside {low}..{high}")
        choices = option.get("choices")
        if choices and value not in [c["value"] for c in choices]:
            allowed = [c["value"] for c in choices]
            raise CommandUsageError(f"{where}: {value!r} is not one of {allowed}")
        return value

    def _send_interaction(
        self,
        kind: int,
        member: FakeMember,
        channel: FakeChannel,
        data: dict[str, Any],
        *,
        name: str | None,
        custom_id: str | None,
        message: dict[str, Any] | None,
        source_message_id: int | None = None,
    ) -> Interaction:
        if not self.connected:
            raise AssertionError("the bot is not connected to the gateway")
        server = self._guild_of(member)
        if channel.guild_id != server.id:
            raise CommandUsageError(f"{member.name} is not in #{channel.name}'s server")
        interaction_id = self._ids.next()
        token = "aW50ZXJhY3Rpb246" + secrets.token_urlsafe(48)
        member_json = member.member_json()
        member_json["permissions"] = str(self.permissions_of(member))
        payload: dict[str, Any] = {
            "id": str(interaction_id),
            "application_id": str(self.application_id),
            "type": kind,
            "data": data,
            "guild_id": str(server.id),
            "guild": {
                "id": str(server.id),
                "locale": "en-US",
                "features": [],
            },
            "channel_id": str(channel.id),
            "channel": {**channel.to_json(), "permissions": member_json["permissions"]},
            "member": member_json,
            "token": token,
            "version": 1,
            "app_permissions": str(self.permissions_of(server.members["imaginebot"])),
            "locale": "en-US",
            "guild_locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(server.id)},
            "context": 0,
            "attachment_size_limit": self.attachment_size_limit,
        }
        if message is not None:
            payload["message"] = message
        with self._cond:
            record = _InteractionRecord(
                id=interaction_id,
                token=token,
                type=kind,
                member=member,
                guild_id=server.id,
                channel_id=channel.id,
                created=time.monotonic(),
                attachment_size_limit=self.attachment_size_limit,
                name=name,
                custom_id=custom_id,
                source_message_id=source_message_id,
            )
            self._interactions[interaction_id] = record
            self._by_token[token] = record
        self._run(self._dispatch("INTERACTION_CREATE", payload))
        return Interaction(self, record)

    def delete_message(self, message: StoredMessage | int) -> None:
        """Delete a message as a moderator would (the bot gets MESSAGE_DELETE)."""
        message_id = message.id if isinstance(message, StoredMessage) else int(message)
        with self._cond:
            stored = self._messages[message_id]
            stored.deleted = True
            stored.deleted_at = time.time()
            self._cond.notify_all()
        event = {
            "id": str(message_id),
            "channel_id": str(stored.channel_id),
            "guild_id": str(stored.guild_id),
        }
        if not stored.ephemeral and self.connected:
            self._run(self._dispatch("MESSAGE_DELETE", event))

    def expire(self, interaction: Interaction) -> None:
        """Make an interaction's token invalid, as after 15 minutes."""
        with self._cond:
            self._interactions[interaction.id].expired = True

    # gateway

    async def _dispatch(self, event: str, data: dict[str, Any]) -> None:
        gateway = self._gateway
        if gateway is None or gateway.ws.closed:
            raise AssertionError(f"no gateway connection to send {event}")
        await self._send_event(gateway, event, data)

    async def _send_event(self, gateway: _Gateway, event: str, data: dict[str, Any]) -> None:
        gateway.seq += 1
        await gateway.ws.send_str(json.dumps({"op": 0, "t": event, "s": gateway.seq, "d": data}))

    async def _gateway_handler(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        gateway = _Gateway(ws)
        self._record_call(request, 101)
        await ws.send_str(
            json.dumps({"op": 10, "d": {"heartbeat_interval": 41250}, "s": None, "t": None})
        )
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    if msg.type == WSMsgType.BINARY:
                        self._problem("the bot sent a binary gateway frame")
                    continue
                await self._gateway_message(gateway, json.loads(msg.data))
        except Exception:
            self._problem("gateway handler failed:\n" + traceback.format_exc())
        finally:
            with self._cond:
                if self._gateway is gateway:
                    self._gateway = None
                self._cond.notify_all()
        return ws

    async def _gateway_message(self, gateway: _Gateway, message: dict[str, Any]) -> None:
        op = message.get("op")
        if op == 1:
            # A little network latency: discord.py measures it, and an instant ACK races
            # with its heartbeat thread (a spurious "Can't keep up" warning).
            task = asyncio.create_task(self._heartbeat_ack(gateway))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif op == 2:
            await self._identify(gateway, message["d"])
        elif op == 6:
            # No resuming here: an invalid session makes the client IDENTIFY again.
            await gateway.ws.send_str(json.dumps({"op": 9, "d": False}))
        elif op in (3, 4, 8):
            pass  # presence, voice state, member requests: nothing to do
        else:
            self._problem(f"unknown gateway op {op}: {message}")

    async def _heartbeat_ack(self, gateway: _Gateway) -> None:
        await asyncio.sleep(0.05)
        if not gateway.ws.closed:
            await gateway.ws.send_str(json.dumps({"op": 11}))

    async def _identify(self, gateway: _Gateway, data: dict[str, Any]) -> None:
        gateway.session_id = secrets.token_hex(16)
        gateway.intents = data.get("intents")
        bot_user = self.bot_member.user_json()
        bot_user.update({"verified": True, "mfa_enabled": False, "email": None})
        ready = {
            "v": 10,
            "user": bot_user,
            "guilds": [{"id": str(g), "unavailable": True} for g in self._guilds],
            "session_id": gateway.session_id,
            "resume_gateway_url": self.gateway_url,
            "application": {"id": str(self.application_id), "flags": 0},
            "private_channels": [],
            "presences": [],
            "geo_ordered_rtc_regions": ["rotterdam"],
            "_trace": ["fake-discord"],
        }
        await self._send_event(gateway, "READY", ready)
        for guild in self._guilds.values():
            await self._send_event(gateway, "GUILD_CREATE", self._guild_json(guild))
        with self._cond:
            old = self._gateway
            gateway.identified = True
            self._gateway = gateway
            self.identify_count += 1
            self.identify_payloads.append({k: v for k, v in data.items() if k != "token"})
            self._cond.notify_all()
        if old is not None and old is not gateway and not old.ws.closed:
            await old.ws.close()

    def _guild_json(self, guild: _Guild) -> dict[str, Any]:
        members = [m.member_json() for m in guild.members.values()]
        return {
            "id": str(guild.id),
            "name": guild.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(guild.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 1,
            "default_message_notifications": 1,
            "explicit_content_filter": 2,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "premium_progress_bar_enabled": False,
            "preferred_locale": "en-US",
            "system_channel_id": str(guild.channels["general"].id),
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "vanity_url_code": None,
            "features": [],
            "roles": [r.to_json() for r in guild.roles],
            "emojis": [],
            "stickers": [],
            "soundboard_sounds": [],
            "channels": [c.to_json() for c in guild.channels.values()],
            "threads": [],
            "members": members,
            "member_count": len(members),
            "presences": [],
            "voice_states": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "large": False,
            "unavailable": False,
            "lazy": True,
            "joined_at": _iso(time.time() - 86400),
            "application_id": None,
            "max_members": 500000,
            "max_video_channel_users": 25,
            "max_stage_video_channel_users": 50,
            "nsfw": False,
            "incidents_data": None,
        }

    # REST

    def _record_call(self, request: web.Request, status: int, payload: Any = None) -> None:
        with self._cond:
            self.calls.append(
                Call(
                    time.time(), request.method, request.path, request.query_string, status, payload
                )
            )

    def _problem(self, text: str) -> None:
        with self._cond:
            self._problems.append(text)
            self._cond.notify_all()

    async def _attachment_handler(self, request: web.Request) -> web.StreamResponse:
        with self._cond:
            attachment = self._attachments.get(int(request.match_info["attachment"]))
        if attachment is None:
            return web.Response(status=404)
        return web.Response(
            body=attachment.data,
            headers={"Content-Type": attachment.content_type or "application/octet-stream"},
        )

    async def _rest_handler(self, request: web.Request) -> web.StreamResponse:
        with self._cond:
            self._active += 1
            self._last_activity = time.monotonic()
        try:
            return await self._serve_rest(request)
        finally:
            with self._cond:
                self._active -= 1
                self._last_activity = time.monotonic()
                self._cond.notify_all()

    async def _serve_rest(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if not path.startswith(API_PREFIX + "/"):
            return self._not_found(request)
        route = path[len(API_PREFIX) :]
        fault = self._take_fault(request.method, route)
        if fault is not None and fault.delay:
            await asyncio.sleep(fault.delay)
        if fault is not None and fault.status is not None:
            await request.read()
            call = Call(time.time(), request.method, path, request.query_string, fault.status)
            with self._cond:
                self.calls.append(call)
                self.injected.append(call)
            return web.Response(
                status=fault.status, body=json.dumps(fault.body).encode(), headers=_JSON
            )
        for method, pattern, handler, needs_auth in self._routes():
            if method != request.method:
                continue
            match = pattern.match(route)
            if match is None:
                continue
            try:
                if needs_auth:
                    self._check_auth(request)
                result = await handler(request, **match.groupdict())
            except DiscordError as error:
                self._reject(request, error)
                self._record_call(request, error.status)
                return web.Response(
                    status=error.status, body=json.dumps(error.body()).encode(), headers=_JSON
                )
            except (ConnectionError, ClientPayloadError):
                # The client went away mid-request (a bot process stopped): nobody to answer.
                call = Call(time.time(), request.method, path, request.query_string, 499)
                with self._cond:
                    self.calls.append(call)
                    self.dropped.append(call)
                raise
            except Exception:
                self._problem(
                    f"the fake failed on {request.method} {path}:\n{traceback.format_exc()}"
                )
                self._record_call(request, 500)
                body = {"message": "500: Internal Server Error", "code": 0}
                return web.Response(status=500, body=json.dumps(body).encode(), headers=_JSON)
            status, body = result
            self._record_call(request, status, body)
            with self._cond:
                self._cond.notify_all()
            if body is None:
                return web.Response(status=status)
            return web.Response(status=status, body=json.dumps(body).encode(), headers=_JSON)
        return self._not_found(request)

    def _take_fault(self, method: str, route: str) -> _Fault | None:
        with self._cond:
            for fault in self._faults:
                if fault.times > 0 and fault.method == method and fault.pattern.search(route):
                    fault.times -= 1
                    return fault
        return None

    def _not_found(self, request: web.Request) -> web.Response:
        call = Call(time.time(), request.method, request.path, request.query_string, 404)
        with self._cond:
            self.calls.append(call)
            self.unexpected.append(call)
            self._problems.append(f"unexpected call: {request.method} {request.path_qs}")
            self._cond.notify_all()
        body = {"message": "404: Not Found", "code": 0}
        return web.Response(status=404, body=json.dumps(body).encode(), headers=_JSON)

    def _check_auth(self, request: web.Request) -> None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bot ") or not header[4:].strip():
            raise DiscordError(401, 0, "401: Unauthorized")
        if self.bot_token is None:
            self.bot_token = header[4:]

    def _routes(self) -> list[tuple[str, re.Pattern[str], Any, bool]]:
        snowflake = r"(?P<{}>\d{{1,20}})"
        app = snowflake.format("app")
        guild = snowflake.format("guild")
        channel = snowflake.format("channel")
        mid = snowflake.format("mid")
        token = r"(?P<token>[^/]+)"
        table = [
            ("GET", r"/users/@me", self._get_me, True),
            ("GET", r"/oauth2/applications/@me", self._get_application, True),
            ("GET", rf"/applications/{app}/commands", self._get_commands, True),
            ("PUT", rf"/applications/{app}/commands", self._put_commands, True),
            ("GET", rf"/applications/{app}/guilds/{guild}/commands", self._get_commands, True),
            ("PUT", rf"/applications/{app}/guilds/{guild}/commands", self._put_commands, True),
            (
                "POST",
                rf"/interactions/(?P<interaction>\d+)/{token}/callback",
                self._callback,
                False,
            ),
            ("POST", rf"/webhooks/{app}/{token}", self._followup, False),
            (
                "GET",
                rf"/webhooks/{app}/{token}/messages/(?P<mid>@original|\d+)",
                self._webhook_get,
                False,
            ),
            (
                "PATCH",
                rf"/webhooks/{app}/{token}/messages/(?P<mid>@original|\d+)",
                self._webhook_edit,
                False,
            ),
            (
                "DELETE",
                rf"/webhooks/{app}/{token}/messages/(?P<mid>@original|\d+)",
                self._webhook_delete,
                False,
            ),
            ("GET", rf"/channels/{channel}", self._get_channel, True),
            ("POST", rf"/channels/{channel}/messages", self._channel_post, True),
            ("GET", rf"/channels/{channel}/messages/{mid}", self._channel_get, True),
            ("PATCH", rf"/channels/{channel}/messages/{mid}", self._channel_edit, True),
            ("DELETE", rf"/channels/{channel}/messages/{mid}", self._channel_delete, True),
            ("GET", rf"/guilds/{guild}", self._get_guild, True),
            ("GET", rf"/guilds/{guild}/members/(?P<user>\d+)", self._get_member, True),
            ("GET", r"/users/(?P<user>\d+)", self._get_user, True),
        ]
        return [(m, re.compile(f"^{p}$"), h, auth) for m, p, h, auth in table]

    async def _get_me(self, request: web.Request) -> tuple[int, Any]:
        user = self.bot_member.user_json()
        user.update({"verified": True, "mfa_enabled": False, "email": None, "locale": "en-US"})
        return 200, user

    async def _get_application(self, request: web.Request) -> tuple[int, Any]:
        owner = self._members["owner"].user_json()
        return 200, {
            "id": str(self.application_id),
            "name": "ImagineBot",
            "icon": None,
            "description": "A fake application",
            "rpc_origins": [],
            "bot_public": True,
            "bot_require_code_grant": False,
            "bot": self.bot_member.user_json(),
            "terms_of_service_url": None,
            "privacy_policy_url": None,
            "owner": owner,
            "summary": "",
            "verify_key": secrets.token_hex(32),
            "team": None,
            "guild_id": None,
            "flags": 0,
            "tags": [],
            "install_params": None,
            "integration_types_config": {},
            "custom_install_url": None,
            "approximate_guild_count": len(self._guilds),
            "approximate_user_install_count": 0,
            "redirect_uris": [],
            "interactions_endpoint_url": None,
            "role_connections_verification_url": None,
        }

    def _check_app(self, app: str) -> None:
        if int(app) != self.application_id:
            raise DiscordError(404, 10002, "Unknown Application")

    def _check_guild(self, guild: str) -> _Guild:
        found = self._guilds.get(int(guild))
        if found is None:
            raise DiscordError(404, 10004, "Unknown Guild")
        return found

    async def _get_commands(
        self, request: web.Request, app: str, guild: str | None = None
    ) -> tuple[int, Any]:
        self._check_app(app)
        if guild is not None:
            self._check_guild(guild)
            return 200, self.guild_commands(int(guild))
        return 200, self.global_commands()

    async def _put_commands(
        self, request: web.Request, app: str, guild: str | None = None
    ) -> tuple[int, Any]:
        self._check_app(app)
        if guild is not None:
            self._check_guild(guild)
        payload, _ = await self._read_body(request)
        if not isinstance(payload, list):
            raise DiscordError(400, 50035, "Invalid Form Body", _field_error("BASE_TYPE", "list"))
        errors = _validate_commands(payload)
        if errors:
            raise DiscordError(400, 50035, "Invalid Form Body", errors)
        with self._cond:
            previous = {
                (c["name"], c.get("type", 1)): c
                for c in (
                    self._guild_commands.get(int(guild), []) if guild else self._global_commands
                )
            }
            stored = []
            for command in payload:
                key = (command["name"], command.get("type", 1))
                old = previous.get(key)
                item = {
                    "type": 1,
                    "description": "",
                    "options": [],
                    "default_member_permissions": None,
                    "dm_permission": True,
                    "nsfw": False,
                    "contexts": None,
                    "integration_types": [0],
                    **copy.deepcopy(command),
                    "id": str(old["id"]) if old else str(self._ids.next()),
                    "application_id": str(self.application_id),
                    "version": str(self._ids.next()),
                }
                if guild is not None:
                    item["guild_id"] = guild
                stored.append(item)
            if guild is not None:
                self._guild_commands[int(guild)] = stored
            else:
                self._global_commands = stored
                self.command_sync_count += 1
                self._grants.clear()
            return 200, copy.deepcopy(stored)

    async def _get_channel(self, request: web.Request, channel: str) -> tuple[int, Any]:
        return 200, self._known_channel(channel).to_json()

    async def _get_guild(self, request: web.Request, guild: str) -> tuple[int, Any]:
        data = self._guild_json(self._check_guild(guild))
        for key in ("channels", "members", "threads", "presences", "voice_states"):
            data.pop(key, None)
        return 200, data

    async def _get_member(self, request: web.Request, guild: str, user: str) -> tuple[int, Any]:
        member = self._check_guild(guild).member_by_id(int(user))
        if member is None:
            raise DiscordError(404, 10007, "Unknown Member")
        return 200, member.member_json()

    async def _get_user(self, request: web.Request, user: str) -> tuple[int, Any]:
        member = self._user_by_id(int(user))
        if member is None:
            raise DiscordError(404, 10013, "Unknown User")
        return 200, member.user_json()

    def _known_channel(self, channel: str) -> FakeChannel:
        known = self._channel_by_id(int(channel))
        if known is None:
            raise DiscordError(404, 10003, "Unknown Channel")
        return known

    # interactions (REST)

    async def _callback(
        self, request: web.Request, interaction: str, token: str
    ) -> tuple[int, Any]:
        payload, files = await self._read_body(request)
        with self._cond:
            record = self._interactions.get(int(interaction))
            if record is None or record.token != token:
                raise DiscordError(404, 10062, "Unknown interaction")
            latency = time.monotonic() - record.created
            if record.ack is not None:
                raise DiscordError(400, 40060, "Interaction has already been acknowledged.")
            if latency > self.ack_deadline or record.expired:
                raise DiscordError(404, 10062, "Unknown interaction")
        if not isinstance(payload, dict) or "type" not in payload:
            raise DiscordError(
                400,
                50035,
                "Invalid Form Body",
                {"type": _field_error("BASE_TYPE_REQUIRED", "This field is required")},
            )
        kind = payload["type"]
        data = payload.get("data") or {}
        allowed = {4, 5, 9} if record.type == 2 else {4, 5, 6, 7, 9}
        if kind not in allowed:
            raise DiscordError(
                400,
                50035,
                "Invalid Form Body",
                {
                    "type": _field_error(
                        "INTERACTION_RESPONSE_TYPE_INVALID",
                        f"Interaction response type {kind} is not valid for this interaction",
                    )
                },
            )
        ephemeral = bool((data.get("flags") or 0) & EPHEMERAL)
        message: StoredMessage | None = None
        if kind == 4:
            self._validate_message(data, files, record.attachment_size_limit, creating=True)
        elif kind == 7:
            self._validate_message(data, files, record.attachment_size_limit, creating=False)
        elif kind == 9:
            for key in ("custom_id", "title", "components"):
                if key not in data:
                    raise DiscordError(
                        400,
                        50035,
                        "Invalid Form Body",
                        {key: _field_error("BASE_TYPE_REQUIRED", "This field is required")},
                    )
        with self._cond:
            if record.ack is not None:
                raise DiscordError(400, 40060, "Interaction has already been acknowledged.")
            if kind in (4, 5):
                message = self._new_message(record, "original")
                message.flags = EPHEMERAL if ephemeral else 0
                if ephemeral:
                    message.visible_to = record.member.id
                if kind == 4:
                    self._apply(message, data, files, creating=True)
                else:
                    message.flags |= LOADING
                    message.edits.append(message.snapshot())
                    record.deferral_pending = True
                record.original_id = message.id
            elif kind in (6, 7):
                message = self._messages[record.source_message_id]  # type: ignore[index]
                record.original_id = message.id
                if kind == 7:
                    self._apply(message, data, files, creating=False)
            else:
                record.modal = copy.deepcopy(data)
            record.ack = Callback(kind, latency, ephemeral)
            self._cond.notify_all()
            if request.query.get("with_response") not in ("1", "true", "True"):
                return 204, None
            response: dict[str, Any] = {
                "interaction": {
                    "id": str(record.id),
                    "type": record.type,
                    "response_message_id": str(message.id) if message else None,
                    "response_message_loading": kind == 5,
                    "response_message_ephemeral": bool(message and message.ephemeral),
                }
            }
            if message is not None and kind in (4, 5, 7):
                response["resource"] = {"type": kind, "message": self._message_json(message)}
            return 200, response

    def _token_record(self, app: str, token: str) -> _InteractionRecord:
        if int(app) != self.application_id:
            raise DiscordError(404, 10015, "Unknown Webhook")
        with self._cond:
            record = self._by_token.get(token)
        if record is None:
            raise DiscordError(404, 10015, "Unknown Webhook")
        if record.expired or time.monotonic() - record.created > self.token_lifetime:
            raise DiscordError(401, 50027, "Invalid Webhook Token")
        if record.ack is None:
            raise DiscordError(404, 10015, "Unknown Webhook")
        return record

    def _token_message(self, record: _InteractionRecord, mid: str) -> StoredMessage:
        if mid == "@original":
            message = self._original_of(record)
        elif int(mid) == record.original_id or int(mid) in record.followup_ids:
            message = self._messages.get(int(mid))
        else:
            message = None
        if message is None or message.deleted:
            raise DiscordError(404, 10008, "Unknown Message")
        return message

    async def _followup(self, request: web.Request, app: str, token: str) -> tuple[int, Any]:
        payload, files = await self._read_body(request)
        record = self._token_record(app, token)
        if not isinstance(payload, dict):
            payload = {}
        self._validate_message(payload, files, record.attachment_size_limit, creating=True)
        with self._cond:
            original = self._original_of(record)
            if record.deferral_pending and original is not None and not original.deleted:
                # The first followup after a deferred "thinking" response replaces it and
                # keeps its visibility, whatever the followup asked for.
                record.deferral_pending = False
                message = original
                self._apply(message, payload, files, creating=False)
            else:
                message = self._new_message(record, "followup")
                if record.deferral_pending:
                    # The "thinking" message was deleted: the first followup still takes
                    # the deferral's visibility (a public deferral stays public).
                    record.deferral_pending = False
                    ephemeral = bool(record.ack and record.ack.ephemeral)
                else:
                    ephemeral = bool((payload.get("flags") or 0) & EPHEMERAL)
                if ephemeral:
                    message.flags = EPHEMERAL
                    message.visible_to = record.member.id
                self._apply(message, payload, files, creating=True)
            if message.id not in record.followup_ids:
                record.followup_ids.append(message.id)
            self._cond.notify_all()
            if request.query.get("wait") in ("1", "true", "True"):
                return 200, self._message_json(message)
            return 204, None

    async def _webhook_get(
        self, request: web.Request, app: str, token: str, mid: str
    ) -> tuple[int, Any]:
        record = self._token_record(app, token)
        with self._cond:
            return 200, self._message_json(self._token_message(record, mid))

    async def _webhook_edit(
        self, request: web.Request, app: str, token: str, mid: str
    ) -> tuple[int, Any]:
        payload, files = await self._read_body(request)
        record = self._token_record(app, token)
        if not isinstance(payload, dict):
            payload = {}
        self._validate_message(payload, files, record.attachment_size_limit, creating=False)
        with self._cond:
            message = self._token_message(record, mid)
            self._apply(message, payload, files, creating=False)
            if message.id == record.original_id:
                # Editing the "thinking" message answers the deferral: later followups
                # are new messages with their own flags.
                record.deferral_pending = False
            self._cond.notify_all()
            return 200, self._message_json(message)

    async def _webhook_delete(
        self, request: web.Request, app: str, token: str, mid: str
    ) -> tuple[int, Any]:
        record = self._token_record(app, token)
        with self._cond:
            message = self._token_message(record, mid)
            message.deleted = True
            message.deleted_at = time.time()
            self._cond.notify_all()
        return 204, None

    # channel messages

    def _channel_message(self, channel: str, mid: str) -> StoredMessage:
        self._known_channel(channel)
        with self._cond:
            message = self._messages.get(int(mid))
        if (
            message is None
            or message.deleted
            or message.channel_id != int(channel)
            or message.ephemeral
        ):
            raise DiscordError(404, 10008, "Unknown Message")
        return message

    async def _channel_post(self, request: web.Request, channel: str) -> tuple[int, Any]:
        place = self._known_channel(channel)
        payload, files = await self._read_body(request)
        if not isinstance(payload, dict):
            payload = {}
        flags = payload.get("flags") or 0
        if flags & ~(SUPPRESS_EMBEDS | SUPPRESS_NOTIFICATIONS | IS_COMPONENTS_V2):
            raise DiscordError(
                400,
                50035,
                "Invalid Form Body",
                {"flags": _field_error("MESSAGE_FLAGS_INVALID", f"Invalid flags {flags}")},
            )
        self._validate_message(payload, files, self.attachment_size_limit, creating=True)
        with self._cond:
            message = StoredMessage(
                id=self._ids.next(),
                channel_id=place.id,
                guild_id=place.guild_id,
                author=self.bot_member.user_json(),
                kind="channel",
                type=0,
                created_at=time.time(),
            )
            self._messages[message.id] = message
            self._apply(message, payload, files, creating=True)
            self._cond.notify_all()
            return 200, self._message_json(message)

    async def _channel_get(self, request: web.Request, channel: str, mid: str) -> tuple[int, Any]:
        message = self._channel_message(channel, mid)
        with self._cond:
            return 200, self._message_json(message)

    async def _channel_edit(self, request: web.Request, channel: str, mid: str) -> tuple[int, Any]:
        payload, files = await self._read_body(request)
        message = self._channel_message(channel, mid)
        if message.author.get("id") != str(self.bot_user_id):
            raise DiscordError(403, 50005, "Cannot edit a message authored by another user")
        if not isinstance(payload, dict):
            payload = {}
        self._validate_message(payload, files, self.attachment_size_limit, creating=False)
        with self._cond:
            self._apply(message, payload, files, creating=False)
            self._cond.notify_all()
            return 200, self._message_json(message)

    async def _channel_delete(
        self, request: web.Request, channel: str, mid: str
    ) -> tuple[int, Any]:
        message = self._channel_message(channel, mid)
        with self._cond:
            message.deleted = True
            message.deleted_at = time.time()
            self._cond.notify_all()
        return 204, None

    # message bodies

    async def _read_body(
        self, request: web.Request
    ) -> tuple[Any, dict[int, tuple[str, str | None, bytes]]]:
        files: dict[int, tuple[str, str | None, bytes]] = {}
        if request.content_type == "multipart/form-data":
            payload: Any = None
            reader = await request.multipart()
            async for part in reader:
                name = part.name or ""  # type: ignore[union-attr]
                data = await part.read(decode=False)  # type: ignore[union-attr]
                if name == "payload_json":
                    payload = self._parse_json(data)
                    continue
                match = re.fullmatch(r"files\[(\d+)\]", name) or re.fullmatch(r"file(\d*)", name)
                if match is None:
                    raise DiscordError(
                        400,
                        50035,
                        "Invalid Form Body",
                        {name: _field_error("UNKNOWN_FIELD", "Unknown multipart field")},
                    )
                index = int(match.group(1) or 0)
                content_type = part.headers.get("Content-Type")  # type: ignore[union-attr]
                files[index] = (part.filename or f"file{index}", content_type, bytes(data))  # type: ignore[union-attr]
            return payload, files
        body = await request.read()
        if not body:
            return None, files
        return self._parse_json(body), files

    @staticmethod
    def _parse_json(data: bytes) -> Any:
        try:
            return json.loads(data)
        except ValueError:
            raise DiscordError(400, 50109, "The request body contains invalid JSON.") from None

    def _validate_message(
        self,
        payload: dict[str, Any],
        files: dict[int, tuple[str, str | None, bytes]],
        size_limit: int,
        *,
        creating: bool,
    ) -> None:
        errors: dict[str, Any] = {}
        content = payload.get("content")
        if content is not None and not isinstance(content, str):
            errors["content"] = _field_error("BASE_TYPE_STRING", "Must be a string.")
        elif content is not None and len(content) > MAX_CONTENT:
            errors["content"] = _field_error(
                "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_CONTENT} or fewer in length."
            )
        components = payload.get("components")
        if components:
            component_errors = _validate_components(components)
            if component_errors:
                errors["components"] = component_errors
        attachments = payload.get("attachments")
        count = len(attachments) if attachments is not None else len(files)
        if count > MAX_ATTACHMENTS:
            errors["attachments"] = _field_error(
                "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_ATTACHMENTS} or fewer in length."
            )
        if attachments is not None:
            for position, item in enumerate(attachments):
                if not isinstance(item, dict) or "id" not in item:
                    errors.setdefault("attachments", {})[str(position)] = {
                        "id": _field_error("BASE_TYPE_REQUIRED", "This field is required")
                    }
                    continue
                key = int(item["id"])
                if key not in files and key not in self._attachments:
                    errors.setdefault("attachments", {})[str(position)] = {
                        "id": _field_error("ATTACHMENT_NOT_FOUND", f"Unknown attachment {key}")
                    }
        embeds = payload.get("embeds")
        if embeds is not None and len(embeds) > 10:
            errors["embeds"] = _field_error(
                "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length."
            )
        if errors:
            raise DiscordError(400, 50035, "Invalid Form Body", errors)
        for _, _, data in files.values():
            if len(data) > size_limit:
                raise DiscordError(413, 40005, "Request entity too large")
        parts = (content, embeds, files, components, attachments, payload.get("sticker_ids"))
        if creating and not any(parts) and not payload.get("poll"):
            raise DiscordError(400, 50006, "Cannot send an empty message")

    def _new_message(self, record: _InteractionRecord, kind: str) -> StoredMessage:
        message = StoredMessage(
            id=self._ids.next(),
            channel_id=record.channel_id,
            guild_id=record.guild_id,
            author=self.bot_member.user_json(),
            kind=kind,
            type=20 if record.type == 2 else 0,
            created_at=time.time(),
            interaction_id=record.id,
            interaction_type=record.type,
            interaction_name=record.name,
            interaction_user=record.member.user_json(),
            webhook_id=self.application_id,
        )
        self._messages[message.id] = message
        return message

    def _apply(
        self,
        message: StoredMessage,
        payload: dict[str, Any],
        files: dict[int, tuple[str, str | None, bytes]],
        *,
        creating: bool,
    ) -> None:
        """Apply a validated create or edit payload to ``message`` (all or nothing)."""
        attachments = message.attachments
        if "attachments" in payload:
            own = {a.id: a for a in message.attachments}
            for item in payload["attachments"] or []:
                key = int(item["id"])
                if key not in own and key not in files:
                    raise DiscordError(
                        400,
                        50035,
                        "Invalid Form Body",
                        {"attachments": _field_error("ATTACHMENT_NOT_FOUND", f"Unknown {key}")},
                    )
            attachments = [
                own[int(item["id"])]
                if int(item["id"]) in own
                else self._store_file(message, files[int(item["id"])], item.get("filename"))
                for item in payload["attachments"] or []
            ]
        elif files:
            attachments = [
                *message.attachments,
                *(self._store_file(message, files[i], None) for i in sorted(files)),
            ]
        message.attachments = attachments
        if "content" in payload:
            message.content = payload["content"] or ""
        if "embeds" in payload:
            message.embeds = copy.deepcopy(payload["embeds"] or [])
        if "components" in payload:
            message.components = _number_components(copy.deepcopy(payload["components"] or []))
        if not creating:
            message.flags &= ~LOADING
            flags = payload.get("flags")
            if flags is not None:
                message.flags = (message.flags & ~SUPPRESS_EMBEDS) | (flags & SUPPRESS_EMBEDS)
            message.edited_at = time.time()
        message.edits.append(message.snapshot())

    def _store_file(
        self,
        message: StoredMessage,
        file: tuple[str, str | None, bytes],
        filename: str | None,
    ) -> StoredAttachment:
        name, content_type, data = file
        name = filename or name
        width = height = None
        sniffed = _sniff(data)
        if sniffed is not None:
            content_type, width, height = sniffed
        attachment_id = self._ids.next()
        attachment = StoredAttachment(
            id=attachment_id,
            filename=name,
            size=len(data),
            content_type=content_type,
            width=width,
            height=height,
            data=data,
            url=f"{self.url}/attachments/{attachment_id}/{name}",
            ephemeral=message.ephemeral,
        )
        self._attachments[attachment_id] = attachment
        return attachment

    def _message_json(self, message: StoredMessage) -> dict[str, Any]:
        mentions = []
        for user_id in dict.fromkeys(_MENTION.findall(message.content)):
            member = self._user_by_id(int(user_id))
            if member is not None:
                mentions.append(member.user_json())
        data: dict[str, Any] = {
            "id": str(message.id),
            "channel_id": str(message.channel_id),
            "author": copy.deepcopy(message.author),
            "content": message.content,
            "timestamp": _iso(message.created_at),
            "edited_timestamp": _iso(message.edited_at) if message.edited_at else None,
            "tts": False,
            "mention_everyone": False,
            "mentions": mentions,
            "mention_roles": [],
            "mention_channels": [],
            "attachments": [a.to_json() for a in message.attachments],
            "embeds": copy.deepcopy(message.embeds),
            "reactions": [],
            "pinned": False,
            "type": message.type,
            "flags": message.flags,
            "components": copy.deepcopy(message.components),
        }
        if message.webhook_id is not None:
            data["webhook_id"] = str(message.webhook_id)
            data["application_id"] = str(self.application_id)
        if message.interaction_id is not None:
            data["interaction_metadata"] = {
                "id": str(message.interaction_id),
                "type": message.interaction_type,
                "user": copy.deepcopy(message.interaction_user),
                "authorizing_integration_owners": {"0": str(message.guild_id)},
            }
            if message.interaction_type == 2:
                data["interaction"] = {
                    "id": str(message.interaction_id),
                    "type": 2,
                    "name": message.interaction_name,
                    "user": copy.deepcopy(message.interaction_user),
                }
        return data


def _number_components(components: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Discord gives every component a numeric ``id`` when the bot sent none."""
    counter = itertools.count(1)
    used = set()

    def walk(items: list[dict[str, Any]]) -> None:
        for item in items:
            if isinstance(item.get("id"), int):
                used.add(item["id"])
        for item in items:
            if not isinstance(item.get("id"), int):
                value = next(counter)
                while value in used:
                    value = next(counter)
                item["id"] = value
                used.add(value)
            walk(item.get("components", []))

    walk(components)
    return components


def _validate_components(components: Any) -> dict[str, Any]:
    """Discord's checks on legacy (action row) components; an ``errors`` object or {}."""
    if not isinstance(components, list):
        return _field_error("BASE_TYPE_LIST", "Must be a list.")
    errors: dict[str, Any] = {}
    if len(components) > MAX_ROWS:
        errors.update(
            _field_error("BASE_TYPE_MAX_LENGTH", f"Must be {MAX_ROWS} or fewer in length.")
        )
    seen: set[str] = set()
    for row_index, row in enumerate(components):
        row_errors: dict[str, Any] = {}
        if not isinstance(row, dict) or row.get("type") != 1:
            errors[str(row_index)] = _field_error(
                "UNION_TYPE_CHOICES", "Top-level components must be action rows."
            )
            continue
        items = row.get("components") or []
        if not items:
            row_errors["components"] = _field_error(
                "BASE_TYPE_MIN_LENGTH", "Must be 1 or more in length."
            )
        elif len(items) > MAX_ROW_ITEMS:
            row_errors["components"] = _field_error(
                "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_ROW_ITEMS} or fewer in length."
            )
        for item_index, item in enumerate(items):
            item_errors: dict[str, Any] = {}
            if item.get("type") != 2:
                if item.get("type") in (3, 5, 6, 7, 8) and len(items) == 1:
                    custom_id = item.get("custom_id") or ""
                    if not 1 <= len(custom_id) <= MAX_CUSTOM_ID:
                        item_errors["custom_id"] = _field_error(
                            "BASE_TYPE_BAD_LENGTH",
                            f"Must be between 1 and {MAX_CUSTOM_ID} in length.",
                        )
                    elif custom_id in seen:
                        item_errors["custom_id"] = _field_error(
                            "COMPONENT_CUSTOM_ID_DUPLICATED",
                            "Component custom id cannot be duplicated",
                        )
                    seen.add(custom_id)
                else:
                    item_errors["type"] = _field_error(
                        "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                        "A select menu must be alone in its action row.",
                    )
            else:
                style = item.get("style")
                label = item.get("label")
                if style not in (1, 2, 3, 4, 5, 6):
                    item_errors["style"] = _field_error(
                        "BASE_TYPE_CHOICES", f"Invalid style {style}"
                    )
                if label is not None and len(label) > MAX_LABEL:
                    item_errors["label"] = _field_error(
                        "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_LABEL} or fewer in length."
                    )
                if not label and not item.get("emoji") and style != 6:
                    item_errors["label"] = _field_error(
                        "BUTTON_COMPONENT_INVALID", "A button needs a label or an emoji."
                    )
                if style == 5:
                    if not item.get("url") or item.get("custom_id"):
                        item_errors["url"] = _field_error(
                            "BUTTON_COMPONENT_URL_REQUIRED", "A link button needs a url only."
                        )
                elif style != 6:
                    custom_id = item.get("custom_id")
                    if not isinstance(custom_id, str) or not 1 <= len(custom_id) <= MAX_CUSTOM_ID:
                        item_errors["custom_id"] = _field_error(
                            "BASE_TYPE_BAD_LENGTH",
                            f"Must be between 1 and {MAX_CUSTOM_ID} in length.",
                        )
                    elif custom_id in seen:
                        item_errors["custom_id"] = _field_error(
                            "COMPONENT_CUSTOM_ID_DUPLICATED",
                            "Component custom id cannot be duplicated",
                        )
                    else:
                        seen.add(custom_id)
            if item_errors:
                row_errors.setdefault("components", {})[str(item_index)] = item_errors
        if row_errors:
            errors[str(row_index)] = row_errors
    return errors


def _validate_commands(commands: list[Any]) -> dict[str, Any]:
    """Discord's checks on a bulk command overwrite; an ``errors`` object or {}."""
    errors: dict[str, Any] = {}
    names: set[tuple[str, int]] = set()
    if len(commands) > 100:
        errors.update(_field_error("BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer in length."))
    for index, command in enumerate(commands):
        found = _validate_command(command, top=True)
        key = (command.get("name"), command.get("type", 1))
        if key in names:
            found.setdefault(
                "name", _field_error("APPLICATION_COMMANDS_DUPLICATE_NAME", "duplicate")
            )
        names.add(key)
        if found:
            errors[str(index)] = found
    return errors


def _validate_command(command: dict[str, Any], *, top: bool) -> dict[str, Any]:
    errors: dict[str, Any] = {}
    name = command.get("name")
    kind = command.get("type", 1) if top else command.get("type")
    chat = (top and kind == 1) or not top
    if (
        not isinstance(name, str)
        or not _COMMAND_NAME.match(name)
        or (chat and name != name.lower())
    ):
        errors["name"] = _field_error("APPLICATION_COMMAND_INVALID_NAME", f"Invalid name {name!r}")
    description = command.get("description", "")
    if chat and not 1 <= len(description or "") <= 100:
        errors["description"] = _field_error(
            "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."
        )
    options = command.get("options") or []
    if len(options) > 25:
        errors["options"] = _field_error("BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    seen_optional = False
    option_names = set()
    for index, option in enumerate(options):
        option_errors = _validate_command(option, top=False)
        if option.get("type") not in OPTION_TYPE_NAMES:
            option_errors["type"] = _field_error("BASE_TYPE_CHOICES", "Invalid option type")
        if option.get("required"):
            if seen_optional:
                option_errors["required"] = _field_error(
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed before non-required options",
                )
        elif option.get("type") not in (SUB_COMMAND, SUB_COMMAND_GROUP):
            seen_optional = True
        if option.get("name") in option_names:
            option_errors["name"] = _field_error(
                "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS", "duplicate option name"
            )
        option_names.add(option.get("name"))
        choices = option.get("choices") or []
        if len(choices) > 25:
            option_errors["choices"] = _field_error(
                "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."
            )
        if option_errors:
            errors.setdefault("options", {})[str(index)] = option_errors
    return errors


def _sniff(data: bytes) -> tuple[str, int | None, int | None] | None:
    """The content type and size of an image, as Discord reports them."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        width = int.from_bytes(data[16:20], "big")
        height = int.from_bytes(data[20:24], "big")
        return "image/png", width, height
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as image:
            mime = Image.MIME.get(image.format or "", None)
            if mime is None:
                return None
            return mime, image.width, image.height
    except Exception:
        return None
