"""How long the blocked-word check takes on hostile prompts (``imaginebot bench --filter``).

A realistic server list (words, phrases, prefixes, emoji, entries of one letter repeated)
is compiled once; prompts built to make a matcher work hard are then checked against it
many times: long runs of one letter ending in another, letters spelled apart, lookalikes
from other scripts with invisible characters between them, leetspeak and digits. Only
:meth:`BlockList.find` is timed; building the list (its time and memory, and those of a
hostile list of 100-character entries) is reported apart.
"""

from __future__ import annotations

import random
import statistics
import time
import tracemalloc
from typing import Any

from core.wordfilter import BlockList, Meter, lexicon

_WORDS = (  # noqa: SIM905
    "nude naked nudity gore blood violence weapon gun knife murder corpse torture drug "
    "cocaine heroin meth suicide selfharm hentai lewd explicit porn sexy topless bikini "
    "lingerie underwear breast nipple butt thong fetish bondage kink erotic sensual orgy "
    "gory decapitated dismembered mutilated massacre terrorist bomb explosion swastika "
    "nazi racist slur hate abuse harass stalker creep pervert loli shota minor child teen "
    "schoolgirl celebrity deepfake politician president trump biden putin xi"
).split()
_SYLLABLES = (  # noqa: SIM905
    "ka ro mi sa tu ne lo vi da pe zu xo fa ri mo ga be ty qu sh ch th ex ar or en un in "
    "st ph gr bl cr dr fl pl sl tr wr"
).split()
_EMOJI = ("🍆", "🍑", "💦", "🔞", "🔪", "🩸", "💉", "🖕🏽", "👙", "🍒")
_REPEATED = ("xxx", "x" * 20, "zzzz", "aaaaaaaa", "ooo", "hhhhh")
_LOOKALIKES = {
    "a": "аα𝐚ａ",
    "e": "еε𝐞ｅ",
    "o": "оο𝐨ｏ",
    "p": "рρ𝐩ｐ",
    "c": "с𝐜ｃ",
    "x": "хχ𝐱ｘ",
    "y": "у𝐲ｙ",
    "i": "іι𝐢ｉ",
    "n": "ɴ𝐧ｎη",
    "u": "υᴜ𝐮ｕ",
    "d": "ԁᴅ𝐝ｄ",
}
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u00ad"


def blocked_entries(count: int = 500, seed: int = 7) -> list[str]:
    """``count`` entries like a busy server's list: words, phrases, ``word*`` prefixes, a
    few emoji, entries of one letter repeated, words of other scripts."""
    rng = random.Random(seed)
    entries: list[str] = [*_WORDS, *_EMOJI, *_REPEATED, "r34", "n00dz", "hate speech"]
    entries += [f"{w}*" for w in ("nud", "porn", "sex", "gor", "tortur", "kil")]
    entries += ["голый", "裸体", "ヌード", "naked body", "blood bath", "dead body", "gun violence"]
    entries += [" ".join(["zzz"] * 24 + ["q"])]  # doubled the old matcher's work per word
    while len(entries) < count:
        word = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4)))
        roll = rng.random()
        if roll < 0.15:
            entries.append(f"{word} {rng.choice(_WORDS)}")
        elif roll < 0.25:
            entries.append(f"{word[: rng.randint(3, 5)]}*")
        else:
            entries.append(word)
    return entries[:count]


def hostile_entries(count: int = 500, seed: int = 3) -> list[str]:
    """``count`` entries of 100 characters that share no prefix and use every letter,
    phrases and accented letters among them: the largest trie a list can make."""
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyzéüñøßç"
    entries = []
    for index in range(count):
        words = []
        while sum(len(w) + 1 for w in words) < 100:
            words.append("".join(rng.choice(letters) for _ in range(rng.randint(3, 12))))
        text = " ".join(words) if index % 2 else "".join(words)
        entries.append(text[:100].strip())
    return entries


def phrase_entries(count: int = 500, seed: int = 3) -> list[str]:
    """``count`` phrases of about 25 three-letter runs (``zzz qqq ... q``), the kind of list
    that made the old matcher's work double at every word."""
    rng = random.Random(seed)
    entries = []
    for _ in range(count):
        words = [rng.choice("abcdefghijklmnopqrstuvwxyz") * 3 for _ in range(24)]
        entries.append(" ".join([*words, "q"]))
    return entries


