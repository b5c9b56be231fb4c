"""Discord's rate limits, as its documentation describes them (topics/rate-limits).

- Per-route buckets: a route is the method and path template with its top-level
  resource (the channel, the guild, or the webhook id and token); a window opens at a
  bucket's first request and holds ``limit`` requests for ``per`` seconds. Every answer
  of a limited route carries ``X-RateLimit-Limit``, ``-Remaining``, ``-Reset`` (epoch
  seconds), ``-Reset-After`` (seconds) and ``-Bucket`` (one hash per route template).
- Over a bucket: 429 ``{"message", "retry_after", "global": false}`` with ``Retry-After``
  and ``X-RateLimit-Scope: user``.
- The global limit: ``global_per_second`` requests in any second for every route but the
  interaction ones (the callback and the interaction token's webhook), answered with
  ``"global": true``, ``X-RateLimit-Global: true`` and ``X-RateLimit-Scope: global``.
- Message edits through the channel route (``PATCH /channels/{id}/messages/{id}``, what a
  bot uses once an interaction token has expired) are ``channel_edits`` per channel.

Every answer carries ``Via`` as Discord's proxies add it: discord.py takes a 429 without
it for a Cloudflare ban and does not wait and retry. Every 429 is in ``rate_limited`` (and
``calls``); one request (method and path) refused more than ``loop_after`` times in a row
is a problem: a client retrying in a loop instead of waiting.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from aiohttp import web

from .state import _State

VIA = {"Via": "1.1 google"}
_JSON = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class Limit:
    """``limit`` requests per ``per`` seconds."""

    limit: int
    per: float


@dataclass(frozen=True)
class RateLimits:
    """The fake's limits; the defaults are Discord's (the per-route ones as Discord
    announces them in its headers: it publishes no table)."""

    enabled: bool = True
    global_per_second: int = 50
    channel_messages: Limit = Limit(5, 5.0)  # POST /channels/{id}/messages
    channel_edits: Limit = Limit(5, 5.0)  # PATCH /channels/{id}/messages/{id}
    channel_deletes: Limit = Limit(5, 1.0)  # DELETE /channels/{id}/messages/{id}
    webhooks: Limit = Limit(5, 2.0)  # /webhooks/{app}/{token}...: per interaction token
    other: Limit = Limit(50, 1.0)  # every other route, per top-level resource
    loop_after: int = 3  # 429s in a row on one request that make a problem


@dataclass(frozen=True)
class RateLimitHit:
    """A request answered 429."""

    at: float
    method: str
    path: str
    bucket: str  # the route's hash, or "global"
    retry_after: float
    is_global: bool


@dataclass
class _Window:
    opened: float  # monotonic
    count: int = 0


@dataclass
class _Route:
    limit: Limit
    bucket: str  # X-RateLimit-Bucket
    key: tuple[str, str]  # (bucket, top-level resource)
    exempt: bool  # from the global limit (interaction routes)


@dataclass
class _Limiter:
    windows: dict[tuple[str, str], _Window] = field(default_factory=dict)
    recent: deque[float] = field(default_factory=deque)  # global: the last second's requests
    streaks: dict[tuple[str, str], int] = field(default_factory=dict)
    passed: float = 0.0  # seconds a test let pass on the limits' clock (pass_time)


class _RateLimiter(_State):
    """Counts each request against its route's bucket and the global limit.

    Writes: ``rate_limits``, ``rate_limited``, ``longest_429_streak``, ``_limiter``;
    ``_problems`` (a 429 loop)."""

    rate_limits: RateLimits
    rate_limited: list[RateLimitHit]
    longest_429_streak: int  # the most 429s one request (method, path) got in a row
    _limiter: _Limiter

    def _init_rate_limits(self, limits: RateLimits) -> None:
        self.rate_limits = limits
        self.rate_limited = []
        self.longest_429_streak = 0
        self._limiter = _Limiter()

    @contextlib.contextmanager
    def use_rate_limits(self, limits: RateLimits) -> Iterator[RateLimits]:
        """Enforce ``limits`` (from fresh buckets) until the block ends, then the
        previous ones again."""
        with self._cond:
            previous = self.rate_limits
            self.rate_limits = limits
            self._limiter = _Limiter()
        try:
            yield limits
        finally:
            with self._cond:
                self.rate_limits = previous
                self._limiter = _Limiter()

    def pass_time(self, seconds: float) -> None:
        """Let ``seconds`` pass on the limits' clock (a test's, instead of waiting for a
        bucket's reset in real time)."""
        with self._cond:
            self._limiter.passed += seconds

    def _route_limit(self, method: str, template: str, groups: dict[str, str]) -> _Route:
        limits = self.rate_limits
        bucket = hashlib.sha1(f"{method} {template}".encode()).hexdigest()[:16]
        if "token" in groups:  # the interaction's callback and its webhook
            owner = groups.get("app") or groups.get("interaction") or ""
            limit = limits.webhooks if template.startswith("^/webhooks") else limits.other
            return _Route(limit, bucket, (bucket, f"{owner}/{groups['token']}"), True)
        major = groups.get("channel") or groups.get("guild") or ""
        limit = limits.other
        if "channel" in groups and template.endswith("/messages$") and method == "POST":
            limit = limits.channel_messages
        elif "channel" in groups and "mid" in groups and method == "PATCH":
            limit = limits.channel_edits
        elif "channel" in groups and "mid" in groups and method == "DELETE":
            limit = limits.channel_deletes
        return _Route(limit, bucket, (bucket, major), False)

    def _rate_check(
        self, request: web.Request, template: str, groups: dict[str, str]
    ) -> tuple[web.Response | None, dict[str, str]]:
        """(a 429 to answer instead, or None) and the headers of the answer."""
        route = self._route_limit(request.method, template, groups)
        with self._cond:
            if not self.rate_limits.enabled:
                return None, dict(VIA)
            limiter = self._limiter
            now = time.monotonic() + limiter.passed
            if not route.exempt:
                recent = limiter.recent
                while recent and now - recent[0] >= 1.0:
                    recent.popleft()
                if len(recent) >= self.rate_limits.global_per_second:
                    wait = recent[0] + 1.0 - now
                    return self._too_many(request, "global", wait, {}), {}
                recent.append(now)
            window = limiter.windows.get(route.key)
            if window is None or now - window.opened >= route.limit.per:
                window = limiter.windows[route.key] = _Window(now)
            reset_after = window.opened + route.limit.per - now
            headers = {
                **VIA,
                "X-RateLimit-Limit": str(route.limit.limit),
                "X-RateLimit-Remaining": str(max(0, route.limit.limit - window.count - 1)),
                "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
                "X-RateLimit-Reset-After": f"{_up(reset_after):.3f}",
                "X-RateLimit-Bucket": route.bucket,
            }
            if window.count >= route.limit.limit:
                if not route.exempt:  # refused by its bucket: it never reached Discord
                    limiter.recent.pop()
                headers["X-RateLimit-Remaining"] = "0"
                return self._too_many(request, route.bucket, reset_after, headers), {}
            window.count += 1
            limiter.streaks.pop((request.method, request.path), None)
            return None, headers

    def _too_many(
        self, request: web.Request, bucket: str, wait: float, headers: dict[str, str]
    ) -> web.Response:
        """The 429 (callers hold ``_cond``): recorded, and a loop of them is a problem."""
        wait = _up(wait)
        is_global = bucket == "global"
        hit = RateLimitHit(time.time(), request.method, request.path, bucket, wait, is_global)
        self.rate_limited.append(hit)
        key = (request.method, request.path)
        streak = self._limiter.streaks[key] = self._limiter.streaks.get(key, 0) + 1
        self.longest_429_streak = max(self.longest_429_streak, streak)
        if streak == self.rate_limits.loop_after + 1:
            self._problems.append(
                f"a 429 loop: {request.method} {request.path} was rate limited {streak} "
                "times in a row (a client must wait retry_after, then retry)"
            )
        self._cond.notify_all()
        body = {"message": "You are being rate limited.", "retry_after": wait, "global": is_global}
        headers = {
            **VIA,
            **headers,
            **_JSON,
            "Retry-After": str(math.ceil(wait)),
            "X-RateLimit-Scope": "global" if is_global else "user",
        }
        if is_global:
            headers["X-RateLimit-Global"] = "true"
        return web.Response(status=429, body=json.dumps(body).encode(), headers=headers)


def _up(seconds: float) -> float:
    """Seconds rounded up to the millisecond: a client that waits them is never early."""
    return math.ceil(max(0.0, seconds) * 1000) / 1000
