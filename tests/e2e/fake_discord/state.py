"""``_State``: what every part of ``FakeDiscord`` shares, declared in one place.

``FakeDiscord`` (``server.py``) is assembled from mixins, one concern each, all built on
``_State``. Its annotations declare every attribute of the fake, grouped by the mixin that
owns it (``FakeDiscord.__init__`` and ``_World._build_world`` set them); each mixin's
docstring names what it reads and writes. ``_State`` also holds the primitives they all
use: ``_cond`` (a condition on an ``RLock``) guards the mutable state and is notified on
every change a driver thread may wait for; ``_wait`` waits on it, ``_run`` runs a coroutine
on the fake's own loop from a driver thread, ``_problem`` and ``_record_call`` record.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from .model import (
    Call,
    FakeChannel,
    FakeMember,
    FakeRole,
    Rejection,
    Snowflakes,
    StoredAttachment,
    StoredMessage,
    _Fault,
    _Gateway,
    _Guild,
    _InteractionRecord,
)


class _State:
    """The fake's attributes and its shared primitives (see the module docstring)."""

    # settings (server.py)
    attachment_size_limit: int  # sent in every INTERACTION_CREATE; tests may change it
    default_attachment_size_limit: int
    ack_deadline: float
    token_lifetime: float
    port: int
    bot_token: str | None  # the first ``Authorization: Bot ...`` seen (rest.py)

    # the server thread and its loop (server.py)
    _ids: Snowflakes
    _cond: threading.Condition
    _loop: asyncio.AbstractEventLoop | None
    _thread: threading.Thread | None
    _runner: web.AppRunner | None

    # the world: application, servers, roles, members, channels (world.py)
    application_id: int
    bot_user_id: int
    bot_member: FakeMember
    guild_id: int
    owner_id: int
    moderator_role_id: int
    curator_role_id: int
    bot_role_id: int
    roles: list[FakeRole]
    _members: dict[str, FakeMember]
    _channels: dict[str, FakeChannel]
    other_guild_id: int
    other_owner_id: int
    other_moderator_role_id: int
    other_bot_role_id: int
    other_roles: list[FakeRole]
    _guilds: dict[int, _Guild]
    _grants: set[tuple[int, str]]  # (guild id, command name) from grant_command

    # the gateway sessions, one per shard (gateway.py)
    shard_count: int  # what GET /gateway/bot recommends
    _gateways: dict[int, _Gateway]  # shard id -> its identified session
    _tasks: set[asyncio.Task[None]]
    identify_count: int
    identify_payloads: list[dict[str, Any]]

    # synced commands (commands.py)
    command_sync_count: int
    _global_commands: list[dict[str, Any]]
    _guild_commands: dict[int, list[dict[str, Any]]]

    # messages, attachments, interactions (messages.py, responses.py, interactions.py)
    _messages: dict[int, StoredMessage]  # every message ever created, oldest first
    _attachments: dict[int, StoredAttachment]
    _interactions: dict[int, _InteractionRecord]
    _by_token: dict[str, _InteractionRecord]

    # bookkeeping (rest.py records, server.py reads)
    _active: int  # REST requests being served
    _last_activity: float
    calls: list[Call]
    cdn_requests: list[str]  # every request to the CDN (``/attachments/...``), by path
    rejected: list[Rejection]
    unexpected: list[Call]
    injected: list[Call]
    dropped: list[Call]
    _problems: list[str]
    _allowed_codes: set[int]
    _faults: list[_Fault]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    def _run(self, coro: Any, timeout: float = 10) -> Any:
        assert self._loop is not None, "the fake is not running"
        if threading.current_thread() is self._thread:
            raise RuntimeError("driver methods must not be called on the fake's own loop")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

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

    def _problem(self, text: str) -> None:
        with self._cond:
            self._problems.append(text)
            self._cond.notify_all()

    def _record_call(self, request: web.Request, status: int, payload: Any = None) -> None:
        with self._cond:
            self.calls.append(
                Call(
                    time.time(), request.method, request.path, request.query_string, status, payload
                )
            )
