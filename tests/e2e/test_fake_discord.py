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
    ALL_PERMISSIONS,
    EPHEMERAL,
    EVERYONE_PERMISSIONS,
    LOADING,
    MANAGE_GUILD,
    STRING,
    CommandUsageError,
    FakeDiscord,
    Limit,
    RateLimits,
)

AUTH = {"Authorization": "Bot test-token"}


@pytest.fixture
def fake() -> Iterator[FakeDiscord]:
    # The raw client does not pace itself as discord.py does: Discord's rate limits are on
    # only in the tests of the limits themselves (``use_rate_limits``).
    server = FakeDiscord(rate_limits=RateLimits(enabled=False)).start()
    yield server
    server.stop()


class RawBot:
    """Just enough of a bot: a gateway session and REST calls."""

    def __init__(self, fake: FakeDiscord, session: aiohttp.ClientSession) -> None:
        self.fake = fake
        self.session = session
        self.api = f"{fake.url}/api/v10"
        self.ws: aiohttp.ClientWebSocketResponse | None = None

    async def connect(
        self, shard: list[int] | None = None, events: int = 3
    ) -> list[dict[str, Any]]:
        self.ws = await self.session.ws_connect(self.fake.gateway_url + "?v=10&encoding=json")
        hello = await self.ws.receive_json(timeout=5)
        assert hello["op"] == 10 and hello["d"]["heartbeat_interval"] > 0
        await self.ws.send_json({"op": 1, "d": None})
        assert (await self.ws.receive_json(timeout=5))["op"] == 11
        identify: dict[str, Any] = {"token": "test-token", "intents": 513}
        if shard is not None:
            identify["shard"] = shard
        await self.ws.send_json({"op": 2, "d": identify})
        # READY, then one GUILD_CREATE per server (of the shard)
        return [await self.ws.receive_json(timeout=5) for _ in range(events)]

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

    async def interaction(self) -> tuple[dict[str, Any], str, str]:
        """The next INTERACTION_CREATE: its data, callback path and webhook path."""
        event = await self.event()
        assert event["t"] == "INTERACTION_CREATE"
        data = event["d"]
        callback = f"/interactions/{data['id']}/{data['token']}/callback?with_response=1"
        return data, callback, f"/webhooks/{self.fake.application_id}/{data['token']}"

    async def post(self, channel_id: int, payload: dict[str, Any]) -> dict[str, Any]:
        status, body, _ = await self.call("POST", f"/channels/{channel_id}/messages", payload)
        assert status == 200, body
        return body


@pytest.fixture
async def raw(fake: FakeDiscord) -> AsyncIterator[RawBot]:
    async with aiohttp.ClientSession() as session:
        bot = RawBot(fake, session)
        ready, guild, _ = await bot.connect()
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
    status, body, content_type = await raw.call("GET", "/voice/regions")
    assert status == 404 and body == {"message": "404: Not Found", "code": 0}
    assert content_type == "application/json"
    assert [call.path for call in fake.unexpected] == ["/api/v10/voice/regions"]
    assert any("unexpected call" in line for line in fake.problems())


async def test_shards_get_their_own_servers_and_a_wrong_count_is_refused() -> None:
    fake = FakeDiscord(shards=2).start()
    try:
        async with aiohttp.ClientSession() as session:
            status, body, _ = await RawBot(fake, session).call("GET", "/gateway/bot")
            assert status == 200 and body["shards"] == 2 and body["url"] == fake.gateway_url
            assert body["session_start_limit"]["max_concurrency"] == 1
            servers, bots = {}, []
            for shard in (0, 1):
                bot = RawBot(fake, session)
                bots.append(bot)  # each shard's session stays open
                ready, created = await bot.connect(shard=[shard, 2], events=2)
                assert ready["t"] == "READY" and ready["d"]["shard"] == [shard, 2]
                assert created["t"] == "GUILD_CREATE"
                assert [g["id"] for g in ready["d"]["guilds"]] == [created["d"]["id"]]
                servers[shard] = int(created["d"]["id"])
            assert servers == {0: fake.guild_id, 1: fake.other_guild_id}
            await asyncio.to_thread(fake.wait_identified, 2, 5)  # both shards' sessions
            assert fake.connected and not fake.problems()
            wrong = RawBot(fake, session)
            with pytest.raises((TimeoutError, TypeError, aiohttp.WSServerHandshakeError)):
                await wrong.connect(shard=[0, 3], events=1)
            assert any("Discord recommends 2 shard(s)" in line for line in fake.problems())
    finally:
        fake.stop()


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
    fake.ack_deadline = -1.0  # any answer is late: no clock to wait for
    handle = fake.invoke("imagine", fake.member("bob"), prompt="a fox")
    data = (await raw.event())["d"]
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


