"""The bot's answers to interactions: the interaction callback (the first response, within
``ack_deadline``) and the interaction webhook (followups, ``@original`` and followup
reads, edits and deletes, while the token lives ``token_lifetime``).

Deferrals follow Discord's documented rules: see "Deferrals" in the package docstring.
"""

from __future__ import annotations

import copy
import time
from typing import Any

from aiohttp import web

from .constants import EPHEMERAL, LOADING
from .messages import _MessageStore
from .model import Callback, DiscordError, StoredMessage, _field_error, _InteractionRecord
from .rest import _read_body
from .validation import _validate_message, _validate_modal


class _ResponseRoutes(_MessageStore):
    """``/interactions/{id}/{token}/callback`` and ``/webhooks/{app}/{token}...``.

    Writes: the ``_interactions`` records (``ack``, ``original_id``, ``followup_ids``,
    ``modal``, ``deferral_pending``) and ``_messages``. Reads: ``_by_token``,
    ``ack_deadline``, ``token_lifetime``."""

    async def _callback(
        self, request: web.Request, interaction: str, token: str
    ) -> tuple[int, Any]:
        payload, files = await _read_body(request)
        with self._cond:
            record = self._interactions.get(int(interaction))
            if record is None or record.token != token:
                raise DiscordError(404, 10062, "Unknown interaction")
            latency = time.monotonic() - record.created
            if record.ack is not None:
                raise DiscordError(400, 40060, "Interaction has already been acknowledged.")
            if latency > self.ack_deadline or record.expired:
                raise DiscordError(404, 10062, "Unknown interaction")
        if not isinstance(payload, dict) or "type" not in payload:
            raise DiscordError(
                400,
                50035,
                "Invalid Form Body",
                {"type": _field_error("BASE_TYPE_REQUIRED", "This field is required")},
            )
        kind = payload["type"]
        data = payload.get("data") or {}
        if record.type == 2:
            allowed = {4, 5, 9}
        elif record.type == 5:
            # A modal submit: no modal in answer; an update only of the message whose
            # component opened the modal.
            allowed = {4, 5, 6, 7} if record.source_message_id is not None else {4, 5}
        else:
            allowed = {4, 5, 6, 7, 9}
        if kind not in allowed:
            raise DiscordError(
                400,
                50035,
                "Invalid Form Body",
                {
                    "type": _field_error(
                        "INTERACTION_RESPONSE_TYPE_INVALID",
                        f"Interaction response type {kind} is not valid for this interaction",
                    )
                },
            )
        ephemeral = bool((data.get("flags") or 0) & EPHEMERAL)
        message: StoredMessage | None = None
        if kind == 4:
            _validate_message(
                data, files, record.attachment_size_limit, self._attachments, creating=True
            )
        elif kind == 7:
            _validate_message(
                data, files, record.attachment_size_limit, self._attachments, creating=False
            )
        elif kind == 9:
            errors = _validate_modal(data)
            if errors:
                raise DiscordError(400, 50035, "Invalid Form Body", {"data": errors})
        with self._cond:
            if record.ack is not None:
                raise DiscordError(400, 40060, "Interaction has already been acknowledged.")
            if kind in (4, 5):
                message = self._new_message(record, "original")
                message.flags = EPHEMERAL if ephemeral else 0
                if ephemeral:
                    message.visible_to = record.member.id
                if kind == 4:
                    self._apply(message, data, files, creating=True)
                else:
                    message.flags |= LOADING
                    message.edits.append(message.snapshot())
                    record.deferral_pending = True
                record.original_id = message.id
            elif kind in (6, 7):
                message = self._messages[record.source_message_id]  # type: ignore[index]
                record.original_id = message.id
                if kind == 7:
                    self._apply(message, data, files, creating=False)
            else:
                record.modal = copy.deepcopy(data)
            record.ack = Callback(kind, latency, ephemeral)
            self._cond.notify_all()
            if request.query.get("with_response") not in ("1", "true", "True"):
                return 204, None
            response: dict[str, Any] = {
                "interaction": {
                    "id": str(record.id),
                    "type": record.type,
                    "response_message_id": str(message.id) if message else None,
                    "response_message_loading": kind == 5,
                    "response_message_ephemeral": bool(message and message.ephemeral),
                }
            }
            if message is not None and kind in (4, 5, 7):
                response["resource"] = {"type": kind, "message": self._message_json(message)}
            return 200, response

    def _token_record(self, app: str, token: str) -> _InteractionRecord:
        if int(app) != self.application_id:
            raise DiscordError(404, 10015, "Unknown Webhook")
        with self._cond:
            record = self._by_token.get(token)
        if record is None:
            raise DiscordError(404, 10015, "Unknown Webhook")
        if record.expired or time.monotonic() - record.created > self.token_lifetime:
            raise DiscordError(401, 50027, "Invalid Webhook Token")
        if record.ack is None:
            raise DiscordError(404, 10015, "Unknown Webhook")
        return record

    def _token_message(self, record: _InteractionRecord, mid: str) -> StoredMessage:
        if mid == "@original":
            message = self._original_of(record)
        elif int(mid) == record.original_id or int(mid) in record.followup_ids:
            message = self._messages.get(int(mid))
        else:
            message = None
        if message is None or message.deleted:
            raise DiscordError(404, 10008, "Unknown Message")
        return message

    async def _followup(self, request: web.Request, app: str, token: str) -> tuple[int, Any]:
        payload, files = await _read_body(request)
        record = self._token_record(app, token)
        if not isinstance(payload, dict):
            payload = {}
        _validate_message(
            payload, files, record.attachment_size_limit, self._attachments, creating=True
        )
        with self._cond:
            original = self._original_of(record)
            if record.deferral_pending and original is not None and not original.deleted:
                # The first followup after a deferred "thinking" response replaces it and
                # keeps its visibility, whatever the followup asked for.
                record.deferral_pending = False
                message = original
                self._apply(message, payload, files, creating=False)
            else:
                message = self._new_message(record, "followup")
                if record.deferral_pending:
                    # The "thinking" message was deleted: the first followup still takes
                    # the deferral's visibility (a public deferral stays public).
                    record.deferral_pending = False
                    ephemeral = bool(record.ack and record.ack.ephemeral)
                else:
                    ephemeral = bool((payload.get("flags") or 0) & EPHEMERAL)
                if ephemeral:
                    message.flags = EPHEMERAL
                    message.visible_to = record.member.id
                self._apply(message, payload, files, creating=True)
            if message.id not in record.followup_ids:
                record.followup_ids.append(message.id)
            self._cond.notify_all()
            if request.query.get("wait") in ("1", "true", "True"):
                return 200, self._message_json(message)
            return 204, None

    async def _webhook_get(
        self, request: web.Request, app: str, token: str, mid: str
    ) -> tuple[int, Any]:
        record = self._token_record(app, token)
        with self._cond:
            return 200, self._message_json(self._token_message(record, mid))

    async def _webhook_edit(
        self, request: web.Request, app: str, token: str, mid: str
    ) -> tuple[int, Any]:
        payload, files = await _read_body(request)
        record = self._token_record(app, token)
        if not isinstance(payload, dict):
            payload = {}
        _validate_message(
            payload, files, record.attachment_size_limit, self._attachments, creating=False
        )
        with self._cond:
            message = self._token_message(record, mid)
            self._apply(message, payload, files, creating=False)
            if message.id == record.original_id:
                # Editing the "thinking" message answers the deferral: later followups
                # are new messages with their own flags.
                record.deferral_pending = False
            self._cond.notify_all()
            return 200, self._message_json(message)

    async def _webhook_delete(
        self, request: web.Request, app: str, token: str, mid: str
    ) -> tuple[int, Any]:
        record = self._token_record(app, token)
        with self._cond:
            message = self._token_message(record, mid)
            message.deleted = True
            message.deleted_at = time.time()
            self._cond.notify_all()
        return 204, None
