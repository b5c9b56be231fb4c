"""Interactions, the driver's side: sending them to the bot, and the ``Interaction`` handle
a test holds to read what the bot answered.

- ``_Driver``: builds and dispatches an INTERACTION_CREATE in the member's own server;
  ``delete_message`` and ``expire`` (a moderator's delete, an expired token);
- ``_Buttons``: ``press`` and ``press_custom_id``;
- slash commands (``invoke``) are in ``commands.py``.
"""

from __future__ import annotations

import copy
import mimetypes
import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .constants import ACK_DEADLINE_S, MAX_CUSTOM_ID
from .gateway import _GatewayServer
from .messages import _MessageStore
from .model import (
    Callback,
    CommandUsageError,
    FakeChannel,
    FakeMember,
    StoredAttachment,
    StoredMessage,
    _InteractionRecord,
)
from .validation import _sniff

if TYPE_CHECKING:
    from .server import FakeDiscord


class Interaction:
    """A handle on one interaction the fake sent; every read is a fresh snapshot."""

    def __init__(self, fake: FakeDiscord, record: _InteractionRecord) -> None:
        self._fake = fake
        self.id = record.id
        self.token = record.token
        self.type = record.type
        self.member = record.member
        self.guild_id = record.guild_id
        self.channel_id = record.channel_id
        self.name = record.name
        self.custom_id = record.custom_id

    def __repr__(self) -> str:
        what = self.name if self.type == 2 else f"button {self.custom_id}"
        return f"<Interaction {self.id} {what} by {self.member.name}>"

    def _record(self) -> _InteractionRecord:
        return self._fake._interactions[self.id]

    @property
    def ack(self) -> Callback | None:
        with self._fake._cond:
            return self._record().ack

    def wait_ack(self, timeout: float = ACK_DEADLINE_S + 2) -> Callback:
        """The first callback; fails when none was accepted in ``timeout`` seconds."""

        def check() -> Callback | None:
            return self._record().ack

        return self._fake._wait(check, timeout, f"an accepted callback for {self!r}")

    def original(self, *, include_deleted: bool = False) -> StoredMessage | None:
        with self._fake._cond:
            message = self._fake._original_of(self._record())
            if message is None or (message.deleted and not include_deleted):
                return None
            return copy.deepcopy(message)

    def wait_original(
        self, predicate: Callable[[StoredMessage], bool] | None = None, timeout: float = 60
    ) -> StoredMessage:
        """The original response once it exists (not deleted) and matches ``predicate``."""

        def check() -> StoredMessage | None:
            message = self._fake._original_of(self._record())
            if message is None or message.deleted:
                return None
            if predicate is None or predicate(message):
                return copy.deepcopy(message)
            return None

        return self._fake._wait(check, timeout, f"original response of {self!r}")

    def followups(self, *, include_deleted: bool = False) -> list[StoredMessage]:
        with self._fake._cond:
            return [
                copy.deepcopy(m)
                for m in self._fake._followups_of(self._record())
                if include_deleted or not m.deleted
            ]

    def wait_followup(
        self, predicate: Callable[[StoredMessage], bool] | None = None, timeout: float = 60
    ) -> StoredMessage:
        def check() -> StoredMessage | None:
            for message in self._fake._followups_of(self._record()):
                if not message.deleted and (predicate is None or predicate(message)):
                    return copy.deepcopy(message)
            return None

        return self._fake._wait(check, timeout, f"followup of {self!r}")

    def messages(self) -> list[StoredMessage]:
        """The original response and the followups, not deleted, oldest first."""
        with self._fake._cond:
            return [copy.deepcopy(m) for m in self._fake._messages_of(self._record())]

    def wait_reply(
        self, predicate: Callable[[StoredMessage], bool] | None = None, timeout: float = 30
    ) -> StoredMessage:
        """The first message of this interaction (original or followup) matching ``predicate``."""

        def check() -> StoredMessage | None:
            for message in self._fake._messages_of(self._record()):
                if not message.loading and (predicate is None or predicate(message)):
                    return copy.deepcopy(message)
            return None

        return self._fake._wait(check, timeout, f"a reply to {self!r}")


