"""Domain errors (core/errors.py): what the one error handler reads from each."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core import errors
from core.errors import BadParameter, QuotaExceeded, UserError


@pytest.mark.parametrize(
    "kind",
    [
        errors.Banned,
        errors.BlockedPrompt,
        errors.QueueFull,
        errors.UnknownJob,
        errors.NotAllowed,
        errors.GroupRefused,
        errors.BadImage,
    ],
)
def test_every_domain_error_is_a_user_error_with_its_message(kind):
    error = kind("Try again later.")
    assert isinstance(error, UserError)
    assert error.message == str(error) == "Try again later."


def test_a_bad_parameter_names_the_parameter():
    error = BadParameter("steps", "`steps` is at most 50.")
    assert isinstance(error, UserError)
    assert (error.parameter, error.message) == ("steps", "`steps` is at most 50.")


def test_a_quota_error_carries_its_figures():
    resets = datetime(2026, 11, 22, tzinfo=UTC)
    error = QuotaExceeded("Used up.", limit=5, used=5, resets_at=resets)
    assert (error.message, error.limit, error.used, error.resets_at) == ("Used up.", 5, 5, resets)
    assert not error.everywhere
    everywhere = QuotaExceeded("Used up.", limit=9, used=10, resets_at=resets, everywhere=True)
    assert everywhere.everywhere and isinstance(everywhere, UserError)
