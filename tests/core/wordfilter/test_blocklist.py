"""The matcher end to end (core/wordfilter/blocklist.py: ``BlockList``, ``find_blocked``):
evasions that must match, innocent words that must not, the word as typed deciding, and
the memory a compiled list keeps."""

from __future__ import annotations

import pytest

from core.wordfilter import BlockList, find_blocked
from devtools.filter_bench import blocked_entries, compiled_bytes, hostile_entries
from tests.core.wordfilter.cases import (
    BLOCKED,
    EVASIONS,
    INNOCENT,
    MUST_ALLOW,
    MUST_BLOCK,
    READING_BLOCKED,
)


@pytest.mark.parametrize(("prompt", "entry"), EVASIONS)
def test_evasions_are_caught(prompt, entry):
    assert find_blocked(prompt, BLOCKED) == entry


@pytest.mark.parametrize("prompt", INNOCENT)
def test_innocent_prompts_pass(prompt):
    assert find_blocked(prompt, BLOCKED) is None


@pytest.fixture(scope="module")
def reading_list() -> BlockList:
    return BlockList(READING_BLOCKED)


def test_the_tables_are_as_large_as_the_issue_asks():
    assert len(MUST_BLOCK) >= 60 and len(MUST_ALLOW) >= 40


@pytest.mark.parametrize(("prompt", "entry"), MUST_BLOCK)
def test_evasions_of_every_kind_are_caught(reading_list, prompt, entry):
    assert reading_list.find(prompt) == entry


@pytest.mark.parametrize("prompt", MUST_ALLOW)
def test_words_people_write_pass(reading_list, prompt):
    assert reading_list.find(prompt) is None


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


def test_the_first_entry_of_the_list_wins_where_two_end_at_one_word():
    assert find_blocked("a nude", ["nud*", "nude"]) == "nud*"
    assert find_blocked("a nude", ["nude", "nud*"]) == "nude"
    # The one whose last word comes first in the prompt wins over list order.
    assert find_blocked("gore then nude", ["nude", "gore"]) == "gore"


def test_blocklist_api():
    blocklist = BlockList(["nude", "", "!!", "🍆", "hate speech"])
    assert len(blocklist) == 3  # "" and "!!" can never match
    assert blocklist
    assert not BlockList([])
    assert not BlockList(["", "..."])
    assert blocklist.find("n u d e") == "nude"
    assert blocklist.find("a calm lake") is None
    assert blocklist.entries == ("nude", "", "!!", "🍆", "hate speech")
    assert repr(blocklist) == "BlockList(3 entries)"


def test_the_word_as_typed_decides():
    # An ordinary word is only ever itself...
    assert BlockList(["good"]).find("a good dog") == "good"
    assert BlockList(["год"]).find("ГОД назад") == "год"
    # ...and a fuzzed word that reads as an ordinary one is that word, unless the entry
    # says so.
    assert BlockList(["god"]).find("g00d") is None
    assert BlockList(["good"]).find("g00d") == "good"
    assert BlockList(["god"]).find("g0d") == "god"
    # An entry with an accent blocks the word written plainly too.
    assert BlockList(["Nüde"]).find("a nude") == "Nüde"
    # Leet inside a model number stays digits; the same letters read as leet elsewhere.
    assert BlockList(["ass"]).find("A55") is None
    assert BlockList(["ass"]).find("4ss") == "ass"
    # A hyphenated compound that people also write as one word is one word (as the same
    # letters written as one word would be); otherwise its parts are words.
    assert BlockList(["gore"]).find("Gore-Tex") is None
    assert BlockList(["gore"]).find("gore-tex") is None
    assert BlockList(["goretex"]).find("Gore-Tex") == "goretex"
    assert BlockList(["gore"]).find("gore-soaked") == "gore"
    assert BlockList(["ass"]).find("Big-Ass") is BlockList(["ass"]).find("bigass") is None
    assert BlockList(["hate speech"]).find("hate-speech") == "hate speech"


# --- memory: the estimate the cache bounds ---


@pytest.mark.parametrize("kind", ["busy server", "hostile"])
def test_the_estimate_covers_what_a_compiled_list_keeps(kind):
    entries = blocked_entries(500) if kind == "busy server" else hostile_entries(500)
    estimate = BlockList(entries).nbytes
    kept = compiled_bytes(entries)
    assert kept <= estimate <= 3 * kept, (kept, estimate)


def test_hostile_lists_compile_to_bounded_memory():
    # 500 entries of 100 characters each, built to make the trie as large as it gets.
    blocklist = BlockList(hostile_entries(500))
    assert blocklist.nbytes < 48 * 1024 * 1024
