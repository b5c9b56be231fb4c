"""Blocked words: evasions that must match, innocent words that must not, entries admins
may add, and a check that stays fast on prompts built to make a matcher backtrack."""

from __future__ import annotations

import pytest

from core.wordfilter import (
    BlockList,
    Meter,
    check_entry,
    find_blocked,
    normalise,
    readings,
)
from devtools.filter_bench import filter_benchmark

BLOCKED = [
    "nude",
    "ass",
    "gore",
    "hate speech",
    "naked body",
    "god",
    "bot",
    "pop",
    "sex",
    "cunt",
    "nood",
    "porn*",
    "🍆",
    "🖕",
    "голый",
    "裸体",
    "r34",
    "kill",
]


@pytest.mark.parametrize(
    ("prompt", "entry"),
    [
        # plain, case, accents, compatibility forms, invisible characters
        ("a nude figure", "nude"),
        ("NUDE", "nude"),
        ("nüde", "nude"),
        ("ñudé", "nude"),
        ("Ｎｕｄｅ painting", "nude"),  # full-width
        ("ⓝⓤⓓⓔ", "nude"),  # circled
        ("𝐧𝐮𝐝𝐞 art", "nude"),  # mathematical bold
        ("𝓷𝓾𝓭𝓮", "nude"),  # mathematical script
        ("🅽🆄🅳🅴", "nude"),  # negative squared letters
        ("nu\u200bde", "nude"),  # zero-width space
        ("n\u200cu\u200dd\u2060e", "nude"),
        ("nu\u00adde", "nude"),  # soft hyphen
        ("n\u0335u\u0336d\u0337e", "nude"),  # combining strokes
        # lookalikes from other scripts, small caps
        ("nudе", "nude"),  # Cyrillic е
        ("ոսde", "nude"),  # Armenian
        ("nυde", "nude"),  # Greek upsilon
        ("ΝUDΕ", "nude"),  # Greek capitals
        ("ɴᴜᴅᴇ", "nude"),  # small capitals
        ("ѕех", "sex"),  # Cyrillic dze, ie, ha
        ("ѕеx", "sex"),
        ("ɢᴏʀᴇ", "gore"),
        # leetspeak, when the word so read is blocked
        ("n00d", "nood"),
        ("nud3", "nude"),
        ("s3x", "sex"),
        ("$3x", "sex"),
        ("a$$", "ass"),
        ("4ss", "ass"),
        ("g0r3", "gore"),
        ("b0t", "bot"),
        ("p0p", "pop"),
        ("r34", "r34"),
        ("k1ll", "kill"),  # 1 read as i
        ("ki11", "kill"),  # 1 read as l
        # letters spelled apart
        ("n u d e", "nude"),
        ("n.u.d.e", "nude"),
        ("nu d e", "nude"),
        ("nud e", "nude"),
        ("n-u-d-e art", "nude"),
        ("n_u_d_e", "nude"),
        ("nu.de", "nude"),
        ("a s s", "ass"),
        ("the a s s", "ass"),
        ("g.o.r.e", "gore"),
        ("s e x", "sex"),
        # stretched
        ("nuuuude", "nude"),
        ("nnnuuddeee", "nude"),
        ("asssss", "ass"),
        ("goooood", "god"),  # a run of 3+: every letter may repeat
        ("n u u u d e", "nude"),
        # plurals, punctuation around
        ("nudes", "nude"),
        ("asses", "ass"),
        ("bots", "bot"),
        ("a pic, nude.", "nude"),
        ("(nude)", "nude"),
        ("GORE!!!", "gore"),
        ("god's light", "god"),
        ("kick ass", "ass"),
        # phrases: in a row, or as one word
        ("hate speech", "hate speech"),
        ("Hate   Speech", "hate speech"),
        ("hate-speech", "hate speech"),
        ("hatespeech", "hate speech"),
        ("h a t e speech", "hate speech"),
        ("naked  body", "naked body"),
        ("N A K E D body", "naked body"),
        ("nakedbodies", "naked body"),
        # prefixes
        ("porn", "porn*"),
        ("pornography", "porn*"),
        ("p.o.r.n.o", "porn*"),
        ("p0rnstar", "porn*"),
        # emoji, with variation selectors and skin tones
        ("🍆", "🍆"),
        ("a big🍆!", "🍆"),
        ("🍆\ufe0f", "🍆"),
        ("🖕🏽 to you", "🖕"),
        # other scripts, any case; CJK inside a sentence
        ("голый человек", "голый"),
        ("ГОЛЫЙ человек", "голый"),
        ("一个裸体女人", "裸体"),
    ],
)
def test_evasions_are_caught(prompt, entry):
    assert find_blocked(prompt, BLOCKED) == entry


@pytest.mark.parametrize(
    "prompt",
    [
        # doubled letters in ordinary words
        "a good dog",
        "boots in the mud",
        "poop emoji",
        "a bottle of wine",
        "a goddess statue",
        "a robot",
        "popcorn",
        # a blocked word inside an innocent one
        "a class photo",
        "an assassin in the night",
        "a passage through the hills",
        "brass instruments",
        "a grassy bass lake",
        "Glasgow at night",
        "Scunthorpe United",
        "Essex and Sussex",
        "Middlesex county",
        "a sextant on a ship",
        "Massachusetts harbour",
        "gorgeous gorge",
        "Gorey style illustration",
        "nudibranch underwater",
        "a denuded hillside",
        "as the sun sets",  # "as" is not "ass"
        "to be or not to be",  # short words are not joined without a single letter
        # ß is not ss
        "aß",
        "die Straße",
        "Großmutter",
        # numbers stay numbers
        "4k",
        "1080p",
        "8k uhd",
        "3d render",
        "35mm film",
        "f/1.8, 50mm",
        "55 mph",
        "$5 coffee",
        "1024x1024",
        # one word of a phrase alone; a phrase's words apart
        "hate the rain",
        "speech bubble",
        "a naked mole rat",
        "the body of a car",
        # emoji entries do not match words or other emoji
        "an eggplant",
        "👍 great",
        # prefixes only at the start of a word
        "popcorn and unporn",
        # other scripts
        "Привет мир",
        "一个女人",
        "x" * 1499 + "y",
    ],
)
def test_innocent_prompts_pass(prompt):
    assert find_blocked(prompt, BLOCKED) is None


