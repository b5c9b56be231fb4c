"""Custom ids: every persistent button, select and form is claimed by exactly one handler,
and every id fits Discord's 100 characters (a collision answers a press twice, or with
the wrong feature: ⬅️ once opened /history)."""

from __future__ import annotations

import re

import pytest

from bot.discord_app import forms, history
from bot.discord_app import ids as bounded
from bot.discord_app.admin import WordPageButton, word_page
from bot.discord_app.buttons import JobButton, cancel_view, grid_view, upscale_view
from bot.discord_app.forms import RegionPromptButton, RegionSelect, RegionSubmitButton
from core.errors import UnknownJob, UserError
from core.model import Action

BIG = 2**63 - 1  # the largest snowflake
DYNAMIC = (
    JobButton,
    history.HistoryButton,
    RegionSelect,
    RegionPromptButton,
    RegionSubmitButton,
    WordPageButton,
)
FORMS = (forms.REMIX_FORM, forms.ZOOM_FORM, forms.REGION_FORM)


def _claims(custom_id: str) -> list[str]:
    return [
        cls.__name__
        for cls in DYNAMIC
        if cls.__discord_ui_compiled_template__.fullmatch(custom_id)  # type: ignore[attr-defined]
    ]


async def test_each_item_id_is_claimed_by_its_own_class_only() -> None:
    views = [grid_view(BIG), cancel_view(BIG), upscale_view(BIG)]
    views.append(forms.picker_view(BIG, 4, BIG, tuple(range(1, 10))))
    views.append(forms.picker_view(BIG, 4, BIG, ()))
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


def test_form_ids_are_told_apart_and_fit() -> None:
    samples = {
        forms.REMIX_FORM: [f"fr:{a.value}:{BIG}:4" for a in Action if a.remixable],
        forms.ZOOM_FORM: [f"fz:{BIG}:4"],
        forms.REGION_FORM: [f"fg:{BIG}:4:{BIG}:123456789"],
    }
    for pattern, ids in samples.items():
        for custom_id in ids:
            assert len(custom_id) <= 100
            assert [p for p in FORMS if p.fullmatch(custom_id)] == [pattern], custom_id
            assert _claims(custom_id) == []
    assert not any(p.fullmatch(f"fr:u:{BIG}:4") for p in FORMS), "upscales have no remix"
    assert re.fullmatch(forms.REMIX_FORM, f"fr:x:{BIG}:4") is None
    # Every remixable button has a form title.
    assert set(forms.ACTION_NAMES) == {action for action in Action if action.remixable}


def test_ids_past_sqlite_and_snowflakes_are_claimed_then_refused_plainly() -> None:
    # A forged or stale client can send any digits: the item is still the one that answers.
    for digits in ("9223372036854775808", "99999999999999999999", "1" * 90):
        assert _claims(f"u:{digits}:1") == ["JobButton"]
        assert _claims(f"h:{digits}:1") == ["HistoryButton"]
        assert _claims(f"gb:{digits}:1:{digits}:5") == ["RegionSubmitButton"]
        assert forms.REMIX_FORM.fullmatch(f"fr:v:{digits}:1")
        with pytest.raises(UnknownJob, match=f"^There is no job {digits}.$"):
            bounded.job_id(digits)
        with pytest.raises(UserError, match="expired"):
            bounded.user_id(digits)
    for refused in ("0", 0):
        with pytest.raises(UnknownJob):
            bounded.job_id(refused)
    assert bounded.job_id(str(BIG)) == BIG and bounded.user_id(BIG) == BIG
