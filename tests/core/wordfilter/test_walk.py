"""The walk (core/wordfilter/walk.py) and its bound, in steps rather than seconds: hostile
prompts, the phrase that doubled the old matcher's work at every word, lists built for
ambiguity, and random phrase/prompt pairs checked against a brute-force reference for the
result and against the bound for the work; the meter that stops a walk past its deadline."""

from __future__ import annotations

import random
import time

import pytest

from core.wordfilter import BlockList, Meter
from core.wordfilter.entries import runs
from core.wordfilter.lexicon import is_ordinary
from core.wordfilter.walk import TooLong, step_bound

READINGS = 4  # visual and transliterated, each also with ph/vv read as f/w


def steps_of(blocklist: BlockList, prompt: str) -> tuple[str | None, int]:
    meter = Meter()
    found = blocklist.find(prompt, meter)
    return found, meter.steps


def test_hostile_prompts_cost_steps_in_proportion_to_their_length():
    # The former matcher built ^(?:x)+(?:x)+(?:x)+$ per entry: 15 s for the first prompt.
    # Counted in steps, not seconds (the time is imaginebot bench --filter's).
    blocklist = BlockList(["xxx", "x" * 20, "x" * 19 + "z", "ab" * 10 + "c", "nude", "nud*"])
    prompts = [
        "x" * 1499 + "y",
        "x" * 1500,
        " ".join("x" * 750),
        "ab" * 750,
        " ".join("ab" * 375),
        "1" * 1500,
        "n u d " * 250,
        "nυ\u200bd " * 300,
    ]
    for prompt in prompts:
        whole, half = Meter(), Meter()
        blocklist.find(prompt, whole)
        blocklist.find(prompt[: len(prompt) // 2], half)
        assert whole.steps <= 2 * half.steps + 100, prompt[:40]
        assert whole.steps <= 20 * len(prompt), prompt[:40]
    assert blocklist.find("x" * 1499 + "y") is None
    assert blocklist.find("x" * 1500) == "xxx"
    assert blocklist.find("x" * 1499 + "z") == "x" * 19 + "z"  # stretched


def test_the_meter_counts_steps_and_stops_only_past_its_deadline():
    free = Meter()
    free.add(10**6)  # no deadline: never stops
    assert free.steps == 10**6
    late = Meter(deadline=time.monotonic() - 1)  # already past (no clock is waited on)
    late.add(10)  # the clock is read every few thousand steps, not at each one
    with pytest.raises(TooLong):
        late.add(10**4)
    with pytest.raises(TooLong):
        BlockList(["z z z z z z q"]).find("z " * 750, Meter(deadline=time.monotonic() - 1))


def test_a_check_counts_more_steps_for_a_longer_entry_within_its_bound():
    short, long = BlockList(["nude"]), BlockList(["n" * 40 + "q"])
    assert step_bound(100, long) > step_bound(100, short) > 0
    assert step_bound(200, short) == 2 * step_bound(100, short)  # linear in the prompt


def test_the_phrase_that_doubled_at_every_word_costs_steps_linear_in_the_prompt():
    # The old matcher recorded each partial match twice per word and never merged them:
    # 14 words took 6 s, 24 ran out of memory.
    costs = {}
    for words in (14, 20, 24):
        entry = " ".join(["zzz"] * words + ["q"])
        blocklist = BlockList([entry])
        prompt = " ".join(["zzz"] * 60)
        found, steps = steps_of(blocklist, prompt)
        assert found is None
        assert steps <= step_bound(len(prompt), blocklist) * READINGS
        costs[words] = steps
        assert blocklist.find(" ".join(["zzz"] * words + ["q"])) == entry
        stretched = " ".join(["zzzzzz"] * words + ["q"])  # ("zzzz" is an ordinary word)
        assert blocklist.find(f"a {stretched} b") == entry
        # Past the first words, each word costs the same: twice the words, twice the work.
        _, half_steps = steps_of(blocklist, " ".join(["zzz"] * 187))
        _, long_steps = steps_of(blocklist, " ".join(["zzz"] * 375))  # 1499 characters
        assert long_steps - half_steps <= 1.1 * half_steps
    # Longer entries cost at most in proportion (the old work doubled per word).
    assert costs[24] <= costs[14] * (24 / 14) * 1.2


def test_lists_built_for_ambiguity_stay_within_the_bound():
    # Words that all read the same text ("zzz" is z, zz and zzz; "1" is i and l), in
    # every order, as many entries as a server may have.
    rng = random.Random(5)
    pieces = ["z", "zz", "zzz", "zzz*", "kill", "k1ll", "ki11", "iii", "lll"]
    entries = [" ".join(rng.choices(pieces[:3], k=rng.randint(2, 30)))[:99] for _ in range(400)]
    entries += [" ".join(rng.choices(pieces, k=rng.randint(1, 8))) for _ in range(100)]
    blocklist = BlockList(entries)
    for prompt in (
        " ".join(["zzz"] * 375),
        " ".join(["1111"] * 300),
        " ".join(["k1ll z"] * 250),
        "z " * 750,
        "zzz" * 500,
    ):
        _, steps = steps_of(blocklist, prompt)
        assert steps <= step_bound(len(prompt), blocklist) * READINGS, prompt[:20]
        _, half = steps_of(blocklist, prompt[: len(prompt) // 2])
        assert steps <= 2.3 * half + 1000, prompt[:20]


# The reference: prompts of lower-case words of 2 or more letters from "abqz" between
# single spaces (no single letters, so no word joins across a space; no s, e, y, so no
# plural applies), and phrases of such words.


def _reference_word(typed: str, entry: str, cap: int) -> bool:
    """Whether a typed word is an entry's word, as the filter's rules say it directly."""
    have, want = runs(typed), runs(entry)
    if have[0] != want[0] or any(h < w for h, w in zip(have[1], want[1], strict=True)):
        return False
    if typed == entry:
        return True
    if is_ordinary(typed):
        return False
    read = "".join(c * min(n, cap) for c, n in zip(have[0], have[1], strict=True))
    return read == entry or not is_ordinary(read)


def reference(prompt: str, entries: list[str], cap: int) -> str | None:
    """The first entry (by where its last word is, then by list order) that the prompt's
    words hold in a row, or written as one word."""
    words = prompt.split()
    for end in range(len(words)):
        for entry in entries:
            parts = entry.split()
            start = end - len(parts) + 1
            in_a_row = start >= 0 and all(
                _reference_word(words[start + k], part, cap) for k, part in enumerate(parts)
            )
            as_one = len(parts) > 1 and _reference_word(words[end], "".join(parts), cap)
            if in_a_row or as_one:
                return entry
    return None


def _word(rng: random.Random) -> str:
    letters = []
    while sum(n for _, n in letters) < 2:
        for _ in range(rng.randint(1, 3)):
            c = rng.choice("abqz")
            if not letters or letters[-1][0] != c:
                letters.append((c, rng.choice((1, 1, 2, 3))))
    return "".join(c * n for c, n in letters)


def _stretch(rng: random.Random, word: str) -> str:
    return "".join(c * rng.choice((1, 1, 2)) for c in word) if rng.random() < 0.5 else word


@pytest.mark.parametrize("seed", range(6))
def test_random_pairs_agree_with_the_brute_force_reference(seed):
    rng = random.Random(seed)
    agreed = matched = 0
    for _ in range(60):
        vocabulary = [_word(rng) for _ in range(6)]
        entries = list(
            dict.fromkeys(
                " ".join(rng.choices(vocabulary, k=rng.randint(1, 3)))
                for _ in range(rng.randint(1, 5))
            )
        )
        blocklist = BlockList(entries)
        prompt_words = []
        for _ in range(rng.randint(3, 14)):
            if rng.random() < 0.3:
                prompt_words += [_stretch(rng, w) for w in rng.choice(entries).split()]
            else:
                prompt_words.append(_stretch(rng, rng.choice(vocabulary)))
        prompt = " ".join(prompt_words)
        found, steps = steps_of(blocklist, prompt)
        expected = reference(prompt, entries, blocklist.cap)
        assert found == expected, (prompt, entries)
        assert steps <= step_bound(len(prompt), blocklist) * READINGS
        agreed += 1
        matched += expected is not None
    assert agreed == 60 and 0 < matched < 60  # both outcomes were exercised