def _button(custom_id: str, label: str = "Go") -> list[dict[str, Any]]:
    return [
        {
            "type": 1,
            "components": [{"type": 2, "style": 1, "label": label, "custom_id": custom_id}],
        }
    ]


async def test_two_servers_each_with_its_own_guild_create(fake: FakeDiscord) -> None:
    async with aiohttp.ClientSession() as session:
        bot = RawBot(fake, session)
        ready, first, second = await bot.connect()
        assert ready["d"]["guilds"] == [
            {"id": str(fake.guild_id), "unavailable": True},
            {"id": str(fake.other_guild_id), "unavailable": True},
        ]
        assert [first["t"], second["t"]] == ["GUILD_CREATE", "GUILD_CREATE"]
        a, b = first["d"], second["d"]
        assert (a["id"], a["name"]) == (str(fake.guild_id), "Fake Art Club")
        assert (b["id"], b["name"]) == (str(fake.other_guild_id), "Other Server")
        assert a["owner_id"] == str(fake.member("owner").id)
        assert b["owner_id"] == str(fake.member("owner_b").id) == str(fake.other_owner_id)
        names_b = {m["user"]["username"] for m in b["members"]}
        assert names_b == {"owner_b", "mod_b", "carol", "alice", "bob", "imaginebot"}
        assert "carol" not in {m["user"]["username"] for m in a["members"]}
        alice_b = next(m for m in b["members"] if m["user"]["username"] == "alice")
        assert alice_b["user"]["id"] == str(fake.member("alice").id) and alice_b["roles"] == []
        assert {c["name"]: c["guild_id"] for c in b["channels"]} == {
            "general": str(fake.other_guild_id),
            "art": str(fake.other_guild_id),
        }
        assert not {c["id"] for c in a["channels"]} & {c["id"] for c in b["channels"]}
        roles_b = {r["name"]: r for r in b["roles"]}
        assert roles_b["@everyone"]["id"] == str(fake.other_guild_id)
        assert roles_b["Moderator"]["id"] == str(fake.other_moderator_role_id)
        assert int(roles_b["Moderator"]["permissions"]) & MANAGE_GUILD
        assert roles_b["ImagineBot"]["tags"] == {"bot_id": str(fake.bot_user_id)}

        # The driver: the name picks server A first, then B.
        assert fake.member("owner_b").guild_id == fake.other_guild_id
        assert fake.member("alice").guild_id == fake.guild_id
        alice_in_b = fake.member("alice", server="b")
        assert alice_in_b.id == fake.member("alice").id
        assert alice_in_b.guild_id == fake.other_guild_id
        assert fake.channel("general", server="b").guild_id == fake.other_guild_id
        assert fake.channel("general").guild_id == fake.guild_id
        assert set(fake.members) == {"owner", "alice", "bob", "mod", "curator", "imaginebot"}
        assert set(fake.channels) == {"general", "art", "nsfw"}
        with pytest.raises(KeyError):
            fake.member("carol", server="a")

        # REST serves both servers, and members per server.
        carol = fake.member("carol")
        status, body, _ = await bot.call("GET", f"/guilds/{fake.other_guild_id}")
        assert status == 200 and body["name"] == "Other Server"
        status, body, _ = await bot.call("GET", f"/guilds/{fake.other_guild_id}/members/{carol.id}")
        assert status == 200 and body["user"]["username"] == "carol"
        status, body, _ = await bot.call("GET", f"/guilds/{fake.guild_id}/members/{carol.id}")
        assert (status, body["code"]) == (404, 10007)
        general_b = fake.channel("general", server="b")
        status, body, _ = await bot.call("GET", f"/channels/{general_b.id}")
        assert status == 200 and body["guild_id"] == str(fake.other_guild_id)
        posted = await bot.post(general_b.id, {"content": "hello B"})
        assert fake.message(int(posted["id"])).guild_id == fake.other_guild_id
        await bot.ws.close()  # type: ignore[union-attr]


