"""``FakeDiscord``: the server (its thread, its loop, its route table) assembled from the
mixins of the other modules, and the bookkeeping API tests use to check what happened.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from typing import Any

from aiohttp import web

from .commands import _SlashCommands
from .constants import ACK_DEADLINE_S, DEFAULT_ATTACHMENT_LIMIT, TOKEN_LIFETIME_S
from .forms import _Forms
from .messages import _ChannelRoutes, _MessageReads
from .model import Hold, Snowflakes, _Fault
from .ratelimits import RateLimits
from .responses import _ResponseRoutes
from .rest import _RestServer
from .state import _State
from .world import _WorldRoutes


class _Bookkeeping(_State):
    """Problems and quiet: what a test checks after the fact.

    Reads: ``_problems`` (and adds missed acks to them), ``_interactions``, ``_active``,
    ``_last_activity``. Writes: ``_allowed_codes``."""

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

    def pending_acks(self) -> list[int]:
        """Interactions still within their deadline and not acknowledged."""
        with self._cond:
            now = time.monotonic()
            return [
                r.id
                for r in self._interactions.values()
                if r.ack is None and now - r.created <= self.ack_deadline
            ]

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


class _Faults(_State):
    """Injected failures and holds (``_RestServer._take_fault`` uses them up).

    Writes: ``_faults``."""

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

    def hold_next(self, method: str, path: str, *, times: int = 1) -> Hold:
        """Hold the next ``times`` matching calls until the test opens the returned
        ``Hold`` (then serve them as usual)."""
        hold = Hold()
        with self._cond:
            self._faults.append(_Fault(method.upper(), re.compile(path), None, {}, times, hold))
        return hold

    def clear_faults(self) -> None:
        """Forget the failures and holds not used up yet."""
        with self._cond:
            self._faults.clear()


class FakeDiscord(
    _SlashCommands,
    _Forms,
    _MessageReads,
    _ResponseRoutes,
    _ChannelRoutes,
    _WorldRoutes,
    _Bookkeeping,
    _Faults,
    _RestServer,
):
    """The fake Discord server and its driver API (see the package docstring)."""

    def __init__(
        self,
        *,
        attachment_size_limit: int = DEFAULT_ATTACHMENT_LIMIT,
        shards: int = 1,
        rate_limits: RateLimits | None = None,
    ) -> None:
        self.shard_count = shards
        self.attachment_size_limit = attachment_size_limit
        self.default_attachment_size_limit = attachment_size_limit
        self.ack_deadline = ACK_DEADLINE_S
        self.token_lifetime = TOKEN_LIFETIME_S
        self._ids = Snowflakes()
        self._cond = threading.Condition(threading.RLock())
        self._loop = None
        self._thread = None
        self._runner = None
        self.port = 0

        self._build_world()

        self._gateways = {}
        self._tasks = set()
        self._active = 0
        self._last_activity = 0.0
        self.identify_count = 0
        self.command_sync_count = 0
        self.identify_payloads = []
        self._global_commands = []
        self._guild_commands = {}
        self._messages = {}
        self._attachments = {}
        self._interactions = {}
        self._by_token = {}
        self.calls = []
        self.cdn_requests = []
        self.rejected = []
        self.unexpected = []
        self._problems = []
        self._allowed_codes = set()
        self._faults = []
        self.injected = []
        self.dropped = []
        self.bot_token = None
        self._init_rate_limits(rate_limits or RateLimits())

    # lifecycle

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
        for gateway in list(self._gateways.values()):
            await gateway.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # REST

    def _routes(self) -> list[tuple[str, re.Pattern[str], Any, bool]]:
        snowflake = r"(?P<{}>\d{{1,20}})"
        app = snowflake.format("app")
        guild = snowflake.format("guild")
        channel = snowflake.format("channel")
        mid = snowflake.format("mid")
        token = r"(?P<token>[^/]+)"
        table = [
            ("GET", r"/users/@me", self._get_me, True),
            ("GET", r"/gateway/bot", self._get_gateway_bot, True),
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
