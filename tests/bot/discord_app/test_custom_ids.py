"""Custom ids: every id the bot builds is read back as what it carries, fits Discord's
100 characters, is claimed by exactly one handler (a collision answers a press twice, or
with the wrong feature: ⬅️ once opened /history), the ids already posted in Discord still
parse, and anything else is refused naming what is wrong."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest

from bot.discord_app import custom_ids as ids
from bot.discord_app import forms, history
from bot.discord_app.admin import WordPageButton, word_page
from bot.discord_app.buttons import JobButton, cancel_view, grid_view, upscale_view
from bot.discord_app.custom_ids import (
    DescribeChoice,
    Image,
    Page,
    Picker,
    Press,
    UnknownCustomId,
)
from bot.discord_app.describe import DescribeButton
from bot.discord_app.forms import RegionPromptButton, RegionSelect, RegionSubmitButton
from core.errors import UnknownJob, UserError
from core.model import Action

BIG = 2**63 - 1  # the largest snowflake
ALL_CELLS = tuple(range(1, 10))
DYNAMIC = (
    JobButton,
    history.HistoryButton,
    RegionSelect,
    RegionPromptButton,
    RegionSubmitButton,
    WordPageButton,
    DescribeButton,
)
FORMS = (ids.REMIX_FORM, ids.ZOOM_FORM, ids.REGION_FORM)
# The largest value of each format (the longest id it makes), and a small one.
SAMPLES: dict[ids.Format[Any], list[Any]] = {
    ids.JOB_BUTTON: [Press(action, BIG, 4) for action in Action] + [Press(Action.UPSCALE, 1, 0)],
    ids.REMIX_FORM: [Press(action, BIG, 4) for action in Action if action.remixable],
    ids.ZOOM_FORM: [Image(BIG, 4), Image(1, 0)],
    ids.REGION_SELECT: [Picker(BIG, 4, BIG), Picker(1, 0, 1)],
    ids.REGION_PROMPT: [Picker(BIG, 4, BIG, ALL_CELLS), Picker(1, 0, 1)],
    ids.REGION_SUBMIT: [Picker(BIG, 4, BIG, ALL_CELLS), Picker(1, 1, 1, (5,))],
    ids.REGION_FORM: [Picker(BIG, 4, BIG, ALL_CELLS), Picker(1, 1, 1, (2, 9))],
    ids.HISTORY_PAGE: [Page(999_999, BIG), Page(0, 1)],
    ids.WORD_PAGE: [Page(9999), Page(0)],
    ids.DESCRIBE_BUTTON: [DescribeChoice(BIG, "a"), DescribeChoice(1, "4"), DescribeChoice(7, "r")],
}
# Ids as earlier versions posted them (messages in Discord keep them): what each carries.
POSTED = {
    "u:12:1": Press(Action.UPSCALE, 12, 1),
    "v:12:4": Press(Action.VARY_STRONG, 12, 4),
    "r:12:0": Press(Action.REROLL, 12, 0),
    "x:12:0": Press(Action.CANCEL, 12, 0),
    "c:30:1": Press(Action.UPSCALE_CREATIVE, 30, 1),
    "a:30:1": Press(Action.PAN_LEFT, 30, 1),
    "m:30:1": Press(Action.CUSTOM_ZOOM, 30, 1),
    "g:30:1": Press(Action.VARY_REGION, 30, 1),
    "fr:z:30:1": Press(Action.ZOOM_OUT_2, 30, 1),
    "fz:30:1": Image(30, 1),
    "gs:30:1:555": Picker(30, 1, 555),
    "gp:30:1:555:": Picker(30, 1, 555),
    "gb:30:1:555:159": Picker(30, 1, 555, (1, 5, 9)),
    "fg:30:1:555:37": Picker(30, 1, 555, (3, 7)),
    "h:555:2": Page(2, 555),
    "bw:3": Page(3),
}


def _claims(custom_id: str) -> list[str]:
    return [
        cls.__name__
        for cls in DYNAMIC
        if cls.__discord_ui_compiled_template__.match(custom_id)  # type: ignore[attr-defined]
    ]


def test_every_format_is_listed_once_with_its_own_prefix() -> None:
    assert set(SAMPLES) == set(ids.FORMATS)
    prefixes = [f.prefix for f in ids.FORMATS]
    assert len(set(prefixes)) == len(prefixes)
    # One letter and a colon is a job button: no prefix may be an Action's letter.
    assert all(len(action.value) == 1 for action in Action)
    assert not {prefix.rstrip(":") for prefix in prefixes} & {a.value for a in Action}


@pytest.mark.parametrize("id_format", ids.FORMATS, ids=lambda f: f.component)
def test_every_id_built_is_read_back_and_fits(id_format: ids.Format[Any]) -> None:
    for value in SAMPLES[id_format]:
        custom_id = id_format.build(value)
        assert len(custom_id) <= ids.MAX_CUSTOM_ID, custom_id
        assert id_format.parse(custom_id) == value
        assert ids.parse(custom_id) == (id_format, value)


def test_the_longest_ids_leave_room() -> None:
    longest = max(len(f.build(value)) for f, values in SAMPLES.items() for value in values)
    assert longest == len(f"fg:{BIG}:4:{BIG}:123456789") <= ids.MAX_CUSTOM_ID


@pytest.mark.parametrize(("custom_id", "value"), POSTED.items())
def test_ids_already_posted_still_parse_to_what_they_carried(custom_id: str, value: Any) -> None:
    id_format, parsed = ids.parse(custom_id)
    assert parsed == value
    assert id_format.build(parsed) == custom_id  # the same string is still made


def test_the_module_docstring_documents_every_format() -> None:
    doc = ids.__doc__ or ""
    for id_format in ids.FORMATS:
        fields = re.findall(r"\(\?P<(\w+)>", id_format.fields)
        layout = id_format.prefix + ":".join(f"<{name}>" for name in fields)
        layout = layout.replace("<action>", "<letter>")
        assert f"``{layout}``" in doc, layout
    for text_input in (ids.PROMPT_FIELD, ids.FACTOR_FIELD):
        assert f"``{text_input}``" in doc


@pytest.mark.parametrize(
    ("custom_id", "says"),
    [
        ("q:12:1", "'q' is no job button's letter"),
        ("h2:12:1", "no format has the prefix 'h2'"),
        ("zz:1", "no format has the prefix 'zz'"),
        ("", "no format has the prefix ''"),
        ("fz:old-layout", "not a Custom Zoom form"),
        ("fr:u:12:1", "not a remix form"),  # the upscales have no remix form
        ("fr:x:12:1", "not a remix form"),
        ("u:12:5", "not a job button"),  # a grid has four images
        ("u:12", "not a job button"),
        ("gb:1:1:5:0", "not a region picker's Submit button"),
        ("h:5:1234567", "not a /history page button"),
        ("bw:-1", "not a word list page button"),
    ],
)
def test_unknown_prefixes_letters_and_fields_are_refused_by_name(custom_id: str, says: str) -> None:
    with pytest.raises(UnknownCustomId, match=re.escape(says)):
        ids.parse(custom_id)
    assert _claims(custom_id) == []
    assert not any(p.pattern.fullmatch(custom_id) for p in FORMS)


def test_a_value_that_would_not_read_back_is_not_built() -> None:
    with pytest.raises(ValueError, match="not a remix form"):
        ids.REMIX_FORM.build(Press(Action.UPSCALE, 1, 1))
    with pytest.raises(ValueError, match="not a job button"):
        ids.JOB_BUTTON.build(Press(Action.UPSCALE, 1, 5))
    with pytest.raises(ValueError, match="over 100 characters"):
        ids.REGION_FORM.build(Picker(10**60, 1, 10**40, ALL_CELLS))
    with pytest.raises(ValueError, match="not a word list page button"):
        ids.WORD_PAGE.build(Page(10_000))


async def test_each_item_id_is_claimed_by_its_own_class_only() -> None:
    views = [grid_view(BIG), cancel_view(BIG), upscale_view(BIG)]
    views.append(forms.picker_view(Picker(BIG, 4, BIG, ALL_CELLS)))
    views.append(forms.picker_view(Picker(BIG, 4, BIG)))
    views.append(word_page([f"word{n} " + "x" * 90 for n in range(100)], 2)[1])
    items = [item for view in views for item in view.children]
    assert len(items) > 25
    for item in items:
        custom_id = item.custom_id  # type: ignore[attr-defined]
        assert len(custom_id) <= 100, custom_id
        assert _claims(custom_id) == [type(item).__name__], custom_id
    for page_id in (f"h:{BIG}:1", f"h:{BIG}:999999"):
        assert _claims(page_id) == ["HistoryButton"]
    for page_id in ("bw:0", "bw:1", "bw:9999"):
        assert _claims(page_id) == ["WordPageButton"]


@pytest.mark.parametrize("action", list(Action))
def test_every_action_is_a_job_button_and_nothing_else(action: Action) -> None:
    assert _claims(f"{action.value}:{BIG}:4") == ["JobButton"]


def test_form_ids_are_told_apart() -> None:
    for id_format in FORMS:
        for value in SAMPLES[id_format]:
            custom_id = id_format.build(value)
            assert [f for f in FORMS if f.pattern.fullmatch(custom_id)] == [id_format]
            assert _claims(custom_id) == []
    # Every remixable button has a form title.
    assert set(forms.ACTION_NAMES) == {action for action in Action if action.remixable}


def test_ids_past_sqlite_and_snowflakes_are_claimed_then_refused_plainly() -> None:
    # A forged or stale client can send any digits: the item is still the one that answers.
    for digits in ("9223372036854775808", "99999999999999999999", "1" * 90):
        assert _claims(f"u:{digits}:1") == ["JobButton"]
        assert _claims(f"h:{digits}:1") == ["HistoryButton"]
        assert _claims(f"gb:{digits}:1:{digits}:5") == ["RegionSubmitButton"]
        assert ids.REMIX_FORM.pattern.fullmatch(f"fr:v:{digits}:1")
        with pytest.raises(UnknownJob, match=f"^There is no job {digits}.$"):
            ids.job_id(digits)
        with pytest.raises(UserError, match="expired"):
            ids.user_id(digits)
    for refused in ("0", 0):
        with pytest.raises(UnknownJob):
            ids.job_id(refused)
    assert ids.job_id(str(BIG)) == BIG and ids.user_id(BIG) == BIG


_PREFIXES = tuple(f.prefix for f in ids.FORMATS if f.prefix)
_PRODUCT = Path(ids.__file__).parents[2]


@pytest.mark.parametrize("source", sorted((_PRODUCT / "bot").rglob("*.py")), ids=lambda p: p.name)
def test_no_other_module_spells_a_prefix(source: Path) -> None:
    if source == Path(ids.__file__):
        return
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            assert not node.value.startswith(_PREFIXES), (source, node.lineno, node.value)
