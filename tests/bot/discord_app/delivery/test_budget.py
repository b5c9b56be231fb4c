"""Which waiting messages a refresh edits: a few, the right ones, never in a result's way."""

from __future__ import annotations

import itertools

from bot.discord_app.delivery.budget import (
    CHANNEL_EDIT_SPACING,
    EDITS_PER_REFRESH,
    MAX_YIELDS,
    Pace,
    Waiting,
    choose,
)

CHANNEL, OTHER = 10, 11


def waiting(job_id: int, last_edit: float, *, channel: int = CHANNEL, **kwargs) -> Waiting:
    options = {"running": False, "channel_route": False, **kwargs}
    return Waiting(job_id, channel, last_edit=last_edit, **options)


def pick(stale: list[Waiting], pace: Pace | None = None, **kwargs) -> list[int]:
    options = {
        "now": 100.0,
        "in_flight": 0,
        "channel_busy": set(),
        "results_pending": {},
        "pace": pace or Pace.new(),
        **kwargs,
    }
    return [w.job_id for w in choose(stale, **options)]


def test_running_first_then_the_least_recently_updated_within_the_budget() -> None:
    stale = [waiting(n, last_edit=float(1000 - n)) for n in range(1, 1001)]
    stale.append(waiting(5000, last_edit=99.0, running=True))
    chosen = pick(stale)
    assert len(chosen) == EDITS_PER_REFRESH
    assert chosen[0] == 5000, "the running job's percent first"
    assert chosen[1:] == list(range(1000, 1000 - EDITS_PER_REFRESH + 1, -1))


def test_the_channel_routes_turn_is_not_lost_behind_older_token_edits() -> None:
    stale = [waiting(n, last_edit=float(n)) for n in range(1, 101)]
    stale += [waiting(200, 150.0, channel_route=True), waiting(201, 140.0, channel_route=True)]
    chosen = pick(stale)
    assert chosen[0] == 201, "the channel's least recently updated, on the channel's bucket"
    assert 200 not in chosen, "one at a time per channel"
    assert chosen[1:] == list(range(1, EDITS_PER_REFRESH))


def test_edits_still_under_way_use_up_the_budget() -> None:
    stale = [waiting(n, last_edit=0.0) for n in range(50)]
    assert len(pick(stale, in_flight=EDITS_PER_REFRESH - 3)) == 3
    assert pick(stale, in_flight=EDITS_PER_REFRESH) == []


def test_a_pending_result_goes_first_in_its_channel_but_not_forever() -> None:
    stale = [waiting(1, 0.0), waiting(2, 0.0, channel=OTHER)]
    pace = Pace.new()
    for _ in range(MAX_YIELDS):
        assert pick(stale, pace, results_pending={CHANNEL: 1}) == [2]
    # A channel where results keep landing still gets its places shown now and then.
    assert pick(stale, pace, results_pending={CHANNEL: 1}) == [1, 2]
    assert pick(stale, pace, results_pending={CHANNEL: 1}) == [2]
    assert pick(stale, pace) == [1, 2]


def test_the_channel_route_one_at_a_time_and_spaced_per_channel() -> None:
    stale = [waiting(n, float(n), channel_route=True) for n in range(10)]
    stale.append(waiting(99, 50.0, channel=OTHER, channel_route=True))
    stale.append(waiting(100, 60.0))  # its token lives: not the channel's bucket
    pace = Pace.new()
    assert pick(stale, pace, now=100.0) == [0, 99, 100]
    assert pick(stale, pace, now=100.0 + CHANNEL_EDIT_SPACING / 2) == [100]
    assert pick(stale, pace, now=100.0 + CHANNEL_EDIT_SPACING, channel_busy={OTHER}) == [0, 100]
    # Discord's 5 per 5 s: position edits take at most 4 of any 5 s window.
    starts = [100.0 + k * 0.25 for k in range(40)]
    used = [t for t in starts if 0 in pick([waiting(0, 0.0, channel_route=True)], pace, now=t)]
    gaps = [later - earlier for earlier, later in itertools.pairwise(used)]
    assert len(used) >= 6 and min(gaps) >= CHANNEL_EDIT_SPACING
    assert 4 * CHANNEL_EDIT_SPACING >= 5.0
