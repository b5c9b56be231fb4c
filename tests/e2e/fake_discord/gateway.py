"""The gateway websocket (``/gateway``): HELLO, IDENTIFY (READY, then one GUILD_CREATE per
server), heartbeats, and the events the driver dispatches (INTERACTION_CREATE,
MESSAGE_DELETE). JSON text frames, no compression, no resuming.

Shards as Discord runs them: ``GET /gateway/bot`` recommends ``shard_count`` (1 unless the
fake was made with more); each connection IDENTIFYs with ``shard: [id, count]`` and gets
the servers of its shard only (``(guild_id >> 22) % count``), in READY and GUILD_CREATE,
and the events of those servers only (events without a server go to shard 0)."""

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

    Writes: ``_gateways`` (the identified session of each shard; a new IDENTIFY of a
    shard replaces and closes its old one), ``_tasks`` (pending heartbeat ACKs),
    ``identify_count``, ``identify_payloads``. Reads: the world (READY, GUILD_CREATE)."""

    @property
    def connected(self) -> bool:
        """Every shard has an identified session."""
        with self._cond:
            return all(
                shard in self._gateways and self._gateways[shard].identified
                for shard in range(self.shard_count)
            )

    def shard_of(self, guild_id: int | None) -> int:
        """The shard Discord sends a server's events to (events of no server: shard 0)."""
        return 0 if guild_id is None else (int(guild_id) >> 22) % self.shard_count

    def bot_gateway_json(self) -> dict[str, Any]:
        """``GET /gateway/bot``: where to connect and how many shards to run."""
        return {
            "url": self.gateway_url,
            "shards": self.shard_count,
            "session_start_limit": {
                "total": 1000,
                "remaining": 999,
                "reset_after": 86_400_000,
                "max_concurrency": 1,
            },
        }

    def wait_identified(self, count: int, timeout: float = 120) -> None:
        """Wait until ``identify_count`` reaches ``count``."""

        def check() -> bool | None:
            return True if self.identify_count >= count and self.connected else None

        self._wait(check, timeout, f"IDENTIFY number {count}")

    async def _get_gateway_bot(self, request: web.Request) -> tuple[int, Any]:
        return 200, self.bot_gateway_json()

    async def _dispatch(self, event: str, data: dict[str, Any]) -> None:
        guild = data.get("guild_id") or (data.get("id") if event.startswith("GUILD_") else None)
        shard = self.shard_of(None if guild is None else int(guild))
        gateway = self._gateways.get(shard)
        if gateway is None or gateway.ws.closed:
            raise AssertionError(f"no gateway connection (shard {shard}) to send {event}")
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
                if self._gateways.get(gateway.shard) is gateway:
                    del self._gateways[gateway.shard]
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
        shard, count = data.get("shard") or (0, 1)
        if count != self.shard_count or not 0 <= shard < count:
            self._problem(
                f"IDENTIFY with shard {[shard, count]} where Discord recommends "
                f"{self.shard_count} shard(s) (GET /gateway/bot)"
            )
            await gateway.ws.close(code=4010, message=b"Invalid shard")
            return
        gateway.shard = shard
        gateway.session_id = secrets.token_hex(16)
        gateway.intents = data.get("intents")
        bot_user = self.bot_member.user_json()
        bot_user.update({"verified": True, "mfa_enabled": False, "email": None})
        guilds = [g for g in self._guilds.values() if self.shard_of(g.id) == shard]
        ready = {
            "v": 10,
            "user": bot_user,
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "shard": [shard, count],
            "session_id": gateway.session_id,
            "resume_gateway_url": self.gateway_url,
            "application": {"id": str(self.application_id), "flags": 0},
            "private_channels": [],
            "presences": [],
            "geo_ordered_rtc_regions": ["rotterdam"],
            "_trace": ["fake-discord"],
        }
        await self._send_event(gateway, "READY", ready)
        for guild in guilds:
            await self._send_event(gateway, "GUILD_CREATE", self._guild_json(guild))
        with self._cond:
            old = self._gateways.get(shard)
            gateway.identified = True
            self._gateways[shard] = gateway
            self.identify_count += 1
            self.identify_payloads.append({k: v for k, v in data.items() if k != "token"})
            self._cond.notify_all()
        if old is not None and old is not gateway and not old.ws.closed:
            await old.ws.close()
