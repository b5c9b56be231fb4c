"""How long the blocked-word check takes on hostile prompts (``imaginebot bench --filter``).

A realistic server list (words, phrases, prefixes, emoji, entries of one letter repeated)
is compiled once; prompts built to make a matcher work hard are then checked against it
many times: long runs of one letter ending in another, letters spelled apart, lookalikes
from other scripts with invisible characters between them, leetspeak and digits. Only
:meth:`BlockList.find` is timed; building the list is reported apart.
"""

from __future__ import annotations

import random
import statistics
import time

from core.wordfilter import BlockList

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
    return {
        "one_letter_run": "x" * (chars - 1) + "y",
        "two_letter_runs": _fit("a" * 199 + "b" + "o" * 199 + "p", chars),
        "spelled_apart": _clean(blocklist, spelled, " ", chars),
        "dotted_letters": _clean(blocklist, dotted, ".", chars),
        "spelled_one_letter": _fit("y " * 40 + "x x z ", chars),
        "lookalikes": _clean(blocklist, lookalikes, " ", chars),
        "leet_digits": _clean(blocklist, leet, " ", chars),
        "cjk_mixed": _clean(
            blocklist,
            rng.choices([*list("一个裸女人在ヌの森体ー"), "nake", "bod"], k=chars),
            "",
            chars,
        ),
    }


def filter_benchmark(
    entries: int = 500, prompt_chars: int = 1500, repeats: int = 50
) -> dict[str, float]:
    """Milliseconds for one :meth:`BlockList.find` of a hostile prompt against ``entries``
    blocked entries (median and worst over every prompt and repeat), and for compiling
    the list (``compile_ms``, median of 5 builds)."""
    words = blocked_entries(entries)
    BlockList(words)  # loads the confusables table once, outside the timings
    builds = []
    for _ in range(5):
        start = time.perf_counter()
        blocklist = BlockList(words)
        builds.append((time.perf_counter() - start) * 1000)
    prompts = hostile_prompts(blocklist, prompt_chars)
    times = []
    matched = 0
    for prompt in prompts.values():
        matched += blocklist.find(prompt) is not None  # also warms the character cache
        for _ in range(repeats):
            start = time.perf_counter()
            blocklist.find(prompt)
            times.append((time.perf_counter() - start) * 1000)
    return {
        "filter_ms_median": round(statistics.median(times), 3),
        "filter_ms_max": round(max(times), 3),
        "compile_ms": round(statistics.median(builds), 3),
        "prompts": len(prompts),
        "prompts_matching": matched,
        "entries": len(words),
        "prompt_chars": prompt_chars,
    }
