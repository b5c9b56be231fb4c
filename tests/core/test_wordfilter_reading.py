"""The filter reads like a person: every kind of evasion the issue found is caught, and
words that people write in other languages, brands, model numbers and names pass."""

from __future__ import annotations

import pytest

from core.wordfilter import BlockList
from core.wordfilter.lexicon import is_ordinary

BLOCKED = [
    "nude",
    "ass",
    "gore",
    "hate speech",
    "god",
    "bot",
    "sex",
    "porn*",
    "kill",
    "naked",
    "fuck",
    "whore",
    "nazi",
    "boobs",
    "penis",
    "blood bath",
]

MUST_BLOCK = [
    # symbol leet
    ("s€x", "sex"),
    ("nud€", "nude"),
    ("k!ll", "kill"),
    ("k|ll", "kill"),
    ("g()re", "gore"),
    ("vvhore", "whore"),
    ("phuck", "fuck"),
    ("se><", "sex"),
    ("6ore", "gore"),
    ("9ore", "gore"),
    ("@$$", "ass"),
    ("a$$", "ass"),
    ("b00b5", "boobs"),
    ("n4z1", "nazi"),
    ("p3n!s", "penis"),
    ("+he n@ked truth", "naked"),
    # doubled letters in words nobody writes
    ("sexx", "sex"),
    ("nuude", "nude"),
    ("naaked", "naked"),
    ("fuuck", "fuck"),
    ("gorre", "gore"),
    ("nudde", "nude"),
    ("kiill", "kill"),
    # camelCase and hyphenated compounds (not written as one word by anyone)
    ("Nude-Beach", "nude"),
    ("Hot-Sex", "sex"),
    ("Kill-Them", "kill"),
    ("Naked-Woman", "naked"),
    ("NudeBeach", "nude"),
    ("sexyNudeGirl", "nude"),
    ("KillBill", "kill"),
    ("stopHateSpeech", "hate speech"),
    # lookalikes: Latin Extended, mathematical letters, Canadian syllabics, regional
    # indicators, Greek and Cyrillic mixes, small capitals, circled, full width
    ("nŭde", "nude"),
    ("ɲude", "nude"),
    ("nuđe", "nude"),
    ("ȵude", "nude"),
    ("nʉde", "nude"),
    ("𝓃𝓊𝒹𝑒", "nude"),
    ("𝔫𝔲𝔡𝔢", "nude"),
    ("𝕟𝕦𝕕𝕖", "nude"),
    ("𝚗𝚞𝚍𝚎", "nude"),
    ("ᑎᑌᗪᗴ", "nude"),
    ("ᔑᗴ᙭", "sex"),
    ("ᑭOᖇᑎ", "porn*"),
    ("🇳🇺🇩🇪", "nude"),
    ("🇸🇪🇽", "sex"),
    ("ոυԁе", "nude"),
    ("ΝυԀΕ", "nude"),
    ("ѕεχ", "sex"),
    ("kіll", "kill"),
    ("gοrе", "gore"),
    ("ɴᴀᴋᴇᴅ", "naked"),
    ("ⓝⓐⓚⓔⓓ", "naked"),
    ("ｎａｋｅｄ", "naked"),
    ("гoд", "god"),  # Cyrillic г and д around a Latin o: a mix, folded
    # one letter split off
    ("nake d", "naked"),
    ("n aked", "naked"),
    ("fuc k", "fuck"),
    ("f uck", "fuck"),
    ("a pic of a nud e", "nude"),
    # thin, hair, six-per-em, narrow and ideographic spaces
    ("n\u2009u\u2009d\u2009e", "nude"),
    ("nu\u200ade", "nude"),
    ("na\u2009ked", "naked"),
    ("nu\u2006de", "nude"),
    ("se\u202fx", "sex"),
    ("n\u3000u\u3000d\u3000e", "nude"),
    ("hate\u3000speech", "hate speech"),
    # spelled apart, stretched, phrases, prefixes
    ("f u c k", "fuck"),
    ("f.u.c.k", "fuck"),
    ("fuuuuck", "fuck"),
    ("pornhub", "porn*"),
    ("blood-bath", "blood bath"),
    ("bloodbath", "blood bath"),
]

MUST_ALLOW = [
    # whole words of other languages, as typed
    "год назад",  # Russian: a year ago
    "bốt cảnh sát",  # Vietnamese: police booth
    "kıllı kedi",  # Turkish: hairy cat
    "göre",  # Turkish: according to
    "Бог",  # Russian: God, in its own script, is not the Latin entry
    "гора",
    "Ελλάδα",
    "東京タワー",
    "서울의 밤",
    "ქალაქი",
    "dios",
    "seks",  # Polish, Dutch: the entry is the English word
    # ordinary words near blocked ones
    "a good dog",
    "good",
    "boots in the mud",
    "a goddess",
    "robot",
    "gorgeous",
    "skillful",
    "killer whale",
    "assassin",
    "class",
    "bass guitar",
    "passage",
    "nudibranch",
    "cocktail",
    "a hole in one",
    "g00d vibes",  # reads "good", not "god"
    # model numbers, units, brands, names
    "Samsung A55 phone",
    "B07 bus",
    "Pixel 7 Pro",
    "iPhone 15",
    "RTX4090",
    "1080p",
    "35mm",
    "f/1.8",
    "4k uhd",
    "$5 coffee",
    "55 mph",
    "a Gore-Tex jacket",
    "Coca-Cola",
    "Rolls-Royce",
    "Mercedes-Benz",
    "YouTube video",
    "McDonald's",
    "PlayStation",
    "Glasgow",
    "Scunthorpe",
    "Essex",
    "Middlesex",
    "Sexton",
    "Kilimanjaro",
    "Bottrop",
    "Gotham",
    "Popeye",
    "mass",
    "grass",
]


@pytest.fixture(scope="module")
def blocklist() -> BlockList:
    return BlockList(BLOCKED)


def test_the_tables_are_as_large_as_the_issue_asks():
    assert len(MUST_BLOCK) >= 60 and len(MUST_ALLOW) >= 40


@pytest.mark.parametrize(("prompt", "entry"), MUST_BLOCK)
def test_evasions_of_every_kind_are_caught(blocklist, prompt, entry):
    assert blocklist.find(prompt) == entry


@pytest.mark.parametrize("prompt", MUST_ALLOW)
def test_words_people_write_pass(blocklist, prompt):
    assert blocklist.find(prompt) is None


def test_the_word_as_typed_decides():
    # An ordinary word is only ever itself...
    assert is_ordinary("good") and is_ordinary("год") and is_ordinary("kıllı")
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