async def test_an_interaction_from_server_b_is_server_bs(fake: FakeDiscord, raw: RawBot) -> None:
    guild_b = str(fake.other_guild_id)
    art_b = fake.channel("art", server="b")
    fake.invoke("imagine", fake.member("mod_b"), prompt="a fox", channel="art")
    data, callback, _ = await raw.interaction()
    assert data["guild_id"] == guild_b and data["guild"]["id"] == guild_b
    assert data["channel_id"] == str(art_b.id) and data["channel"]["guild_id"] == guild_b
    assert data["authorizing_integration_owners"] == {"0": guild_b}
    assert data["member"]["roles"] == [str(fake.other_moderator_role_id)]
    assert int(data["member"]["permissions"]) & MANAGE_GUILD
    await raw.call("POST", callback, {"type": 4, "data": {"content": "ok"}})

    alice_b = fake.member("alice", server="b")
    handle = fake.invoke("imagine", alice_b, prompt="a fox")
    assert handle.guild_id == fake.other_guild_id
    data, callback, _ = await raw.interaction()
    assert data["channel_id"] == str(fake.channel("general", server="b").id)
    assert data["member"]["user"]["id"] == str(fake.member("alice").id)
    assert int(data["member"]["permissions"]) == EVERYONE_PERMISSIONS
    await raw.call("POST", callback, {"type": 4, "data": {"content": "ok"}})
    assert handle.wait_reply().guild_id == fake.other_guild_id

    assert fake.permissions_of(fake.member("owner_b")) == ALL_PERMISSIONS
    assert fake.permissions_of(fake.member("owner")) == ALL_PERMISSIONS
    assert fake.permissions_of(fake.member("mod", server="a")) & MANAGE_GUILD
    assert not fake.permissions_of(alice_b) & MANAGE_GUILD
    with pytest.raises(CommandUsageError, match="server"):
        fake.invoke("imagine", alice_b, prompt="x", channel=fake.channel("general"))
    with pytest.raises(CommandUsageError, match="no channel"):
        fake.invoke("imagine", alice_b, prompt="x", channel="nsfw")
    with pytest.raises(CommandUsageError, match="server"):
        fake.invoke("imagine", fake.member("alice"), prompt="x", channel=art_b)


async def test_guild_commands_and_permissions_are_per_server(
    fake: FakeDiscord, raw: RawBot
) -> None:
    command = {
        "name": "admin",
        "description": "Moderate",
        "type": 1,
        "default_member_permissions": str(MANAGE_GUILD),
    }
    status, _, _ = await raw.call(
        "PUT", f"/applications/{fake.application_id}/guilds/{fake.guild_id}/commands", [command]
    )
    assert status == 200
    assert fake.guild_commands("a")[0]["name"] == "admin" and fake.guild_commands("b") == []
    fake.invoke("admin", fake.member("mod"))
    data, callback, _ = await raw.interaction()
    assert data["data"]["guild_id"] == str(fake.guild_id)
    await raw.call("POST", callback, {"type": 4, "data": {"content": "ok"}})
    with pytest.raises(CommandUsageError, match="not a synced command"):
        fake.invoke("admin", fake.member("mod_b"))

    status, _, _ = await raw.call("PUT", f"/applications/{fake.application_id}/commands", [command])
    assert status == 200
    fake.invoke("admin", fake.member("mod_b"))
    data, callback, _ = await raw.interaction()
    assert data["guild_id"] == str(fake.other_guild_id) and "guild_id" not in data["data"]
    await raw.call("POST", callback, {"type": 4, "data": {"content": "ok"}})
    fake.invoke("admin", fake.member("owner_b"))
    await raw.call("POST", (await raw.interaction())[1], {"type": 4, "data": {"content": "ok"}})
    for name, server in (("alice", "b"), ("carol", "b"), ("alice", "a")):
        with pytest.raises(CommandUsageError, match="cannot see /admin"):
            fake.invoke("admin", fake.member(name, server=server))
    with pytest.raises(KeyError):
        fake.member("owner", server="b")  # the owner of A is nobody in B

    fake.grant_command("admin", server="b")
    fake.invoke("admin", fake.member("carol"))
    await raw.call("POST", (await raw.interaction())[1], {"type": 4, "data": {"content": "ok"}})
    with pytest.raises(CommandUsageError, match="cannot see /admin"):
        fake.invoke("admin", fake.member("alice"))
    assert fake.problems() == []


