"""The prompt tables of the matcher's end-to-end tests: entries, evasions that must be
caught, and prompts people write that must pass."""

from __future__ import annotations

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

# (prompt, the entry of BLOCKED it holds)
EVASIONS = [
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
]

# Prompts that hold no entry of BLOCKED.
INNOCENT = [
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
]

# The tables: every kind of evasion, and words people write in other languages,
# brands, model numbers and names (against READING_BLOCKED).
READING_BLOCKED = [
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
