"""The fake Discord itself: it must refuse what Discord refuses, or the e2e tests prove little.

A raw aiohttp client plays the bot here (no bot process), against a fake of its own.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest

from tests.e2e.fake_discord import (
    EPHEMERAL,
    LOADING,
    STRING,
    CommandUsageError,
    FakeDiscord,
)

AUTH = {"Authorization": "Bot test-token"}


@pytest.fixture
def fake() -> Iterator[FakeDiscord]:
    server = FakeDiscord().start()
    yield server
    server.stop()


class RawBot:
    """Just enough of a bot: a gateway session and REST calls."""

    def __init__(self, fake: FakeDiscord, session: aiohttp.ClientSession) -> None:
        self.fake = fake
        self.session = session
        self.api = f"{fake.url}/api/v10"
        self.ws: aiohttp.ClientWebSocketResponse | None = None

    async def connect(self) -> list[dict[str, Any]]:
        self.ws = await self.session.ws_connect(self.fake.gateway_url + "?v=10&encoding=json")
        hello = await self.ws.receive_json(timeout=5)
        assert hello["op"] == 10 and hello["d"]["heartbeat_interval"] > 0
        await self.ws.send_json({"op": 1, "d": None})
        assert (await self.ws.receive_json(timeout=5))["op"] == 11
        await self.ws.send_json({"op": 2, "d": {"token": "test-token", "intents": 513}})
        return [await self.ws.receive_json(timeout=5) for _ in range(2)]

    async def event(self) -> dict[str, Any]:
        assert self.ws is not None
        message = await self.ws.receive_json(timeout=5)
        assert message["op"] == 0
        return message

    async def call(
        self, method: str, path: str, body: Any = None, **kwargs: Any
    ) -> tuple[int, Any, str]:
        headers = {**AUTH} if not path.startswith(("/webhooks", "/interactions")) else {}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body)
        async with self.session.request(
            method, self.api + path, data=data, headers=headers, **kwargs
        ) as response:
            text = await response.text()
            content_type = response.headers.get("Content-Type", "")
            return response.status, json.loads(text) if text else None, content_type

    async def sync(self) -> None:
        command = {
            "name": "imagine",
            "description": "Create images",
            "type": 1,
            "options": [
                {"name": "prompt", "description": "What", "type": STRING, "required": True}
            ],
        }
        status, body, _ = await self.call(
            "PUT", f"/applications/{self.fake.application_id}/commands", [command]
        )
        assert status == 200 and body[0]["id"]


@pytest.fixture
async def raw(fake: FakeDiscord) -> AsyncIterator[RawBot]:
    async with aiohttp.ClientSession() as session:
        bot = RawBot(fake, session)
        ready, guild = await bot.connect()
        assert ready["t"] == "READY" and guild["t"] == "GUILD_CREATE"
        assert ready["d"]["application"]["id"] == str(fake.application_id)
        assert {c["name"] for c in guild["d"]["channels"]} >= {"general", "art"}
        await bot.sync()
        yield bot
        if bot.ws is not None:
            await bot.ws.close()


def _rows(rows: int, per_row: int, prefix: str = "b") -> list[dict[str, Any]]:
    return [
        {
            "type": 1,
            "components": [
                {"type": 2, "style": 2, "label": f"{r}{i}", "custom_id": f"{prefix}{r}:{i}"}
                for i in range(per_row)
            ],
        }
        for r in range(rows)
    ]


async def test_unknown_routes_are_404_and_recorded(fake: FakeDiscord, raw: RawBot) -> None:
    status, body, content_type = await raw.call("GET", "/gateway/bot")
    assert status == 404 and body == {"message": "404: Not Found", "code": 0}
    assert content_type == "application/json"
    assert [call.path for call in fake.unexpected] == ["/api/v10/gateway/bot"]
    assert any("unexpected call" in line for line in fake.problems())


async def test_interaction_rules(fake: FakeDiscord, raw: RawBot) -> None:
    alice = fake.member("alice")
    handle = fake.invoke("imagine", alice, prompt="a fox")
    event = await raw.event()
    assert event["t"] == "INTERACTION_CREATE"
    data = event["d"]
    for key in ("id", "token", "version", "application_id", "attachment_size_limit", "member"):
        assert key in data
    assert data["data"]["options"] == [{"name": "prompt", "type": STRING, "value": "a fox"}]
    callback = f"/interactions/{data['id']}/{data['token']}/callback?with_response=1"
    webhook = f"/webhooks/{fake.application_id}/{data['token']}"

    status, body, content_type = await raw.call("POST", callback, {"type": 5})
    assert status == 200 and content_type == "application/json"
    assert body["resource"]["message"]["flags"] == LOADING
    status, body, _ = await raw.call("POST", callback, {"type": 5})
    assert (status, body["code"]) == (400, 40060)

    for payload in (
        {"content": "x" * 2001},
        {"components": _rows(6, 1)},
        {"components": _rows(1, 6)},
        {
            "components": [
                {
                    "type": 1,
                    "components": [{"type": 2, "style": 2, "label": "a", "custom_id": "c" * 101}],
                }
            ]
        },
        {"components": _rows(1, 2) + _rows(1, 2)},  # the same custom ids twice
    ):
        status, body, _ = await raw.call("PATCH", f"{webhook}/messages/@original", payload)
        assert (status, body["code"]) == (400, 50035), payload
        assert body["errors"]

    status, body, _ = await raw.call(
        "POST", webhook + "?wait=1", {"content": "private", "flags": EPHEMERAL}
    )
    assert status == 200
    first = handle.followups()[0]
    assert not first.ephemeral, "the first followup replaces the public 'thinking' message"
    assert first.id == handle.original().id  # type: ignore[union-attr]

    status, body, _ = await raw.call(
        "POST", webhook + "?wait=1", {"content": "secret", "flags": EPHEMERAL}
    )
    second = fake.message(int(body["id"]))
    assert second.ephemeral and second.visible_to == alice.id
    assert second.id not in [m.id for m in fake.messages(visible_to=fake.member("bob"))]

    fake.expire(handle)
    status, body, _ = await raw.call("PATCH", f"{webhook}/messages/@original", {"content": "x"})
    assert (status, body["code"]) == (401, 50027)
    rejected = [r.code for r in fake.rejected]
    assert rejected == [40060, 50035, 50035, 50035, 50035, 50035, 50027]
    assert len(fake.problems()) == len(rejected)


async def test_a_late_callback_is_unknown(fake: FakeDiscord, raw: RawBot) -> None:
    fake.ack_deadline = 0.2
    handle = fake.invoke("imagine", fake.member("bob"), prompt="a fox")
    data = (await raw.event())["d"]
    await asyncio.sleep(0.3)
    status, body, _ = await raw.call(
        "POST", f"/interactions/{data['id']}/{data['token']}/callback", {"type": 5}
    )
    assert (status, body["code"]) == (404, 10062)
    assert handle.ack is None
    assert any("not acknowledged" in line for line in fake.problems())


async def test_invocations_are_checked_against_the_synced_tree(
    fake: FakeDiscord, raw: RawBot
) -> None:
    alice = fake.member("alice")
    with pytest.raises(CommandUsageError, match="not a synced command"):
        fake.invoke("history", alice)
    with pytest.raises(CommandUsageError, match="required option"):
        fake.invoke("imagine", alice)
    with pytest.raises(CommandUsageError, match="no option"):
        fake.invoke("imagine", alice, prompt="a fox", seed=1)
    with pytest.raises(CommandUsageError, match="not a valid string"):
        fake.invoke("imagine", alice, prompt=5)
    assert fake.problems() == []


async def test_files_are_stored_and_limited(fake: FakeDiscord, raw: RawBot) -> None:
    fake.attachment_size_limit = 1000
    fake.invoke("imagine", fake.member("alice"), prompt="a fox")
    data = (await raw.event())["d"]
    assert data["attachment_size_limit"] == 1000
    await raw.call("POST", f"/interactions/{data['id']}/{data['token']}/callback", {"type": 5})
    url = f"{raw.api}/webhooks/{fake.application_id}/{data['token']}/messages/@original"

    async def patch(size: int) -> tuple[int, Any]:
        form = aiohttp.FormData(quote_fields=False)
        payload = {"content": "done", "attachments": [{"id": 0, "filename": "a.png"}]}
        form.add_field("payload_json", json.dumps(payload))
        form.add_field("files[0]", b"\x89PNG" + b"0" * (size - 4), filename="a.png")
        async with raw.session.patch(url, data=form) as response:
            return response.status, await response.json()

    status, body = await patch(1001)
    assert (status, body["code"]) == (413, 40005)
    status, body = await patch(1000)
    assert status == 200
    [attachment] = body["attachments"]
    assert attachment["size"] == 1000 and attachment["filename"] == "a.png"
    assert fake.attachment_bytes(int(attachment["id"])).startswith(b"\x89PNG")
