"""Modals and select menus, the driver's side: what a member's client sends when they
fill in a form the bot opened (a type-5 MODAL_SUBMIT) or pick options in a select (a
type-3 component interaction with ``values``).

The payloads are Discord's: a submit names the modal's ``custom_id`` and carries each
text input's ``custom_id`` and ``value`` inside the same layout the modal was sent with
(``Label`` components, type 18, or action rows); a modal opened from a message component
carries that ``message``, and its submit may be answered by updating it (types 6, 7).
What a real client would refuse is refused here as ``CommandUsageError``: a required
input left empty, a value outside its lengths, options that the select does not have or
a count outside its ``min_values``/``max_values``.
"""

from __future__ import annotations

import copy
from typing import Any

from .interactions import Interaction, _Buttons
from .model import CommandUsageError, FakeMember, StoredMessage
from .validation import modal_inputs


class _Forms(_Buttons):
    """``modal_of``, ``submit_modal``, ``choose``. Reads: ``_interactions``, ``_messages``."""

    def modal_of(self, interaction: Interaction, timeout: float = 5) -> dict[str, Any]:
        """The modal the bot answered ``interaction`` with (type 9), waiting for it."""

        def check() -> dict[str, Any] | None:
            record = self._interactions[interaction.id]
            if record.ack is not None and record.ack.type != 9:
                raise AssertionError(f"{interaction!r} was answered with type {record.ack.type}")
            return copy.deepcopy(record.modal) if record.modal is not None else None

        return self._wait(check, timeout, f"a modal in answer to {interaction!r}")

    def submit_modal(
        self,
        interaction: Interaction,
        values: dict[str, str] | None = None,
        *,
        member: FakeMember | str | None = None,
        custom_id: str | None = None,
    ) -> Interaction:
        """Submit the modal opened in answer to ``interaction``: each text input keeps the
        value it was prefilled with unless ``values`` gives another (by its custom id).
        ``member`` (default: who opened it) and ``custom_id`` (default: the modal's) let
        a test send what a stale or forged client could."""
        modal = self.modal_of(interaction)
        who = interaction.member if member is None else member
        who = self.member(who) if isinstance(who, str) else who
        given = dict(values or {})
        components = []
        for item in modal["components"]:
            inputs = modal_inputs([item])
            filled = []
            for text_input, label in inputs:
                key = text_input["custom_id"]
                value = given.pop(key, text_input.get("value") or "")
                low = text_input.get("min_length", 0)
                high = text_input.get("max_length", 4000)
                if text_input.get("required", True) and not value:
                    raise CommandUsageError(f"{label or key!r} is required")
                if value and not low <= len(value) <= high:
                    raise CommandUsageError(f"{label or key!r} takes {low}..{high} characters")
                filled.append(
                    {"type": 4, "id": text_input.get("id", 0), "custom_id": key, "value": value}
                )
            if item.get("type") == 18:
                components.append({"type": 18, "id": item.get("id", 0), "component": filled[0]})
            else:
                components.append({"type": 1, "id": item.get("id", 0), "components": filled})
        if given:
            raise CommandUsageError(f"the modal has no inputs {sorted(given)}")
        record = self._interactions[interaction.id]
        source = record.source_message_id
        message_json = None
        with self._cond:
            if source is not None:
                message_json = self._message_json(self._messages[source])
            channel = self._channel_by_id(record.channel_id)
            assert channel is not None
        modal_id = custom_id or modal["custom_id"]
        data = {"custom_id": modal_id, "components": components}
        return self._send_interaction(
            5,
            who,
            channel,
            data,
            name=None,
            custom_id=modal_id,
            message=message_json,
            source_message_id=source,
        )

    def choose(
        self,
        message: StoredMessage | int,
        values: list[str],
        member: FakeMember | str,
        *,
        placeholder: str | None = None,
    ) -> Interaction:
        """Pick ``values`` in the select menu of ``message`` (the one with ``placeholder``
        when it has several) as ``member``."""
        member = self.member(member) if isinstance(member, str) else member
        message_id = message.id if isinstance(message, StoredMessage) else int(message)
        with self._cond:
            stored = self._visible_message(message_id, member)
            selects = [
                item
                for row in stored.components
                for item in row.get("components", [])
                if item.get("type") == 3
                and (placeholder is None or item.get("placeholder") == placeholder)
            ]
            if len(selects) != 1:
                raise CommandUsageError(f"message {message_id} has {len(selects)} such selects")
            select = selects[0]
            if select.get("disabled"):
                raise CommandUsageError("the select is disabled")
            offered = {option["value"] for option in select.get("options", [])}
            if not set(values) <= offered or len(set(values)) != len(values):
                raise CommandUsageError(f"{values} are not distinct options of the select")
            if not select.get("min_values", 1) <= len(values) <= select.get("max_values", 1):
                raise CommandUsageError(f"{len(values)} options is outside the select's range")
            message_json = self._message_json(stored)
            channel = self._channel_by_id(stored.channel_id)
            assert channel is not None
        data = {"custom_id": select["custom_id"], "component_type": 3, "values": list(values)}
        return self._send_interaction(
            3,
            member,
            channel,
            data,
            name=None,
            custom_id=select["custom_id"],
            message=message_json,
            source_message_id=message_id,
        )
