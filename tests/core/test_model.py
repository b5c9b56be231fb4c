"""The domain's values: which statuses are final, what each button action does, whose
scope a requester has, what is left of a quota, and job parameters as stored."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from core.model import (
    EVERYWHERE,
    Action,
    JobKind,
    JobParams,
    JobStatus,
    NewJob,
    QuotaStatus,
    Requester,
)
from core.recipes import Imagine, RecipeError

RESET = datetime(2030, 1, 1, tzinfo=UTC)


def test_done_failed_and_cancelled_are_final() -> None:
    assert {status for status in JobStatus if status.is_final} == {
        JobStatus.DONE,
        JobStatus.FAILED,
        JobStatus.CANCELLED,
    }
    assert JobStatus("queued") is JobStatus.QUEUED and not JobStatus.RUNNING.is_final


def test_zoom_and_pan_buttons_carry_their_factor_and_direction() -> None:
    assert {a: a.zoom for a in Action if a.zoom} == {
        Action.ZOOM_OUT_2: 2.0,
        Action.ZOOM_OUT_1_5: 1.5,
    }
    assert {a.pan: a for a in Action if a.pan} == {
        "left": Action.PAN_LEFT,
        "right": Action.PAN_RIGHT,
        "up": Action.PAN_UP,
        "down": Action.PAN_DOWN,
    }
    assert Action.CUSTOM_ZOOM.zoom is None  # its factor comes from its form


def test_which_buttons_start_a_job_and_which_open_a_remix_form() -> None:
    forms_first = {Action.CANCEL, Action.VARY_REGION, Action.CUSTOM_ZOOM}
    assert {a for a in Action if not a.starts_a_job} == forms_first
    keep_the_image = {Action.UPSCALE, Action.UPSCALE_CREATIVE, Action.ENHANCE}
    assert {a for a in Action if a.remixable} == set(Action) - forms_first - keep_the_image
    assert len({a.value for a in Action}) == len(Action)  # one letter each


@pytest.mark.parametrize(
    ("who", "scope"),
    [
        (Requester(1, guild_id=5), 5),
        (Requester(1, guild_id=5, is_admin=True), 5),  # an admin acts in their server only
        (Requester(1, guild_id=5, is_admin=True, is_owner=True), EVERYWHERE),
        (Requester(1), None),  # no server (the CLI without owner rights)
    ],
)
def test_a_requester_sees_their_server_and_an_owner_every_server(who, scope) -> None:
    assert who.scope == scope


@pytest.mark.parametrize(
    ("limit", "used", "left"), [(5, 2, 3), (5, 5, 0), (5, 9, 0), (None, 40, None), (0, 0, 0)]
)
def test_what_is_left_of_a_quota_never_goes_below_zero(limit, used, left) -> None:
    quota = QuotaStatus(limit, used, RESET, global_limit=limit, global_used=used)
    assert quota.left == left and quota.global_left == left
    assert QuotaStatus(limit, used, RESET).global_left is None  # no global quota: unlimited


def test_params_are_stored_as_sorted_json_and_read_back() -> None:
    params = JobParams(width=192, height=128, steps=4, guidance=7.0, aspect="3:2", model="m")
    text = params.to_json()
    stored = json.loads(text)
    assert "tile" not in stored and list(stored) == sorted(stored)  # as old rows were written
    assert JobParams.from_json(text) == params and params.size == (192, 128)
    tiled = params.but(tile=True, num_images=1)
    assert JobParams.from_json(tiled.to_json()) == tiled
    # A row written by a later version: unknown keys are left out.
    assert JobParams.from_json(text[:-1] + ', "sampler": "x"}') == params


@pytest.mark.parametrize("seed", [-1, 2**32])
def test_a_new_job_refuses_a_seed_out_of_range(seed: int) -> None:
    params = JobParams(width=64, height=64, steps=1, guidance=1.0)
    with pytest.raises(RecipeError, match="seed"):
        NewJob(1, "a fox", "", seed, params, Imagine())
    assert NewJob(1, "a fox", "", 2**32 - 1, params, Imagine()).kind is JobKind.IMAGINE