def _fit(text: str, chars: int) -> str:
    return (text * (chars // max(len(text), 1) + 1))[:chars]


def _clean(blocklist: BlockList, parts: list[str], sep: str, chars: int) -> str:
    """``parts`` joined by ``sep`` up to ``chars`` characters, leaving out each part that
    would make the prompt match (checked on the tail: matches are local), so that
    ``find`` has to read the whole prompt."""
    text = ""
    for part in parts:
        longer = f"{text}{sep}{part}" if text else part
        if blocklist.find(longer[-400:]) is None:
            text = longer
        if len(text) >= chars:
            break
    return text[:chars]


def hostile_prompts(blocklist: BlockList, chars: int = 1500, seed: int = 11) -> dict[str, str]:
    """Prompts of ``chars`` characters built to make a matcher work hard and to match
    nothing in ``blocklist`` (``find`` reads them to the end)."""
    rng = random.Random(seed)
    near = [w[:-1] for w in _WORDS if len(w) > 3]  # "nud", "nake"...: deep in the trie
    spelled = [" ".join(w) for w in rng.choices(near, k=chars)]
    dotted = [".".join(w) for w in rng.choices(near, k=chars)]
    lookalikes = [
        "".join(
            rng.choice(_LOOKALIKES.get(c, c)) + rng.choice(("", "", rng.choice(_INVISIBLE)))
            for c in word
        )
        for word in rng.choices(near, k=chars)
    ]
    leet = rng.choices(
        ("n0d", "5ex", "h4t", "n4ke", "111111", "0000", "4k", "8k", "1080p"), k=chars
    )
    symbols = rng.choices(("n€d", "$€><", "h@+", "n!|<€", "g()r", "6()r", "@$", "k!|"), k=chars)
    humps = ["".join(w.title() for w in rng.choices(near, k=3)) for _ in range(chars)]
    split = [f"{w[:-1]} {w[-1]}" for w in rng.choices(near, k=chars)]
    digraphs = rng.choices(("phud", "vvhor", "phorn", "nakph", "vvee", "phototype"), k=chars)
    return {
        "one_letter_run": "x" * (chars - 1) + "y",
        "two_letter_runs": _fit("a" * 199 + "b" + "o" * 199 + "p", chars),
        "spelled_apart": _clean(blocklist, spelled, " ", chars),
        "dotted_letters": _clean(blocklist, dotted, ".", chars),
        "spelled_one_letter": _fit("y " * 40 + "x x z ", chars),
        "lookalikes": _clean(blocklist, lookalikes, " ", chars),
        "leet_digits": _clean(blocklist, leet, " ", chars),
        "symbol_leet": _clean(blocklist, symbols, " ", chars),
        "camel_case": _clean(blocklist, humps, " ", chars),
        "letter_split_off": _clean(blocklist, split, " ", chars),
        "ph_vv": _clean(blocklist, digraphs, " ", chars),
        "phrase_runs": _fit("zzz ", chars),
        "cjk_mixed": _clean(
            blocklist,
            rng.choices([*list("一个裸女人在ヌの森体ー"), "nake", "bod"], k=chars),
            "",
            chars,
        ),
    }


def compiled_bytes(words: list[str]) -> int:
    """What a compiled list keeps in memory, as tracemalloc counts it (the tables and
    caches it shares with every list loaded first, outside the count)."""
    BlockList(words)
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        blocklist = BlockList(words)
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    del blocklist
    return sum(stat.size_diff for stat in after.compare_to(before, "filename"))


def _compile_ms(words: list[str]) -> float:
    builds = []
    for _ in range(5):
        start = time.perf_counter()
        BlockList(words)
        builds.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(builds), 3)


def filter_benchmark(
    entries: int = 500, prompt_chars: int = 1500, repeats: int = 50
) -> dict[str, Any]:
    """Milliseconds for one :meth:`BlockList.find` of a hostile prompt against ``entries``
    blocked entries (median and worst over every prompt and repeat, and each prompt's
    median), and what compiling the list costs: ``compile_ms`` (median of 5 builds),
    ``compiled_bytes`` (tracemalloc), the same for a list of long phrases of letter runs
    and for a hostile list of ``entries`` entries of 100 random characters, and the memory
    of the ordinary-words index."""
    words = blocked_entries(entries)
    blocklist = BlockList(words)  # loads the tables once, outside the timings
    prompts = hostile_prompts(blocklist, prompt_chars)  # (loads the ordinary words too)
    times = []
    per_prompt = {}
    matched = 0
    steps = 0
    for name, prompt in prompts.items():
        matched += blocklist.find(prompt) is not None  # also warms the character cache
        mine = []
        for _ in range(repeats):
            meter = Meter()
            start = time.perf_counter()
            blocklist.find(prompt, meter)
            mine.append((time.perf_counter() - start) * 1000)
        steps = max(steps, meter.steps)
        per_prompt[name] = round(statistics.median(mine), 3)
        times += mine
    hostile = hostile_entries(entries)
    phrases = phrase_entries(entries)
    return {
        "filter_ms_median": round(statistics.median(times), 3),
        "filter_ms_max": round(max(times), 3),
        "filter_ms_by_prompt": per_prompt,
        "filter_steps_max": steps,
        "compile_ms": _compile_ms(words),
        "compiled_bytes": compiled_bytes(words),
        "compile_phrases_ms": _compile_ms(phrases),
        "compiled_phrases_bytes": compiled_bytes(phrases),
        "compile_hostile_ms": _compile_ms(hostile),
        "compiled_hostile_bytes": compiled_bytes(hostile),
        "ordinary_words_bytes": lexicon.nbytes(),
        "prompts": len(prompts),
        "prompts_matching": matched,
        "entries": len(words),
        "prompt_chars": prompt_chars,
    }
