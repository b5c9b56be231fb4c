"""Which waiting messages one refresh edits: Discord's rate limits spent on what matters.

With many jobs waiting, every finished job moves everyone's place, and editing every
message at each refresh would queue hundreds of requests in front of the next result.
So each refresh edits a few messages only: running jobs first (their percent and
preview), then the least recently updated; none in a channel where a result is on its
way (its grid, and the edit that points the old message to it, go first); and through
the channel route (``PATCH /channels/{id}/messages/{id}``, once an interaction token has
expired) fewer than Discord allows per channel, so that a result always finds room. That
route's turn comes before the tokens' (the least recently updated of each channel): it
has a bucket of its own, which a long line of token edits would otherwise leave unused.

A pure function of plain values: the waiting messages call it once per refresh.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# Position edits one refresh may have under way, all channels together. A refresh runs
# about every second: this keeps them far below Discord's global 50 requests a second
# (the channel route counts against it) and never makes a result wait behind more.
EDITS_PER_REFRESH = 20
# Discord allows 5 edits per 5 s per channel through the channel route (announced in its
# X-RateLimit headers, which discord.py waits on): position edits take 4 of them, one at
# a time, so that a result's edit in that channel always finds the fifth.
CHANNEL_EDIT_SPACING = 1.25
# Refreshes in a row a channel's position edits give way to its results; then one goes
# through, so that a channel where results keep landing still shows its places.
MAX_YIELDS = 5


@dataclass(frozen=True)
class Waiting:
    """A waiting message whose shown state is stale."""

    job_id: int
    channel_id: int | None
    running: bool
    last_edit: float  # the loop's clock
    channel_route: bool  # edited through the channel (its token expired), not the token


@dataclass
class Pace:
    """What the refreshes remember between them (per channel)."""

    last_channel_edit: dict[int, float]
    yields: dict[int, int]

    @classmethod
    def new(cls) -> Pace:
        return cls({}, {})


def choose(
    stale: Iterable[Waiting],
    *,
    now: float,
    in_flight: int,
    channel_busy: set[int],
    results_pending: Mapping[int, int],
    pace: Pace,
) -> list[Waiting]:
    """The edits to start now, in order: running jobs first, then the channel route's
    (one at a time per channel, ``channel_busy``: one is under way, and spaced), then the
    least recently updated, within ``EDITS_PER_REFRESH`` less the ``in_flight`` ones; none
    in a channel with ``results_pending`` (up to ``MAX_YIELDS`` refreshes in a row)."""
    room = EDITS_PER_REFRESH - in_flight
    if room <= 0:
        return []
    chosen: list[Waiting] = []
    yielded: set[int] = set()
    through_channel: set[int] = set()
    order = sorted(stale, key=lambda w: (not w.running, not w.channel_route, w.last_edit))
    for waiting in order:
        channel = waiting.channel_id
        if (
            channel is not None
            and results_pending.get(channel, 0) > 0
            and pace.yields.get(channel, 0) < MAX_YIELDS
        ):
            yielded.add(channel)
            continue
        if waiting.channel_route:
            if channel is None or channel in channel_busy or channel in through_channel:
                continue
            if now - pace.last_channel_edit.get(channel, float("-inf")) < CHANNEL_EDIT_SPACING:
                continue
            through_channel.add(channel)
            pace.last_channel_edit[channel] = now
        chosen.append(waiting)
        if len(chosen) >= room:
            break
    for channel in yielded:
        pace.yields[channel] = pace.yields.get(channel, 0) + 1
    for channel in list(pace.yields):
        if channel not in yielded:
            del pace.yields[channel]
    return chosen