async def test_the_first_followup_takes_a_public_deferrals_visibility(
    fake: FakeDiscord, raw: RawBot
) -> None:
    general = fake.channel("general")
    mark = fake.message_mark()
    handle = fake.invoke("imagine", fake.member("alice"), prompt="a fox")
    _, callback, webhook = await raw.interaction()
    status, body, _ = await raw.call("POST", callback, {"type": 5})
    assert status == 200
    thinking = int(body["resource"]["message"]["id"])
    status, _, _ = await raw.call("DELETE", f"{webhook}/messages/@original")
    assert status == 204

    status, body, _ = await raw.call(
        "POST", webhook + "?wait=1", {"content": "refused", "flags": EPHEMERAL}
    )
    assert status == 200 and not body["flags"] & EPHEMERAL
    first = fake.message(int(body["id"]))
    assert first.id != thinking and not first.ephemeral and first.visible_to is None
    assert first.kind == "followup" and first.content == "refused"
    status, body, _ = await raw.call(
        "POST", webhook + "?wait=1", {"content": "later", "flags": EPHEMERAL}
    )
    later = fake.message(int(body["id"]))
    assert later.ephemeral, "later followups honour their own flags"

    # Nothing is forgotten: the deleted "thinking" message is still there.
    kept = {m.id: m for m in fake.messages(general.id, include_deleted=True)}
    assert kept[thinking].deleted and kept[thinking].kind == "original"
    assert thinking not in {m.id for m in fake.messages(general.id)}
    assert handle.original() is None
    assert handle.original(include_deleted=True).id == thinking  # type: ignore[union-attr]
    public = fake.public_messages_since(mark)
    assert [m.id for m in public] == [thinking, first.id]
    assert public[0].deleted and public[0].loading
    assert fake.public_messages_since(fake.message_mark()) == []
    assert fake.problems() == []


async def test_an_ephemeral_deferral_stays_ephemeral_and_an_edit_answers_it(
    fake: FakeDiscord, raw: RawBot
) -> None:
    fake.invoke("imagine", fake.member("bob"), prompt="a fox")
    _, callback, webhook = await raw.interaction()
    mark = fake.message_mark()
    await raw.call("POST", callback, {"type": 5, "data": {"flags": EPHEMERAL}})
    await raw.call("DELETE", f"{webhook}/messages/@original")
    status, body, _ = await raw.call("POST", webhook + "?wait=1", {"content": "public?"})
    assert status == 200 and body["flags"] & EPHEMERAL
    assert fake.message(int(body["id"])).visible_to == fake.member("bob").id
    assert fake.public_messages_since(mark) == []

    # An edit of @original answers a deferral: the next followup has its own flags.
    fake.invoke("imagine", fake.member("bob"), prompt="a cat")
    _, callback, webhook = await raw.interaction()
    await raw.call("POST", callback, {"type": 5})
    await raw.call("PATCH", f"{webhook}/messages/@original", {"content": "here"})
    status, body, _ = await raw.call(
        "POST", webhook + "?wait=1", {"content": "just you", "flags": EPHEMERAL}
    )
    assert status == 200 and body["flags"] & EPHEMERAL
    assert fake.problems() == []


async def test_deleted_channel_posts_are_kept(fake: FakeDiscord, raw: RawBot) -> None:
    art = fake.channel("art")
    mark = fake.message_mark()
    posted = await raw.post(art.id, {"content": "gone soon"})
    status, _, _ = await raw.call("DELETE", f"/channels/{art.id}/messages/{posted['id']}")
    assert status == 204
    [kept] = fake.messages(art.id, include_deleted=True)
    assert kept.deleted and kept.kind == "channel" and fake.messages(art.id) == []
    assert [m.id for m in fake.public_messages_since(mark)] == [int(posted["id"])]
    assert fake.public_messages_since(mark, channel_id=fake.channel("general").id) == []


