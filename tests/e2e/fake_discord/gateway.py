"""The gateway websocket (``/gateway``): HELLO, IDENTIFY (READY, then one GUILD_CREATE per
server), heartbeats, and the events the driver dispatches (INTERACTION_CREATE,
MESSAGE_DELETE). JSON text frames, no compression, no resuming."""

from __future__ import annotations

import asyncio
import json
import secrets
import traceback
from typing import Any

from aiohttp import WSMsgType, web

from .model import _Gateway
from .world import _Lookups


class _GatewayServer(_Lookups):
    """The bot's gateway session.

    Writes: ``_gateway`` (the identified session; a new IDENTIFY replaces and closes the
    old one), ``_tasks`` (pending heartbeat ACKs), ``identify_count``,
    ``identify_payloads``. Reads: the world (READY, GUILD_CREATE)."""

    @property
    def connected(self) -> bool:
        with self._cond:
            return self._gateway is not None and self._gateway.identified

    def wait_identified(self, count: int, timeout: float = 120) -> None:
        """Wait until ``identify_count`` reaches ``count``."""

        def check() -> bool | None:
            return True if self.identify_count >= count and self.connected else None

        self._wait(check, timeout, f"IDENTIFY number {count}")

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