def test_a_prefix_blocks_the_words_starting_with_it():
    blocked = ["nud*"]
    for prompt in ("nudity", "nudist", "nude", "NUDES", "nuuudity", "n u d i t y", "nud"):
        assert find_blocked(prompt, blocked) == "nud*", prompt
    for prompt in ("denude", "a nu", "nu", "snude", "n.o.d.e"):
        assert find_blocked(prompt, blocked) is None, prompt


def test_bare_numbers_are_never_read_as_letters():
    blocked = ["ss", "ooo", "leet", "sos"]
    for prompt in ("55 mph", "$5 coffee", "a 55 mm lens", "000", "1337", "505"):
        assert find_blocked(prompt, blocked) is None, prompt
    assert find_blocked("l33t", blocked) == "leet"
    assert find_blocked("s0s", blocked) == "sos"


def test_words_are_joined_across_spaces_only_around_single_letters():
    blocked = ["ahole", "tobe", "anus", "hatespeech"]
    for prompt in ("a hole in one", "to be free", "an us", "hate speech"):
        assert find_blocked(prompt, blocked) is None, prompt
    assert find_blocked("a h o l e", blocked) == "ahole"
    assert find_blocked("an u s", blocked) == "anus"
    assert find_blocked("hate-speech", blocked) == "hatespeech"


def test_repeated_letter_entries():
    blocked = ["xxx", "x" * 20]
    assert find_blocked("xxx", blocked) == "xxx"
    assert find_blocked("x x x", blocked) == "xxx"
    assert find_blocked("xxxxxxxx", blocked) == "xxx"
    assert find_blocked("xx", blocked) is None
    assert find_blocked("xxl shirt", blocked) is None
    assert find_blocked("x" * 1499 + "y", blocked) is None


def test_the_entry_found_is_returned_as_stored():
    assert find_blocked("a n.u.d.e", ["gore", "Nüde"]) == "Nüde"
    assert find_blocked("HATE SPEECH", ["  hate   speech "]) == "  hate   speech "
    assert find_blocked("hate speech", ["Hate-Speech"]) == "Hate-Speech"
    assert find_blocked("anything", []) is None
    assert find_blocked("anything", ["", "...", "   "]) is None


def test_blocklist_api():
    blocklist = BlockList(["nude", "", "!!", "🍆", "hate speech"])
    assert len(blocklist) == 3  # "" and "!!" can never match
    assert blocklist
    assert not BlockList([])
    assert not BlockList(["", "..."])
    assert blocklist.find("n u d e") == "nude"
    assert blocklist.find("a calm lake") is None
    assert blocklist.entries == ("nude", "", "!!", "🍆", "hate speech")


def test_normalisation():
    assert normalise("Ｎüde\u200b") == "nude"
    assert normalise("ɴᴜᴅᴇ") == "nude"
    assert normalise("nudе") == "nude"  # Cyrillic е
    assert normalise("aß") == "aß"
    assert normalise("ẞ") == "ß"
    assert normalise("n.u d") == "n.u d"  # punctuation and spaces kept
    assert readings("hello") == ["hello"]
    assert readings("ГОЛЫЙ") == [normalise("ГОЛЫЙ"), "golyy"]


@pytest.mark.parametrize(
    ("word", "entry"),
    [
        ("nude", "nude"),
        ("  Nude  ", "nude"),
        ("Hate   Speech", "hate speech"),
        ("nud*", "nud*"),
        ("Hate Sp*", "hate sp*"),
        ("Straße", "straße"),  # lower case, not casefold
        ("🍆", "🍆"),
        ("r34", "r34"),
        ("4k", "4k"),
        ("x" * 100, "x" * 100),
        ("裸体", "裸体"),
    ],
)
def test_check_entry_accepts(word, entry):
    assert check_entry(word) == entry


@pytest.mark.parametrize(
    ("word", "message"),
    [
        ("", "Give a word"),
        ("   ", "Give a word"),
        ("123", "needs a letter or an emoji"),
        ("***", "needs a letter or an emoji"),
        ("!!", "needs a letter or an emoji"),
        ("*", "needs a letter or an emoji"),
        ("4 2", "needs a letter or an emoji"),
        ("x" * 101, "at most 100 characters"),
        ("n*de", "can only end an entry"),
        ("*nude", "can only end an entry"),
        ("nud**", "can only end an entry"),
        ("nud *", "can only end an entry"),
        ("🍆*", "is for words"),
        ("nu\x00de", "U\\+0000"),
        ("nu\ud800de", "U\\+D800"),
    ],
)
def test_check_entry_refuses(word, message):
    with pytest.raises(ValueError, match=message):
        check_entry(word)


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


def test_the_benchmark_times_prompts_that_match_nothing():
    result = filter_benchmark(entries=120, prompt_chars=300, repeats=2)
    assert result["entries"] == 120 and result["prompt_chars"] == 300
    assert result["prompts"] == 13 and result["prompts_matching"] == 0
    assert 0 < result["filter_ms_median"] <= result["filter_ms_max"]
    assert result["compile_ms"] > 0