async def test_a_button_in_another_server_cannot_be_pressed(fake: FakeDiscord, raw: RawBot) -> None:
    general_b = fake.channel("general", server="b")
    posted = await raw.post(general_b.id, {"content": "B", "components": _button("job:b:1")})
    message_b = int(posted["id"])
    with pytest.raises(CommandUsageError, match="server"):
        fake.press(message_b, "Go", fake.member("alice"))
    with pytest.raises(CommandUsageError, match="server"):
        fake.press(message_b, "Go", fake.member("mod"))
    with pytest.raises(CommandUsageError, match="server"):
        fake.press_custom_id("job:b:1", fake.member("alice"), message=message_b)

    handle = fake.press(message_b, "Go", fake.member("alice", server="b"))
    data, callback, _ = await raw.interaction()
    assert data["guild_id"] == str(fake.other_guild_id)
    assert data["message"]["id"] == str(message_b)
    assert data["data"] == {"custom_id": "job:b:1", "component_type": 2}
    await raw.call("POST", callback, {"type": 6})
    assert handle.wait_ack().type == 6

    fake.delete_message(message_b)
    event = await raw.event()
    assert event["t"] == "MESSAGE_DELETE"
    assert event["d"]["guild_id"] == str(fake.other_guild_id)
    assert fake.problems() == []


async def test_press_custom_id_sends_any_custom_id(fake: FakeDiscord, raw: RawBot) -> None:
    general = fake.channel("general")
    older = await raw.post(general.id, {"content": "old", "components": _button("job:a:1")})
    newer = await raw.post(general.id, {"content": "new", "components": _button("job:a:2")})
    await raw.post(
        fake.channel("general", server="b").id, {"content": "B", "components": _button("b")}
    )

    handle = fake.press_custom_id("job:b:999", fake.member("bob"))
    data, callback, _ = await raw.interaction()
    assert data["type"] == 3
    assert data["data"] == {"custom_id": "job:b:999", "component_type": 2}
    assert data["message"]["id"] == newer["id"], "default: the newest bot message"
    assert data["guild_id"] == str(fake.guild_id) and data["channel_id"] == str(general.id)
    assert handle.custom_id == "job:b:999"
    await raw.call(
        "POST", callback, {"type": 4, "data": {"content": "no such job", "flags": EPHEMERAL}}
    )
    assert handle.wait_reply().ephemeral

    fake.press_custom_id("forged", fake.member("carol"), message=None)
    data, callback, _ = await raw.interaction()
    assert data["guild_id"] == str(fake.other_guild_id)
    assert data["message"]["content"] == "B"
    await raw.call("POST", callback, {"type": 6})

    fake.press_custom_id("stale", "alice", message=int(older["id"]))
    data, callback, _ = await raw.interaction()
    assert data["message"]["id"] == older["id"] and data["data"]["custom_id"] == "stale"
    await raw.call("POST", callback, {"type": 6})
    with pytest.raises(CommandUsageError, match="no bot message"):
        fake.press_custom_id("x", "alice", channel="art")
    with pytest.raises(CommandUsageError, match="custom_id"):
        fake.press_custom_id("x" * 101, "alice")
    assert fake.problems() == []


V2 = 1 << 15


def _section(text: str, url: str) -> dict[str, Any]:
    return {
        "type": 9,
        "components": [{"type": 10, "content": text}],
        "accessory": {"type": 11, "media": {"url": url}},
    }


