"""Application commands: the trees the bot syncs (REST), the driver's reads and grants, and
``invoke``, which builds a slash command interaction validated against the synced tree.
"""

from __future__ import annotations

import copy
from typing import Any

from aiohttp import web

from .constants import (
    ADMINISTRATOR,
    ATTACHMENT,
    BOOLEAN,
    CHANNEL,
    EVERYONE_PERMISSIONS,
    INTEGER,
    MAX_STRING_OPTION,
    MENTIONABLE,
    NUMBER,
    OPTION_TYPE_NAMES,
    ROLE,
    STRING,
    SUB_COMMAND,
    SUB_COMMAND_GROUP,
    USER,
)
from .interactions import Interaction, _Driver
from .model import (
    CommandUsageError,
    DiscordError,
    FakeChannel,
    FakeMember,
    StoredAttachment,
    StoredMessage,
    _field_error,
    _Guild,
)
from .rest import _read_body
from .validation import _validate_commands
from .world import _Lookups


class _CommandTrees(_Lookups):
    """The synced command trees: ``/applications/{app}[/guilds/{id}]/commands`` (GET, PUT),
    the driver's reads of them, and ``grant_command``.

    Writes: ``_global_commands``, ``_guild_commands``, ``command_sync_count``, ``_grants``
    (a global sync clears them)."""

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

    def grant_command(self, name: str, server: str | int | None = None) -> None:
        """Let every member of ``server`` (None: A) see command ``name``, as a server that
        re-grants it in its Integrations settings: the bot's own run-time checks are all
        that is left. It lasts until the bot syncs its global commands again."""
        with self._cond:
            self._grants.add((self._guild(server).id, name))

    def _find_command(
        self, name: str, guild_id: int, *, guild_first: bool = False, kind: int = 1
    ) -> dict[str, Any]:
        trees = [self._global_commands, self._guild_commands.get(guild_id, [])]
        if guild_first:
            trees.reverse()
        for tree in trees:
            for command in tree:
                if command["name"] == name and command.get("type", 1) == kind:
                    return copy.deepcopy(command)
        known = sorted({c["name"] for tree in trees for c in tree})
        raise CommandUsageError(f"/{name} is not a synced command (synced: {known})")

    def _check_app(self, app: str) -> None:
        if int(app) != self.application_id:
            raise DiscordError(404, 10002, "Unknown Application")

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
        payload, _ = await _read_body(request)
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


class _SlashCommands(_Driver, _CommandTrees):
    """``invoke``: a slash command as a member, its options checked against the synced tree
    (``CommandUsageError`` for what no Discord client could send).

    Reads: the command trees, ``_grants``, the world (permissions, resolved options)."""

    def invoke(
        self,
        command: str,
        member: FakeMember | str,
        *,
        channel: FakeChannel | str | None = None,
        guild: bool = False,
        **options: Any,
    ) -> Interaction:
        """Run a slash command as ``member``; see the package docstring.

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

    def message_command(
        self,
        name: str,
        member: FakeMember | str,
        message: StoredMessage | int,
        *,
        guild: bool = False,
    ) -> Interaction:
        """Run a message context-menu command (Apps > ``name``) on ``message`` as
        ``member``: type 2 with ``data.type`` 3, ``target_id`` and the resolved message,
        as Discord sends it."""
        member = self.member(member) if isinstance(member, str) else member
        server = self._guild_of(member)
        stored = self._visible_message(message if isinstance(message, int) else message.id, member)
        with self._cond:
            top = self._find_command(name, server.id, guild_first=guild, kind=3)
            message_json = self._message_json(stored)
        place = server.channel_by_id(stored.channel_id)
        if place is None:
            raise CommandUsageError(f"message {stored.id} is in no channel of {server.key}")
        data: dict[str, Any] = {
            "id": str(top["id"]),
            "name": top["name"],
            "type": 3,
            "target_id": str(stored.id),
            "resolved": {"messages": {str(stored.id): message_json}},
        }
        if top.get("guild_id") is not None:
            data["guild_id"] = str(server.id)
        return self._send_interaction(
            2, member, place, data, name=name, custom_id=None, message=None
        )

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
        elif kind == ATTACHMENT:
            # A file the member uploaded with the command (``FakeDiscord.upload``).
            if not isinstance(value, StoredAttachment):
                raise wrong()
            resolved.setdefault("attachments", {})[str(value.id)] = value.to_json()
            return str(value.id)
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
