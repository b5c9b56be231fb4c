"""The world: the application, the two servers (guilds), their roles, members and channels.

- ``_World`` builds it (once, from ``FakeDiscord.__init__``), adds the many servers a big
  bot is in (``add_servers``) and renders a guild as JSON;
- ``_Lookups``: the driver's ``member``/``channel``/``permissions_of``... and the id
  lookups the REST routes use (raising Discord's "Unknown ..." errors);
- ``_WorldRoutes``: the REST routes that read it (``/users``, ``/guilds``, ``/channels/{id}``,
  the application).

The world does not change after it is built (and its servers added, before the bot
connects), except ``_grants`` (``grant_command``).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import replace
from typing import Any, Self

from aiohttp import web

from .constants import (
    ADMINISTRATOR,
    ALL_PERMISSIONS,
    EVERYONE_PERMISSIONS,
    MANAGE_GUILD,
    MANAGE_MESSAGES,
)
from .model import DiscordError, FakeChannel, FakeMember, FakeRole, _Guild, _iso
from .state import _State


class _World(_State):
    """Builds the world and renders a guild.

    Writes (once): ``application_id``, ``bot_user_id``, ``bot_member``, the ids and lists of
    both servers (``guild_id``, ``roles``, ``_members``, ``_channels``, ``other_*``),
    ``_guilds``, ``_grants``."""

    def _build_world(self) -> None:
        """Both servers, their roles, members and channels (ids in creation order)."""
        self.application_id = self._ids.next()
        self.bot_user_id = self.application_id
        # Server A on shard 0 and server B on shard 1 when the bot runs two shards.
        self.guild_id = self._ids.next_on_shard(0, 2)

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
        self.other_guild_id = self._ids.next_on_shard(1, 2)
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
        self._grants = set()

    def add_servers(self, count: int) -> Self:
        """``count`` more servers, as a bot in many of them sees (call it before the bot
        connects): keys ``"s1"``, ``"s2"``..., named "Server 1"...; in each, its owner
        (``"owner"``), a moderator (``"mod"``, Moderator role with Manage Server), a member
        (``"member"``), the bot (ImagineBot role), channels ``"general"`` and ``"art"``:
        users of their own. Spread over the shards by Discord's rule, ``(id >> 22) %
        shard_count``, one shard after the other (server N on shard N % shard_count)."""
        bot_perms = EVERYONE_PERMISSIONS | MANAGE_MESSAGES
        first = sum(1 for guild in self._guilds.values() if guild.key.startswith("s")) + 1
        for number in range(first, first + count):
            guild_id = self._ids.next_on_shard(number % self.shard_count, self.shard_count)
            moderator_role, bot_role = self._ids.next(), self._ids.next()
            roles = [
                FakeRole(guild_id, "@everyone", EVERYONE_PERMISSIONS, 0),
                FakeRole(moderator_role, "Moderator", MANAGE_GUILD | MANAGE_MESSAGES, 1),
                FakeRole(bot_role, "ImagineBot", bot_perms, 2, True, self.bot_user_id),
            ]
            members = {
                name: FakeMember(name, self._ids.next(), held, guild_id=guild_id)
                for name, held in (("owner", ()), ("mod", (moderator_role,)), ("member", ()))
            }
            members["imaginebot"] = replace(self.bot_member, roles=(bot_role,), guild_id=guild_id)
            channels = {
                name: FakeChannel(name, self._ids.next(), guild_id, position)
                for position, name in enumerate(("general", "art"))
            }
            self._guilds[guild_id] = _Guild(
                f"s{number}",
                guild_id,
                f"Server {number}",
                members["owner"].id,
                roles,
                members,
                channels,
            )
        return self

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


class _Lookups(_World):
    """People, places and permissions, by name or id.

    Reads: ``_guilds`` (and ``_members``/``_channels``, server A's)."""

    @property
    def guild_ids(self) -> list[int]:
        """Every server's id: A, B, then the added ones (``add_servers``)."""
        return list(self._guilds)

    def _guild(self, server: str | int | None) -> _Guild:
        """``"a"``, ``"b"`` (``"s1"``... when added) or a guild id (None: server A)."""
        if server is None:
            return self._guilds[self.guild_id]
        if isinstance(server, int) and server in self._guilds:
            return self._guilds[server]
        for guild in self._guilds.values():
            if server in (guild.key, guild.id) or str(server) == str(guild.id):
                return guild
        raise KeyError(f"no server {server!r} (servers: 'a', 'b', and 's1'... when added)")

    def guild_payload(self, server: str | int) -> dict[str, Any]:
        """The GUILD_CREATE data of ``server`` (``"a"``, ``"b"``, ``"s1"``... or an id),
        as the gateway sends it."""
        return self._guild_json(self._guild(server))

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
        """``"a"`` or ``"b"`` (``"s1"``... when added) for a guild id."""
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

    def _check_guild(self, guild: str) -> _Guild:
        found = self._guilds.get(int(guild))
        if found is None:
            raise DiscordError(404, 10004, "Unknown Guild")
        return found

    def _known_channel(self, channel: str) -> FakeChannel:
        known = self._channel_by_id(int(channel))
        if known is None:
            raise DiscordError(404, 10003, "Unknown Channel")
        return known


class _WorldRoutes(_Lookups):
    """REST routes that read the world (see ``FakeDiscord._routes``).

    Reads: ``bot_member``, ``application_id``, ``_members``, ``_guilds``."""

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