async def test_components_v2_follow_discords_rules(fake: FakeDiscord, raw: RawBot) -> None:
    """The IS_COMPONENTS_V2 flag: layout components only, no content or embeds, media
    that exist, at most 40 components, and a flag that cannot be taken back."""
    art = fake.channel("art").id
    good = {
        "flags": V2,
        "components": [
            {"type": 10, "content": "# Heading"},
            _section("a line beside a picture", "https://cdn.example/a.png"),
            {"type": 12, "items": [{"media": {"url": "https://cdn.example/b.png"}}]},
            {"type": 1, "components": [{"type": 2, "style": 2, "label": "Go", "custom_id": "g"}]},
        ],
    }
    posted = await raw.post(art, good)
    assert posted["flags"] & V2
    stored = fake.message(int(posted["id"]))
    assert stored.texts == ["# Heading", "a line beside a picture"]
    assert stored.media == ["https://cdn.example/a.png", "https://cdn.example/b.png"]
    assert stored.rows == [["Go"]]
    bad_bodies = [
        {**good, "content": "text outside the components"},
        {**good, "embeds": [{"title": "an embed"}]},
        {"components": good["components"]},  # layout components without the flag
        {"flags": V2, "components": [_section("x", "attachment://missing.webp")]},
        {"flags": V2, "components": [{"type": 9, "components": [{"type": 10, "content": "x"}]}]},
        {"flags": V2, "components": [{"type": 12, "items": []}]},
        {
            "flags": V2,
            "components": [_section(f"{k}", "https://cdn.example/c.png") for k in range(14)],
        },
        {"flags": V2, "components": [{"type": 10, "content": "x" * 4001}]},
    ]
    fake.allow_rejections(50035)
    for body in bad_bodies:
        status, error, _ = await raw.call("POST", f"/channels/{art}/messages", body)
        assert status == 400 and error["code"] == 50035, body
    assert [m.id for m in fake.messages(art)] == [int(posted["id"])], "nothing refused is kept"
    status, error, _ = await raw.call(
        "PATCH", f"/channels/{art}/messages/{posted['id']}", {"flags": 0, "content": "plain"}
    )
    assert status == 400 and "MESSAGE_CANNOT_REMOVE_COMPONENTS_V2_FLAG" in json.dumps(error)


# Rate limits (ratelimits.py): what Discord documents in topics/rate-limits.


async def _limited(
    raw: RawBot, method: str, path: str, body: Any = None
) -> tuple[int, Any, dict[str, str]]:
    """A request as ``RawBot.call`` makes it, with the answer's headers."""
    headers = {**AUTH} if not path.startswith(("/webhooks", "/interactions")) else {}
    async with raw.session.request(method, raw.api + path, json=body, headers=headers) as response:
        text = await response.text()
        return response.status, json.loads(text) if text else None, dict(response.headers)


async def test_route_buckets_announce_their_limits_and_refuse_past_them(
    fake: FakeDiscord, raw: RawBot
) -> None:
    general, art = fake.channel("general"), fake.channel("art")
    posted = await raw.post(general.id, {"content": "queued"})
    edit = f"/channels/{general.id}/messages/{posted['id']}"
    with fake.use_rate_limits(RateLimits(channel_edits=Limit(3, 0.5))):
        answers = [await _limited(raw, "PATCH", edit, {"content": f"#{n}"}) for n in range(3)]
        assert [status for status, _, _ in answers] == [200, 200, 200]
        headers = [h for _, _, h in answers]
        assert [h["X-RateLimit-Remaining"] for h in headers] == ["2", "1", "0"]
        assert {h["X-RateLimit-Limit"] for h in headers} == {"3"}
        assert len({h["X-RateLimit-Bucket"] for h in headers}) == 1, "one bucket per route"
        assert all(0 < float(h["X-RateLimit-Reset-After"]) <= 0.5 for h in headers)
        assert all(float(h["X-RateLimit-Reset"]) > posted_at(posted) for h in headers)

        status, body, refused = await _limited(raw, "PATCH", edit, {"content": "#4"})
        assert status == 429 and body["global"] is False
        assert 0 < body["retry_after"] <= 0.5 and body["message"]
        assert refused["X-RateLimit-Scope"] == "user" and refused["Retry-After"] == "1"
        assert refused["X-RateLimit-Remaining"] == "0" and "Via" in refused
        assert "X-RateLimit-Global" not in refused
        assert fake.message(int(posted["id"])).content == "#2", "a refused edit changes nothing"

        # Another channel is another bucket; so is another route of the same channel.
        other = await raw.post(art.id, {"content": "elsewhere"})
        status, _, _ = await _limited(raw, "PATCH", f"/channels/{art.id}/messages/{other['id']}")
        assert status == 200
        assert (
            await _limited(raw, "POST", f"/channels/{general.id}/messages", {"content": "new"})
        )[0] == 200

        fake.pass_time(body["retry_after"])  # what a client does: wait, then retry
        status, _, again = await _limited(raw, "PATCH", edit, {"content": "#4"})
        assert status == 200 and again["X-RateLimit-Remaining"] == "2"
    assert [(h.method, h.path, h.is_global) for h in fake.rate_limited] == [
        ("PATCH", "/api/v10" + edit, False)
    ]
    assert [c.status for c in fake.calls if c.path == "/api/v10" + edit].count(429) == 1
    assert fake.longest_429_streak == 1 and fake.problems() == []


