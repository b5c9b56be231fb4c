"""The REST side's plumbing: one handler serves every ``/api/v10`` request through
``FakeDiscord._routes`` (checking the bot's token, injecting faults, enforcing the rate
limits of ``ratelimits.py``, turning a ``DiscordError`` into Discord's error response,
recording calls and rejections), plus the
attachment downloads and the body reader (JSON or multipart with files) the routes share.
"""

from __future__ import annotations

import json
import re
import time
import traceback
from typing import Any

from aiohttp import ClientPayloadError, web

from .constants import API_PREFIX
from .model import Call, DiscordError, Rejection, _Fault, _field_error
from .ratelimits import _RateLimiter

_JSON = {"Content-Type": "application/json"}


class _RestServer(_RateLimiter):
    """Serves REST: route dispatch, faults, rejections, unknown routes, attachments.

    Writes: ``calls``, ``cdn_requests``, ``rejected``, ``unexpected``, ``injected``, ``dropped``,
    ``_problems``, ``_active``/``_last_activity`` (for ``wait_quiet``), ``bot_token``;
    uses up ``_faults``. Reads: ``_allowed_codes``, ``_attachments``."""

    def _routes(self) -> list[tuple[str, re.Pattern[str], Any, bool]]:
        """(method, path pattern after ``/api/v10``, handler, needs the bot's token): the
        route table, which ``FakeDiscord`` builds from the mixins' handlers."""
        raise NotImplementedError

    async def _attachment_handler(self, request: web.Request) -> web.StreamResponse:
        """The CDN: a file by its id (uploads, the bot's own attachments). Holds and
        failures injected for ``GET /attachments/...`` apply here too. Every request is
        counted in ``cdn_requests`` (a download the bot should not make shows there)."""
        with self._cond:
            self.cdn_requests.append(request.path)
        fault = self._take_fault(request.method, request.path)
        if fault is not None and fault.hold is not None:
            await fault.hold.pass_through()
        if fault is not None and fault.status is not None:
            with self._cond:
                call = Call(time.time(), request.method, request.path, "", fault.status)
                self.calls.append(call)
                self.injected.append(call)
            return web.Response(status=fault.status)
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
        if fault is not None and fault.hold is not None:
            await fault.hold.pass_through()
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
            refused, headers = self._rate_check(request, pattern.pattern, match.groupdict())
            if refused is not None:
                await request.read()
                self._record_call(request, refused.status)
                return refused
            response = await self._serve_route(request, handler, needs_auth, match.groupdict())
            response.headers.update(headers)
            return response
        return self._not_found(request)

    async def _serve_route(
        self, request: web.Request, handler: Any, needs_auth: bool, groups: dict[str, str]
    ) -> web.Response:
        path = request.path
        try:
            if needs_auth:
                self._check_auth(request)
            result = await handler(request, **groups)
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
            self._problem(f"the fake failed on {request.method} {path}:\n{traceback.format_exc()}")
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


async def _read_body(request: web.Request) -> tuple[Any, dict[int, tuple[str, str | None, bytes]]]:
    """The JSON payload (``payload_json`` of a multipart body) and the uploaded files
    by index: (filename, content type, bytes)."""
    files: dict[int, tuple[str, str | None, bytes]] = {}
    if request.content_type == "multipart/form-data":
        payload: Any = None
        reader = await request.multipart()
        async for part in reader:
            name = part.name or ""  # type: ignore[union-attr]
            data = await part.read(decode=False)  # type: ignore[union-attr]
            if name == "payload_json":
                payload = _parse_json(data)
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
    return _parse_json(body), files


def _parse_json(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        raise DiscordError(400, 50109, "The request body contains invalid JSON.") from None