class _Driver(_GatewayServer, _MessageStore):
    """Sends interactions (and MESSAGE_DELETE) to the bot over the gateway.

    Writes: ``_interactions``, ``_by_token`` (new records), a record's ``expired``, a
    message's ``deleted``. Reads: the world, ``_messages``, ``attachment_size_limit``."""

    def _send_interaction(
        self,
        kind: int,
        member: FakeMember,
        channel: FakeChannel,
        data: dict[str, Any],
        *,
        name: str | None,
        custom_id: str | None,
        message: dict[str, Any] | None,
        source_message_id: int | None = None,
    ) -> Interaction:
        if not self.connected:
            raise AssertionError("the bot is not connected to the gateway")
        server = self._guild_of(member)
        if channel.guild_id != server.id:
            raise CommandUsageError(f"{member.name} is not in #{channel.name}'s server")
        interaction_id = self._ids.next()
        token = "aW50ZXJhY3Rpb246" + secrets.token_urlsafe(48)
        member_json = member.member_json()
        member_json["permissions"] = str(self.permissions_of(member))
        payload: dict[str, Any] = {
            "id": str(interaction_id),
            "application_id": str(self.application_id),
            "type": kind,
            "data": data,
            "guild_id": str(server.id),
            "guild": {
                "id": str(server.id),
                "locale": "en-US",
                "features": [],
            },
            "channel_id": str(channel.id),
            "channel": {**channel.to_json(), "permissions": member_json["permissions"]},
            "member": member_json,
            "token": token,
            "version": 1,
            "app_permissions": str(self.permissions_of(server.members["imaginebot"])),
            "locale": "en-US",
            "guild_locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(server.id)},
            "context": 0,
            "attachment_size_limit": self.attachment_size_limit,
        }
        if message is not None:
            payload["message"] = message
        with self._cond:
            record = _InteractionRecord(
                id=interaction_id,
                token=token,
                type=kind,
                member=member,
                guild_id=server.id,
                channel_id=channel.id,
                created=time.monotonic(),
                attachment_size_limit=self.attachment_size_limit,
                name=name,
                custom_id=custom_id,
                source_message_id=source_message_id,
            )
            self._interactions[interaction_id] = record
            self._by_token[token] = record
        self._run(self._dispatch("INTERACTION_CREATE", payload))
        return Interaction(self, record)

    def _channel_of(self, channel: FakeChannel | str | None, member: FakeMember) -> FakeChannel:
        """A channel of ``member``'s server (by name there; None: its general)."""
        server = self._guild_of(member)
        if channel is None:
            return server.channels["general"]
        if isinstance(channel, str):
            if channel not in server.channels:
                raise CommandUsageError(f"server {server.key} has no channel {channel!r}")
            return server.channels[channel]
        if channel.guild_id != server.id:
            raise CommandUsageError(
                f"{member.name} is not in #{channel.name}'s server "
                f"({self._guild(channel.guild_id).key}, not {server.key})"
            )
        return channel

    def _visible_message(self, message_id: int, member: FakeMember) -> StoredMessage:
        """A live message ``member`` can see (its server's, not someone else's ephemeral)."""
        stored = self._messages.get(message_id)
        if stored is None or stored.deleted:
            raise CommandUsageError(f"message {message_id} does not exist (or was deleted)")
        server = self._guild_of(member)
        if stored.guild_id != server.id:
            raise CommandUsageError(
                f"{member.name} (server {server.key}) cannot see message {message_id}: it is "
                f"in server {self._guild(stored.guild_id).key}"
            )
        if stored.visible_to is not None and stored.visible_to != member.id:
            raise CommandUsageError(f"{member.name} cannot see ephemeral message {message_id}")
        return stored

    def delete_message(self, message: StoredMessage | int) -> None:
        """Delete a message as a moderator would (the bot gets MESSAGE_DELETE)."""
        message_id = message.id if isinstance(message, StoredMessage) else int(message)
        with self._cond:
            stored = self._messages[message_id]
            stored.deleted = True
            stored.deleted_at = time.time()
            self._cond.notify_all()
        event = {
            "id": str(message_id),
            "channel_id": str(stored.channel_id),
            "guild_id": str(stored.guild_id),
        }
        if not stored.ephemeral and self.connected:
            self._run(self._dispatch("MESSAGE_DELETE", event))

    def upload(self, filename: str, data: bytes, *, size: int | None = None) -> StoredAttachment:
        """A file a member attaches to a command (pass it as an attachment option): on
        the CDN at its ``url`` until ``fail_next``/``hold_next("GET", "/attachments/")``
        say otherwise. Discord reports the ``content_type`` of an image it can read, else
        one from the name; ``size`` overrides the size it reports."""
        sniffed = _sniff(data)
        if sniffed is not None:
            content_type, width, height = sniffed
        else:
            content_type = mimetypes.guess_type(filename)[0]
            width = height = None
        with self._cond:
            attachment_id = self._ids.next()
            attachment = StoredAttachment(
                id=attachment_id,
                filename=filename,
                size=len(data) if size is None else size,
                content_type=content_type,
                width=width,
                height=height,
                data=data,
                url=f"{self.url}/attachments/{attachment_id}/{filename}",
            )
            self._attachments[attachment_id] = attachment
        return attachment

    def expire(self, interaction: Interaction) -> None:
        """Make an interaction's token invalid, as after 15 minutes."""
        with self._cond:
            self._interactions[interaction.id].expired = True

    def issued_tokens(self) -> list[str]:
        """Every interaction token the fake has issued (secrets a log must never hold)."""
        with self._cond:
            return [record.token for record in self._interactions.values()]