def posted_at(message: dict[str, Any]) -> float:
    """A message's creation time (epoch seconds) from its snowflake."""
    return ((int(message["id"]) >> 22) + 1420070400000) / 1000 - 1


async def test_five_edits_per_five_seconds_per_channel_by_default(
    fake: FakeDiscord, raw: RawBot
) -> None:
    alice = fake.member("alice")
    fake.invoke("imagine", alice, prompt="a fox")
    data, callback, webhook = await raw.interaction()
    with fake.use_rate_limits(RateLimits()):  # Discord's
        status, body, _ = await raw.call(
            "POST", callback, {"type": 4, "data": {"content": "queued"}}
        )
        assert status == 200
        message_id = body["resource"]["message"]["id"]
        channel_route = f"/channels/{data['channel_id']}/messages/{message_id}"
        statuses = [
            (await _limited(raw, "PATCH", channel_route, {"content": f"position {n}"}))[0]
            for n in range(6)
        ]
        assert statuses == [200] * 5 + [429], "Discord: 5 edits per 5 s per channel"
        [hit] = fake.rate_limited
        assert 0 < hit.retry_after <= 5.0 and not hit.is_global
        # The interaction's own webhook is its token's bucket (5 per 2 s), not the channel's.
        status, _, headers = await _limited(
            raw, "PATCH", f"{webhook}/messages/@original", {"content": "via the token"}
        )
        assert status == 200 and headers["X-RateLimit-Limit"] == "5"


async def test_the_global_limit_spares_interaction_routes(fake: FakeDiscord, raw: RawBot) -> None:
    fake.invoke("imagine", fake.member("alice"), prompt="a fox")
    _, callback, webhook = await raw.interaction()
    # Eight requests at once, not one retried: no loop however many are refused.
    with fake.use_rate_limits(RateLimits(global_per_second=4, loop_after=8)):
        answers = await asyncio.gather(*(_limited(raw, "GET", "/users/@me") for _ in range(8)))
        refused = [(body, headers) for status, body, headers in answers if status == 429]
        assert refused, "more than 4 requests in a second"
        for body, headers in refused:
            assert body["global"] is True and body["retry_after"] <= 1.0
            assert headers["X-RateLimit-Global"] == "true"
            assert headers["X-RateLimit-Scope"] == "global" and "Retry-After" in headers
        # Over the global limit, the interaction's callback and webhook are still served.
        status, _, _ = await _limited(raw, "POST", callback, {"type": 5})
        assert status == 200
        status, _, _ = await _limited(
            raw, "PATCH", f"{webhook}/messages/@original", {"content": "ok"}
        )
        assert status == 200
    assert {hit.is_global for hit in fake.rate_limited} == {True}
    assert fake.problems() == []


async def test_a_client_that_does_not_wait_is_a_problem(fake: FakeDiscord, raw: RawBot) -> None:
    general = fake.channel("general")
    posted = await raw.post(general.id, {"content": "queued"})
    edit = f"/channels/{general.id}/messages/{posted['id']}"
    with fake.use_rate_limits(RateLimits(channel_edits=Limit(1, 60.0), loop_after=2)):
        statuses = [(await _limited(raw, "PATCH", edit, {"content": "x"}))[0] for _ in range(4)]
    assert statuses == [200, 429, 429, 429]
    assert fake.longest_429_streak == 3
    assert any("a 429 loop" in line for line in fake.problems())
