"""Discord's checks on what the bot sends (message bodies, components, command trees), and
``_sniff``: an image's type and size as Discord reports them. Pure functions."""

from __future__ import annotations

import io
import re
from collections.abc import Container
from typing import Any

from .constants import (
    IS_COMPONENTS_V2,
    MAX_ATTACHMENTS,
    MAX_CONTENT,
    MAX_CUSTOM_ID,
    MAX_LABEL,
    MAX_ROW_ITEMS,
    MAX_ROWS,
    OPTION_TYPE_NAMES,
    SUB_COMMAND,
    SUB_COMMAND_GROUP,
)
from .model import DiscordError, _field_error

_COMMAND_NAME = re.compile(r"^[-_\w]{1,32}$")


def _validate_message(
    payload: dict[str, Any],
    files: dict[int, tuple[str, str | None, bytes]],
    size_limit: int,
    known_attachments: Container[int],
    *,
    creating: bool,
) -> None:
    """Discord's checks on a message body (``DiscordError`` when it fails them):
    ``files`` are the uploaded parts, ``known_attachments`` the ids of files already
    stored (an ``attachments`` entry may name one of either)."""
    errors: dict[str, Any] = {}
    content = payload.get("content")
    if content is not None and not isinstance(content, str):
        errors["content"] = _field_error("BASE_TYPE_STRING", "Must be a string.")
    elif content is not None and len(content) > MAX_CONTENT:
        errors["content"] = _field_error(
            "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_CONTENT} or fewer in length."
        )
    components = payload.get("components")
    if (payload.get("flags") or 0) & IS_COMPONENTS_V2:
        # Everything is in the components: no content, embeds, stickers or poll.
        for legacy in ("content", "embeds", "sticker_ids", "poll"):
            if payload.get(legacy):
                errors[legacy] = _field_error(
                    "MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2",
                    f"{legacy} cannot be used with the IS_COMPONENTS_V2 flag.",
                )
        if "components" in payload:
            component_errors = _validate_components_v2(components)
            if component_errors:
                errors["components"] = component_errors
    elif components:
        component_errors = _validate_components(components)
        if component_errors:
            errors["components"] = component_errors
    attachments = payload.get("attachments")
    count = len(attachments) if attachments is not None else len(files)
    if count > MAX_ATTACHMENTS:
        errors["attachments"] = _field_error(
            "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_ATTACHMENTS} or fewer in length."
        )
    if attachments is not None:
        for position, item in enumerate(attachments):
            if not isinstance(item, dict) or "id" not in item:
                errors.setdefault("attachments", {})[str(position)] = {
                    "id": _field_error("BASE_TYPE_REQUIRED", "This field is required")
                }
                continue
            key = int(item["id"])
            if key not in files and key not in known_attachments:
                errors.setdefault("attachments", {})[str(position)] = {
                    "id": _field_error("ATTACHMENT_NOT_FOUND", f"Unknown attachment {key}")
                }
    embeds = payload.get("embeds")
    if embeds is not None and len(embeds) > 10:
        errors["embeds"] = _field_error("BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
    if errors:
        raise DiscordError(400, 50035, "Invalid Form Body", errors)
    for _, _, data in files.values():
        if len(data) > size_limit:
            raise DiscordError(413, 40005, "Request entity too large")
    parts = (content, embeds, files, components, attachments, payload.get("sticker_ids"))
    if creating and not any(parts) and not payload.get("poll"):
        raise DiscordError(400, 50006, "Cannot send an empty message")


def _validate_components(components: Any) -> dict[str, Any]:
    """Discord's checks on legacy (action row) components; an ``errors`` object or {}."""
    if not isinstance(components, list):
        return _field_error("BASE_TYPE_LIST", "Must be a list.")
    errors: dict[str, Any] = {}
    if len(components) > MAX_ROWS:
        errors.update(
            _field_error("BASE_TYPE_MAX_LENGTH", f"Must be {MAX_ROWS} or fewer in length.")
        )
    seen: set[str] = set()
    for row_index, row in enumerate(components):
        row_errors: dict[str, Any] = {}
        if not isinstance(row, dict) or row.get("type") != 1:
            errors[str(row_index)] = _field_error(
                "UNION_TYPE_CHOICES", "Top-level components must be action rows."
            )
            continue
        items = row.get("components") or []
        if not items:
            row_errors["components"] = _field_error(
                "BASE_TYPE_MIN_LENGTH", "Must be 1 or more in length."
            )
        elif len(items) > MAX_ROW_ITEMS:
            row_errors["components"] = _field_error(
                "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_ROW_ITEMS} or fewer in length."
            )
        for item_index, item in enumerate(items):
            item_errors: dict[str, Any] = {}
            if item.get("type") != 2:
                if item.get("type") in (3, 5, 6, 7, 8) and len(items) == 1:
                    custom_id = item.get("custom_id") or ""
                    if not 1 <= len(custom_id) <= MAX_CUSTOM_ID:
                        item_errors["custom_id"] = _field_error(
                            "BASE_TYPE_BAD_LENGTH",
                            f"Must be between 1 and {MAX_CUSTOM_ID} in length.",
                        )
                    elif custom_id in seen:
                        item_errors["custom_id"] = _field_error(
                            "COMPONENT_CUSTOM_ID_DUPLICATED",
                            "Component custom id cannot be duplicated",
                        )
                    seen.add(custom_id)
                    if item.get("type") == 3:
                        item_errors.update(_select_problems(item))
                else:
                    item_errors["type"] = _field_error(
                        "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                        "A select menu must be alone in its action row.",
                    )
            else:
                style = item.get("style")
                label = item.get("label")
                if style not in (1, 2, 3, 4, 5, 6):
                    item_errors["style"] = _field_error(
                        "BASE_TYPE_CHOICES", f"Invalid style {style}"
                    )
                if label is not None and len(label) > MAX_LABEL:
                    item_errors["label"] = _field_error(
                        "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_LABEL} or fewer in length."
                    )
                if not label and not item.get("emoji") and style != 6:
                    item_errors["label"] = _field_error(
                        "BUTTON_COMPONENT_INVALID", "A button needs a label or an emoji."
                    )
                if style == 5:
                    if not item.get("url") or item.get("custom_id"):
                        item_errors["url"] = _field_error(
                            "BUTTON_COMPONENT_URL_REQUIRED", "A link button needs a url only."
                        )
                elif style != 6:
                    custom_id = item.get("custom_id")
                    if not isinstance(custom_id, str) or not 1 <= len(custom_id) <= MAX_CUSTOM_ID:
                        item_errors["custom_id"] = _field_error(
                            "BASE_TYPE_BAD_LENGTH",
                            f"Must be between 1 and {MAX_CUSTOM_ID} in length.",
                        )
                    elif custom_id in seen:
                        item_errors["custom_id"] = _field_error(
                            "COMPONENT_CUSTOM_ID_DUPLICATED",
                            "Component custom id cannot be duplicated",
                        )
                    else:
                        seen.add(custom_id)
            if item_errors:
                row_errors.setdefault("components", {})[str(item_index)] = item_errors
        if row_errors:
            errors[str(row_index)] = row_errors
    return errors


def _validate_commands(commands: list[Any]) -> dict[str, Any]:
    """Discord's checks on a bulk command overwrite; an ``errors`` object or {}."""
    errors: dict[str, Any] = {}
    names: set[tuple[str, int]] = set()
    if len(commands) > 100:
        errors.update(_field_error("BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer in length."))
    for index, command in enumerate(commands):
        found = _validate_command(command, top=True)
        key = (command.get("name"), command.get("type", 1))
        if key in names:
            found.setdefault(
                "name", _field_error("APPLICATION_COMMANDS_DUPLICATE_NAME", "duplicate")
            )
        names.add(key)
        if found:
            errors[str(index)] = found
    return errors


def _validate_command(command: dict[str, Any], *, top: bool) -> dict[str, Any]:
    errors: dict[str, Any] = {}
    name = command.get("name")
    kind = command.get("type", 1) if top else command.get("type")
    chat = (top and kind == 1) or not top
    if (
        not isinstance(name, str)
        or not _COMMAND_NAME.match(name)
        or (chat and name != name.lower())
    ):
        errors["name"] = _field_error("APPLICATION_COMMAND_INVALID_NAME", f"Invalid name {name!r}")
    description = command.get("description", "")
    if chat and not 1 <= len(description or "") <= 100:
        errors["description"] = _field_error(
            "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."
        )
    options = command.get("options") or []
    if len(options) > 25:
        errors["options"] = _field_error("BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    seen_optional = False
    option_names = set()
    for index, option in enumerate(options):
        option_errors = _validate_command(option, top=False)
        if option.get("type") not in OPTION_TYPE_NAMES:
            option_errors["type"] = _field_error("BASE_TYPE_CHOICES", "Invalid option type")
        if option.get("required"):
            if seen_optional:
                option_errors["required"] = _field_error(
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed before non-required options",
                )
        elif option.get("type") not in (SUB_COMMAND, SUB_COMMAND_GROUP):
            seen_optional = True
        if option.get("name") in option_names:
            option_errors["name"] = _field_error(
                "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS", "duplicate option name"
            )
        option_names.add(option.get("name"))
        choices = option.get("choices") or []
        if len(choices) > 25:
            option_errors["choices"] = _field_error(
                "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."
            )
        if option_errors:
            errors.setdefault("options", {})[str(index)] = option_errors
    return errors


def _sniff(data: bytes) -> tuple[str, int | None, int | None] | None:
    """The content type and size of an image (or an MP4 clip), as Discord reports them."""
    if data[4:8] == b"ftyp":
        return "video/mp4", None, None
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        width = int.from_bytes(data[16:20], "big")
        height = int.from_bytes(data[20:24], "big")
        return "image/png", width, height
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as image:
            mime = Image.MIME.get(image.format or "", None)
            if mime is None:
                return None
            return mime, image.width, image.height
    except Exception:
        return None


MAX_MODAL_TITLE = 45
MAX_MODAL_ITEMS = 5
MAX_TEXT_INPUT = 4000
MAX_PLACEHOLDER = 100
MAX_LABEL_TEXT = 45
MAX_LABEL_DESCRIPTION = 100
MAX_SELECT_OPTIONS = 25


def modal_inputs(components: list[dict[str, Any]]) -> list[tuple[dict[str, Any], str]]:
    """The text inputs of a modal, each with its label: in ``Label`` components (type 18)
    or, the older way, alone in an action row (type 1) with their own ``label``."""
    found = []
    for item in components:
        if item.get("type") == 18 and isinstance(item.get("component"), dict):
            found.append((item["component"], str(item.get("label") or "")))
        elif item.get("type") == 1:
            for child in item.get("components") or []:
                found.append((child, str(child.get("label") or "")))
    return found


def _validate_modal(data: dict[str, Any]) -> dict[str, Any]:
    """Discord's checks on a modal (interaction response type 9); an ``errors`` object."""
    errors: dict[str, Any] = {}
    for key in ("custom_id", "title", "components"):
        if key not in data:
            errors[key] = _field_error("BASE_TYPE_REQUIRED", "This field is required")
    if errors:
        return errors
    custom_id, title, components = data["custom_id"], data["title"], data["components"]
    if not isinstance(custom_id, str) or not 1 <= len(custom_id) <= MAX_CUSTOM_ID:
        errors["custom_id"] = _field_error(
            "BASE_TYPE_BAD_LENGTH", f"Must be between 1 and {MAX_CUSTOM_ID} in length."
        )
    if not isinstance(title, str) or not 1 <= len(title) <= MAX_MODAL_TITLE:
        errors["title"] = _field_error(
            "BASE_TYPE_BAD_LENGTH", f"Must be between 1 and {MAX_MODAL_TITLE} in length."
        )
    if not isinstance(components, list) or not 1 <= len(components) <= MAX_MODAL_ITEMS:
        errors["components"] = _field_error(
            "BASE_TYPE_BAD_LENGTH", f"Must be between 1 and {MAX_MODAL_ITEMS} in length."
        )
        return errors
    seen: set[str] = set()
    for position, item in enumerate(components):
        item_errors: dict[str, Any] = {}
        if item.get("type") == 18:
            if not 1 <= len(str(item.get("label") or "")) <= MAX_LABEL_TEXT:
                item_errors["label"] = _field_error(
                    "BASE_TYPE_BAD_LENGTH", f"Must be between 1 and {MAX_LABEL_TEXT} in length."
                )
            if len(str(item.get("description") or "")) > MAX_LABEL_DESCRIPTION:
                item_errors["description"] = _field_error(
                    "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_LABEL_DESCRIPTION} or fewer in length."
                )
            inner = [item.get("component")]
        elif item.get("type") == 1:
            inner = item.get("components") or []
            if len(inner) != 1:
                item_errors["components"] = _field_error(
                    "BASE_TYPE_BAD_LENGTH", "An action row in a modal holds one text input."
                )
        else:
            item_errors["type"] = _field_error(
                "UNION_TYPE_CHOICES", "A modal holds labels (or action rows of text inputs)."
            )
            inner = []
        for child in inner:
            problems = _text_input_problems(child, labelled=item.get("type") == 18)
            custom = child.get("custom_id") if isinstance(child, dict) else None
            if custom in seen:
                problems["custom_id"] = _field_error(
                    "COMPONENT_CUSTOM_ID_DUPLICATED", "Component custom id cannot be duplicated"
                )
            seen.add(custom)  # type: ignore[arg-type]
            if problems:
                item_errors["component"] = problems
        if item_errors:
            errors[f"components.{position}"] = item_errors
    return errors


def _text_input_problems(child: Any, *, labelled: bool) -> dict[str, Any]:
    if not isinstance(child, dict) or child.get("type") != 4:
        return _field_error("UNION_TYPE_CHOICES", "Expected a text input (type 4).")
    problems: dict[str, Any] = {}
    custom_id = child.get("custom_id")
    if not isinstance(custom_id, str) or not 1 <= len(custom_id) <= MAX_CUSTOM_ID:
        problems["custom_id"] = _field_error(
            "BASE_TYPE_BAD_LENGTH", f"Must be between 1 and {MAX_CUSTOM_ID} in length."
        )
    if child.get("style") not in (1, 2):
        problems["style"] = _field_error("BASE_TYPE_CHOICES", "Style is 1 (short) or 2.")
    if not labelled and not 1 <= len(str(child.get("label") or "")) <= MAX_LABEL_TEXT:
        problems["label"] = _field_error("BASE_TYPE_REQUIRED", "A text input needs a label.")
    low, high = child.get("min_length", 0), child.get("max_length", MAX_TEXT_INPUT)
    if not (0 <= low <= MAX_TEXT_INPUT and 1 <= high <= MAX_TEXT_INPUT and low <= high):
        problems["max_length"] = _field_error(
            "BASE_TYPE_BAD_LENGTH", f"Lengths are 0..{MAX_TEXT_INPUT}, min <= max."
        )
    if len(str(child.get("value") or "")) > high:
        problems["value"] = _field_error(
            "BASE_TYPE_MAX_LENGTH", f"Must be {high} or fewer in length."
        )
    if len(str(child.get("placeholder") or "")) > MAX_PLACEHOLDER:
        problems["placeholder"] = _field_error(
            "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_PLACEHOLDER} or fewer in length."
        )
    return problems


def _select_problems(item: dict[str, Any]) -> dict[str, Any]:
    """Discord's checks on a string select's options and value counts."""
    problems: dict[str, Any] = {}
    options = item.get("options") or []
    if not 1 <= len(options) <= MAX_SELECT_OPTIONS:
        problems["options"] = _field_error(
            "BASE_TYPE_BAD_LENGTH", f"Must be between 1 and {MAX_SELECT_OPTIONS} in length."
        )
    values = [option.get("value") for option in options]
    if len(set(values)) != len(values) or not all(
        isinstance(v, str) and 1 <= len(v) <= 100 for v in values
    ):
        problems["options.value"] = _field_error(
            "SELECT_COMPONENT_OPTION_VALUE_DUPLICATED", "Option values are unique, 1..100."
        )
    if not all(1 <= len(str(option.get("label") or "")) <= 100 for option in options):
        problems["options.label"] = _field_error("BASE_TYPE_BAD_LENGTH", "Labels are 1..100.")
    low, high = item.get("min_values", 1), item.get("max_values", 1)
    if not (0 <= low <= high <= max(1, len(options)) and high >= 1):
        problems["max_values"] = _field_error(
            "BASE_TYPE_BAD_LENGTH", "0 <= min_values <= max_values <= the number of options."
        )
    return problems


# Components V2 (a message with the IS_COMPONENTS_V2 flag): layout and content in
# components alone. https://discord.com/developers/docs/components/reference
V2_TOP_LEVEL = {
    1: "action row",
    9: "section",
    10: "text display",
    12: "media gallery",
    13: "file",
    14: "separator",
    17: "container",
}
MAX_V2_COMPONENTS = 40
MAX_V2_TEXT = 4000
MAX_GALLERY_ITEMS = 10
MAX_MEDIA_DESCRIPTION = 1024


def v2_media_urls(components: list[dict[str, Any]]) -> list[str]:
    """Every media URL of a V2 layout (thumbnails, gallery items, files), in order."""
    urls: list[str] = []

    def walk(items: Any) -> None:
        for item in items or ():
            if not isinstance(item, dict):
                continue
            media = item.get("media") or item.get("file")
            if isinstance(media, dict) and isinstance(media.get("url"), str):
                urls.append(media["url"])
            for key in ("components", "items"):
                walk(item.get(key))
            if isinstance(item.get("accessory"), dict):
                walk([item["accessory"]])

    walk(components)
    return urls


def _validate_components_v2(components: Any) -> dict[str, Any]:
    """Discord's checks on a V2 layout; an ``errors`` object or {}."""
    if not isinstance(components, list) or not components:
        return _field_error("BASE_TYPE_BAD_LENGTH", "A V2 message needs components.")
    errors: dict[str, Any] = {}
    count = 0
    text = 0
    seen: set[str] = set()

    def check(item: Any, where: str, allowed: set[int]) -> None:
        nonlocal count, text
        count += 1
        if not isinstance(item, dict) or item.get("type") not in allowed:
            kind = item.get("type") if isinstance(item, dict) else None
            errors[where] = _field_error(
                "UNION_TYPE_CHOICES", f"Component type {kind} is not allowed here."
            )
            return
        kind = item["type"]
        custom_id = item.get("custom_id")
        if custom_id is not None:
            if custom_id in seen:
                errors[where] = _field_error(
                    "COMPONENT_CUSTOM_ID_DUPLICATED", "Component custom id cannot be duplicated"
                )
            seen.add(custom_id)
        if kind == 1:
            legacy = _validate_components([item])
            if legacy:
                errors[where] = legacy
            count += len(item.get("components") or [])
        elif kind == 9:  # section: 1-3 text displays and an accessory
            parts = item.get("components") or []
            if not 1 <= len(parts) <= 3:
                errors[where] = _field_error("BASE_TYPE_BAD_LENGTH", "1 to 3 text displays.")
            for index, part in enumerate(parts):
                check(part, f"{where}.components.{index}", {10})
            accessory = item.get("accessory")
            if accessory is None:
                errors[f"{where}.accessory"] = _field_error(
                    "BASE_TYPE_REQUIRED", "A section needs an accessory."
                )
            else:
                check(accessory, f"{where}.accessory", {2, 11})
        elif kind == 10:
            content = item.get("content")
            if not isinstance(content, str) or not content:
                errors[where] = _field_error("BASE_TYPE_REQUIRED", "Text display needs content.")
            else:
                text += len(content)
        elif kind in (11, 13):
            media = item.get("media") if kind == 11 else item.get("file")
            if not isinstance(media, dict) or not isinstance(media.get("url"), str):
                errors[where] = _field_error("BASE_TYPE_REQUIRED", "Media needs a url.")
            if len(str(item.get("description") or "")) > MAX_MEDIA_DESCRIPTION:
                errors[f"{where}.description"] = _field_error(
                    "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_MEDIA_DESCRIPTION} or fewer."
                )
        elif kind == 12:
            gallery = item.get("items") or []
            if not 1 <= len(gallery) <= MAX_GALLERY_ITEMS:
                errors[where] = _field_error(
                    "BASE_TYPE_BAD_LENGTH", f"1 to {MAX_GALLERY_ITEMS} items."
                )
            for index, entry in enumerate(gallery):
                media = entry.get("media") if isinstance(entry, dict) else None
                if not isinstance(media, dict) or not isinstance(media.get("url"), str):
                    errors[f"{where}.items.{index}"] = _field_error(
                        "BASE_TYPE_REQUIRED", "Media needs a url."
                    )
                elif len(str(entry.get("description") or "")) > MAX_MEDIA_DESCRIPTION:
                    errors[f"{where}.items.{index}"] = _field_error(
                        "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_MEDIA_DESCRIPTION} or fewer."
                    )
        elif kind == 17:
            for index, part in enumerate(item.get("components") or []):
                check(part, f"{where}.components.{index}", set(V2_TOP_LEVEL) - {17})

    for position, item in enumerate(components):
        check(item, str(position), set(V2_TOP_LEVEL))
    if count > MAX_V2_COMPONENTS:
        errors["_count"] = _field_error(
            "BASE_TYPE_MAX_LENGTH", f"At most {MAX_V2_COMPONENTS} components ({count})."
        )
    if text > MAX_V2_TEXT:
        errors["_text"] = _field_error(
            "BASE_TYPE_MAX_LENGTH", f"At most {MAX_V2_TEXT} characters of text ({text})."
        )
    return errors
