"""Messages: how the fake stores them and renders them as JSON, the driver's reads, and the
bot's channel message routes.

- ``_MessageStore``: creating interaction messages, applying a create or edit payload
  (files become ``StoredAttachment`` s), the message JSON Discord sends, and an
  interaction's original and followups;
- ``_MessageReads``: ``message``, ``messages``, ``wait_for_message``... (snapshots);
- ``_ChannelRoutes``: ``/channels/{id}/messages`` (the bot's own, non-interaction posts).

No message is ever forgotten: deleting one sets ``deleted``.
"""

from __future__ import annotations

import copy
import itertools
import re
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from .constants import (
    IS_COMPONENTS_V2,
    LOADING,
    SUPPRESS_EMBEDS,
    SUPPRESS_NOTIFICATIONS,
)
from .model import (
    DiscordError,
    FakeMember,
    StoredAttachment,
    StoredMessage,
    _field_error,
    _InteractionRecord,
    _iso,
)
from .rest import _read_body
from .validation import _sniff, _validate_message, v2_media_urls
from .world import _Lookups

_MENTION = re.compile(r"<@!?(\d+)>")


def _number_components(components: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Discord gives every component a numeric ``id`` when the bot sent none."""
    counter = itertools.count(1)
    used = set()

    def walk(items: list[dict[str, Any]]) -> None:
        for item in items:
            if isinstance(item.get("id"), int):
                used.add(item["id"])
        for item in items:
            if not isinstance(item.get("id"), int):
                value = next(counter)
                while value in used:
                    value = next(counter)
                item["id"] = value
                used.add(value)
            walk(item.get("components", []))

    walk(components)
    return components


class _MessageStore(_Lookups):
    """Stored messages and attachments; callers hold ``_cond``.

    Writes: ``_messages``, ``_attachments``. Reads: ``_interactions`` records (their
    original and followups), ``bot_member``, ``application_id``, ``url``."""

    def _original_of(self, record: _InteractionRecord) -> StoredMessage | None:
        if record.original_id is None:
            return None
        return self._messages.get(record.original_id)

    def _followups_of(self, record: _InteractionRecord) -> list[StoredMessage]:
        # The first followup after a "thinking" defer is the original message too.
        return [self._messages[i] for i in record.followup_ids]

    def _messages_of(self, record: _InteractionRecord) -> list[StoredMessage]:
        found = []
        original = self._original_of(record)
        if original is not None and original.interaction_id == record.id:
            found.append(original)
        found += [m for m in self._followups_of(record) if m.id != record.original_id]
        return [m for m in found if not m.deleted]

    def _new_message(self, record: _InteractionRecord, kind: str) -> StoredMessage:
        message = StoredMessage(
            id=self._ids.next(),
            channel_id=record.channel_id,
            guild_id=record.guild_id,
            author=self.bot_member.user_json(),
            kind=kind,
            type=20 if record.type == 2 else 0,
            created_at=time.time(),
            interaction_id=record.id,
            interaction_type=record.type,
            interaction_name=record.name,
            interaction_user=record.member.user_json(),
            webhook_id=self.application_id,
        )
        self._messages[message.id] = message
        return message

    def _apply(
        self,
        message: StoredMessage,
        payload: dict[str, Any],
        files: dict[int, tuple[str, str | None, bytes]],
        *,
        creating: bool,
    ) -> None:
        """Apply a validated create or edit payload to ``message`` (all or nothing: a
        message being created that fails is not kept)."""
        try:
            self._apply_checked(message, payload, files, creating=creating)
        except DiscordError:
            if creating:
                self._messages.pop(message.id, None)
            raise

    def _apply_checked(
        self,
        message: StoredMessage,
        payload: dict[str, Any],
        files: dict[int, tuple[str, str | None, bytes]],
        *,
        creating: bool,
    ) -> None:
        asked = payload.get("flags")
        if message.flags & IS_COMPONENTS_V2 and asked is not None and not asked & IS_COMPONENTS_V2:
            raise DiscordError(
                400,
                50035,
                "Invalid Form Body",
                {
                    "flags": _field_error(
                        "MESSAGE_CANNOT_REMOVE_COMPONENTS_V2_FLAG",
                        "The IS_COMPONENTS_V2 flag cannot be removed from a message.",
                    )
                },
            )
        v2 = bool(message.flags & IS_COMPONENTS_V2 or (asked or 0) & IS_COMPONENTS_V2)
        attachments = message.attachments
        if "attachments" in payload:
            own = {a.id: a for a in message.attachments}
            for item in payload["attachments"] or []:
                key = int(item["id"])
                if key not in own and key not in files:
                    raise DiscordError(
                        400,
                        50035,
                        "Invalid Form Body",
                        {"attachments": _field_error("ATTACHMENT_NOT_FOUND", f"Unknown {key}")},
                    )
            attachments = [
                own[int(item["id"])]
                if int(item["id"]) in own
                else self._store_file(message, files[int(item["id"])], item.get("filename"))
                for item in payload["attachments"] or []
            ]
        elif files:
            attachments = [
                *message.attachments,
                *(self._store_file(message, files[i], None) for i in sorted(files)),
            ]
        if v2:
            self._check_v2_layout(message, payload, attachments)
        message.attachments = attachments
        if v2:
            message.flags |= IS_COMPONENTS_V2
        if "content" in payload:
            message.content = payload["content"] or ""
        if "embeds" in payload:
            message.embeds = copy.deepcopy(payload["embeds"] or [])
        if "components" in payload:
            message.components = _number_components(copy.deepcopy(payload["components"] or []))
        if not creating:
            message.flags &= ~LOADING
            flags = payload.get("flags")
            if flags is not None:
                message.flags = (message.flags & ~SUPPRESS_EMBEDS) | (flags & SUPPRESS_EMBEDS)
            message.edited_at = time.time()
        message.edits.append(message.snapshot())

    def _check_v2_layout(
        self,
        message: StoredMessage,
        payload: dict[str, Any],
        attachments: list[StoredAttachment],
    ) -> None:
        """A V2 message as it will be: no text outside its components, and every
        ``attachment://`` its media name is one of its attachments."""
        content = payload.get("content", message.content)
        embeds = payload.get("embeds", message.embeds)
        if content or embeds:
            raise DiscordError(
                400,
                50035,
                "Invalid Form Body",
                {
                    "content": _field_error(
                        "MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2",
                        "A V2 message has no content or embeds.",
                    )
                },
            )
        components = payload.get("components", message.components)
        names = {attachment.filename for attachment in attachments}
        for url in v2_media_urls(components):
            if url.startswith("attachment://") and url[len("attachment://") :] not in names:
                raise DiscordError(
                    400,
                    50035,
                    "Invalid Form Body",
                    {"components": _field_error("ATTACHMENT_NOT_FOUND", f"Unknown {url}")},
                )

    def _store_file(
        self,
        message: StoredMessage,
        file: tuple[str, str | None, bytes],
        filename: str | None,
    ) -> StoredAttachment:
        name, content_type, data = file
        name = filename or name
        width = height = None
        sniffed = _sniff(data)
        if sniffed is not None:
            content_type, width, height = sniffed
        attachment_id = self._ids.next()
        attachment = StoredAttachment(
            id=attachment_id,
            filename=name,
            size=len(data),
            content_type=content_type,
            width=width,
            height=height,
            data=data,
            url=f"{self.url}/attachments/{attachment_id}/{name}",
            ephemeral=message.ephemeral,
        )
        self._attachments[attachment_id] = attachment
        return attachment

    def _message_json(self, message: StoredMessage) -> dict[str, Any]:
        mentions = []
        for user_id in dict.fromkeys(_MENTION.findall(message.content)):
            member = self._user_by_id(int(user_id))
            if member is not None:
                mentions.append(member.user_json())
        data: dict[str, Any] = {
            "id": str(message.id),
            "channel_id": str(message.channel_id),
            "author": copy.deepcopy(message.author),
            "content": message.content,
            "timestamp": _iso(message.created_at),
            "edited_timestamp": _iso(message.edited_at) if message.edited_at else None,
            "tts": False,
            "mention_everyone": False,
            "mentions": mentions,
            "mention_roles": [],
            "mention_channels": [],
            "attachments": [a.to_json() for a in message.attachments],
            "embeds": copy.deepcopy(message.embeds),
            "reactions": [],
            "pinned": False,
            "type": message.type,
            "flags": message.flags,
            "components": copy.deepcopy(message.components),
        }
        if message.webhook_id is not None:
            data["webhook_id"] = str(message.webhook_id)
            data["application_id"] = str(self.application_id)
        if message.interaction_id is not None:
            data["interaction_metadata"] = {
                "id": str(message.interaction_id),
                "type": message.interaction_type,
                "user": copy.deepcopy(message.interaction_user),
                "authorizing_integration_owners": {"0": str(message.guild_id)},
            }
            if message.interaction_type == 2:
                data["interaction"] = {
                    "id": str(message.interaction_id),
                    "type": 2,
                    "name": message.interaction_name,
                    "user": copy.deepcopy(message.interaction_user),
                }
        return data


class _MessageReads(_MessageStore):
    """The driver's reads of messages and attachments (deep copies, under ``_cond``).

    Reads: ``_messages``, ``_attachments``."""

    def message(self, message_id: int) -> StoredMessage:
        with self._cond:
            return copy.deepcopy(self._messages[int(message_id)])

    def messages(
        self,
        channel_id: int | None = None,
        *,
        visible_to: FakeMember | int | None = None,
        include_deleted: bool = False,
    ) -> list[StoredMessage]:
        """Messages oldest first; ``visible_to`` keeps what that member can see."""
        viewer = visible_to.id if isinstance(visible_to, FakeMember) else visible_to
        with self._cond:
            return [
                copy.deepcopy(m)
                for m in self._messages.values()
                if (channel_id is None or m.channel_id == channel_id)
                and (include_deleted or not m.deleted)
                and (viewer is None or m.visible_to is None or m.visible_to == viewer)
            ]

    def wait_for_message(
        self,
        predicate: Callable[[StoredMessage], bool],
        timeout: float = 60,
        channel_id: int | None = None,
    ) -> StoredMessage:
        """The first live message (created or edited) for which ``predicate`` holds."""

        def check() -> StoredMessage | None:
            for message in self._messages.values():
                if message.deleted or (channel_id is not None and message.channel_id != channel_id):
                    continue
                if predicate(message):
                    return copy.deepcopy(message)
            return None

        return self._wait(check, timeout, "a matching message")

    def attachment_bytes(self, attachment: StoredAttachment | int) -> bytes:
        key = attachment.id if isinstance(attachment, StoredAttachment) else int(attachment)
        with self._cond:
            return self._attachments[key].data

    def message_mark(self) -> int:
        """How many messages were ever created (deleted ones included): a mark for
        ``public_messages_since``. The fake never forgets a message."""
        with self._cond:
            return len(self._messages)

    def public_messages_since(
        self, mark: int, *, channel_id: int | None = None
    ) -> list[StoredMessage]:
        """Every non-ephemeral message created after ``mark``, oldest first, deleted ones
        and "thinking…" ones included: what everyone in the channel could have seen."""
        with self._cond:
            return [
                copy.deepcopy(m)
                for m in list(self._messages.values())[mark:]
                if not m.ephemeral and (channel_id is None or m.channel_id == channel_id)
            ]


class _ChannelRoutes(_MessageStore):
    """``/channels/{id}/messages``: the bot's channel messages (see ``FakeDiscord._routes``).

    Writes: ``_messages`` (new, edited, deleted). Reads: ``attachment_size_limit``,
    ``bot_member``."""

    def _channel_message(self, channel: str, mid: str) -> StoredMessage:
        self._known_channel(channel)
        with self._cond:
            message = self._messages.get(int(mid))
        if (
            message is None
            or message.deleted
            or message.channel_id != int(channel)
            or message.ephemeral
        ):
            raise DiscordError(404, 10008, "Unknown Message")
        return message

    async def _channel_post(self, request: web.Request, channel: str) -> tuple[int, Any]:
        place = self._known_channel(channel)
        payload, files = await _read_body(request)
        if not isinstance(payload, dict):
            payload = {}
        flags = payload.get("flags") or 0
        if flags & ~(SUPPRESS_EMBEDS | SUPPRESS_NOTIFICATIONS | IS_COMPONENTS_V2):
            raise DiscordError(
                400,
                50035,
                "Invalid Form Body",
                {"flags": _field_error("MESSAGE_FLAGS_INVALID", f"Invalid flags {flags}")},
            )
        _validate_message(
            payload, files, self.attachment_size_limit, self._attachments, creating=True
        )
        with self._cond:
            message = StoredMessage(
                id=self._ids.next(),
                channel_id=place.id,
                guild_id=place.guild_id,
                author=self.bot_member.user_json(),
                kind="channel",
                type=0,
                created_at=time.time(),
            )
            self._messages[message.id] = message
            self._apply(message, payload, files, creating=True)
            self._cond.notify_all()
            return 200, self._message_json(message)

    async def _channel_get(self, request: web.Request, channel: str, mid: str) -> tuple[int, Any]:
        message = self._channel_message(channel, mid)
        with self._cond:
            return 200, self._message_json(message)

    async def _channel_edit(self, request: web.Request, channel: str, mid: str) -> tuple[int, Any]:
        payload, files = await _read_body(request)
        message = self._channel_message(channel, mid)
        if message.author.get("id") != str(self.bot_user_id):
            raise DiscordError(403, 50005, "Cannot edit a message authored by another user")
        if not isinstance(payload, dict):
            payload = {}
        _validate_message(
            payload, files, self.attachment_size_limit, self._attachments, creating=False
        )
        with self._cond:
            self._apply(message, payload, files, creating=False)
            self._cond.notify_all()
            return 200, self._message_json(message)

    async def _channel_delete(
        self, request: web.Request, channel: str, mid: str
    ) -> tuple[int, Any]:
        message = self._channel_message(channel, mid)
        with self._cond:
            message.deleted = True
            message.deleted_at = time.time()
            self._cond.notify_all()
        return 204, None