class _Buttons(_Driver):
    """Button presses: on a stored message's button, or with any ``custom_id``.

    Reads: ``_messages``, ``bot_user_id``."""

    def press(
        self,
        message: StoredMessage | int,
        label: str,
        member: FakeMember | str,
    ) -> Interaction:
        """Press the button labelled ``label`` on ``message`` as ``member``."""
        member = self.member(member) if isinstance(member, str) else member
        message_id = message.id if isinstance(message, StoredMessage) else int(message)
        with self._cond:
            stored = self._visible_message(message_id, member)
            if stored.loading:
                raise CommandUsageError(f"message {message_id} is still 'thinking'")
            button = stored.button(label)
            if button.get("disabled"):
                raise CommandUsageError(f"button {label!r} on {message_id} is disabled")
            if button.get("style") == 5 or "custom_id" not in button:
                raise CommandUsageError(f"button {label!r} is a link, not an interaction")
            message_json = self._message_json(stored)
            channel = self._channel_by_id(stored.channel_id)
            assert channel is not None
        data = {"custom_id": button["custom_id"], "component_type": 2}
        return self._send_interaction(
            3,
            member,
            channel,
            data,
            name=None,
            custom_id=button["custom_id"],
            message=message_json,
            source_message_id=message_id,
        )

    def press_custom_id(
        self,
        custom_id: str,
        member: FakeMember | str,
        *,
        message: StoredMessage | int | None = None,
        channel: FakeChannel | str | None = None,
        values: list[str] | None = None,
    ) -> Interaction:
        """A button interaction with any ``custom_id``, as a forged or stale client could
        send: nothing checks that the message has such a button. ``message`` (default:
        the newest bot message in ``channel``, default the member's server's general)
        must be one the member can see, in the member's server. ``values``: a select
        menu's pick instead of a button's press."""
        member = self.member(member) if isinstance(member, str) else member
        if not isinstance(custom_id, str) or not 1 <= len(custom_id) <= MAX_CUSTOM_ID:
            raise CommandUsageError(f"a custom_id is 1..{MAX_CUSTOM_ID} characters")
        with self._cond:
            if message is None:
                place = self._channel_of(channel, member)
                newest = [
                    m
                    for m in self._messages.values()
                    if m.channel_id == place.id
                    and not m.deleted
                    and m.author.get("id") == str(self.bot_user_id)
                    and (m.visible_to is None or m.visible_to == member.id)
                ]
                if not newest:
                    raise CommandUsageError(f"no bot message in #{place.name} to press on")
                stored = newest[-1]
            else:
                message_id = message.id if isinstance(message, StoredMessage) else int(message)
                stored = self._visible_message(message_id, member)
                if channel is not None and self._channel_of(channel, member).id != (
                    stored.channel_id
                ):
                    raise CommandUsageError(f"message {message_id} is in another channel")
            message_json = self._message_json(stored)
            place = self._channel_by_id(stored.channel_id)
            assert place is not None
        # discord.py only dispatches a custom id that the interaction's message carries
        # (as Discord only sends presses of buttons that exist): the message is sent as
        # one that carries it, as a message of the bot's could (an old layout, or a job id
        # of another server), so that the bot's own checks are what answers.
        if not any(
            item.get("custom_id") == custom_id
            for row in message_json.get("components", [])
            for item in row.get("components", [])
        ):
            if values is None:
                item = {"type": 2, "style": 2, "label": "?", "custom_id": custom_id}
            else:
                options = [{"label": v, "value": v} for v in values]
                item = {"type": 3, "custom_id": custom_id, "options": options}
            rows = [*message_json.get("components", []), {"type": 1, "components": [item]}]
            message_json = {**message_json, "components": rows[-5:]}
        data: dict = {"custom_id": custom_id, "component_type": 2 if values is None else 3}
        if values is not None:
            data["values"] = values
        return self._send_interaction(
            3,
            member,
            place,
            data,
            name=None,
            custom_id=custom_id,
            message=message_json,
            source_message_id=stored.id,
        )
