"""The prompt parser: every parameter, valid and invalid, edge values, order, forms."""

from __future__ import annotations

import re

import pytest

from core.errors import BadParameter
from core.prompt import (
    MAX_PROMPT_CHARS,
    MAX_SEED,
    ParsedPrompt,
    check_negative,
    check_storable,
    parse_aspect,
    parse_float,
    parse_int,
    parse_prompt,
    parse_prompts,
)


def parse(text: str, max_steps: int = 50) -> ParsedPrompt:
    return parse_prompt(text, max_steps=max_steps)


def test_plain_prompt_has_no_parameters():
    assert parse("  a fox   in snow ") == ParsedPrompt(prompt="a fox in snow")


def test_every_parameter_in_midjourney_form():
    parsed = parse("a fox in snow --ar 3:2 --seed 7 --no people, text --steps 30 --cfg 6.5")
    assert parsed == ParsedPrompt(
        prompt="a fox in snow",
        negative="people, text",
        aspect=(3, 2),
        seed=7,
        steps=30,
        cfg=6.5,
    )


def test_order_does_not_matter_and_equals_form_is_accepted():
    a = parse("a fox --cfg=3 --steps=12 --seed=5 --ar=16:9 --no=blurry")
    b = parse("a fox --no blurry --ar 16:9 --seed 5 --steps 12 --cfg 3")
    assert a == b
    assert a.aspect == (16, 9) and a.negative == "blurry"


def test_parameter_names_ignore_case_and_phone_dashes():
    parsed = parse("a fox —ar 2:3 –SEED 1")
    assert parsed.aspect == (2, 3) and parsed.seed == 1


def test_aspect_is_reduced():
    assert parse("x --ar 6:4").aspect == (3, 2)
    assert parse("x --ar 4:1").aspect == (4, 1)
    assert parse("x --ar 1:4").aspect == (1, 4)


@pytest.mark.parametrize(
    ("text", "parameter", "fragment"),
    [
        ("x --ar 5:1", "--ar", "1:4 and 4:1"),
        ("x --ar 1:5", "--ar", "1:4 and 4:1"),
        ("x --ar 0:1", "--ar", "zero"),
        ("x --ar 3/2", "--ar", "3:2"),
        ("x --ar 1.5:1", "--ar", "whole numbers"),
        ("x --ar", "--ar", "needs a value"),
        ("x --seed -1", "--seed", "0 to 4294967295"),
        ("x --seed 4294967296", "--seed", "0 to 4294967295"),
        ("x --seed abc", "--seed", "whole number"),
        ("x --seed 1.5", "--seed", "whole number"),
        ("x --steps 0", "--steps", "1 to 50"),
        ("x --steps 51", "--steps", "1 to 50"),
        ("x --steps 9999", "--steps", "1 to 50"),
        ("x --cfg -0.1", "--cfg", "0 to 20"),
        ("x --cfg 20.01", "--cfg", "0 to 20"),
        ("x --cfg nan", "--cfg", "0 to 20"),
        ("x --cfg inf", "--cfg", "0 to 20"),
        ("x --cfg lots", "--cfg", "not a number"),
        ("x --no", "--no", "needs text"),
        ("x --foo 1", "--foo", "not a parameter"),
        ("x --seed 1 --seed 2", "--seed", "twice"),
        ("x --seed 1 in the snow", "--seed", "prompt first"),
    ],
)
def test_bad_parameters_name_the_parameter_and_range(text, parameter, fragment):
    with pytest.raises(BadParameter) as caught:
        parse(text)
    assert caught.value.parameter == parameter
    assert parameter in caught.value.message
    assert fragment in caught.value.message


def test_edge_values_are_accepted():
    low = parse("x --seed 0 --steps 1 --cfg 0")
    high = parse(f"x --seed {MAX_SEED} --steps 50 --cfg 20")
    assert (low.seed, low.steps, low.cfg) == (0, 1, 0.0)
    assert (high.seed, high.steps, high.cfg) == (MAX_SEED, 50, 20.0)


def test_max_steps_comes_from_the_setting():
    assert parse("x --steps 80", max_steps=100).steps == 80
    with pytest.raises(BadParameter, match="1 to 10"):
        parse("x --steps 11", max_steps=10)


@pytest.mark.parametrize("text", ["", "   ", "--ar 3:2", "  --seed 7 --no people"])
def test_empty_prompt_after_parameters_is_refused(text):
    with pytest.raises(BadParameter, match="empty") as caught:
        parse(text)
    assert caught.value.parameter == "prompt"


def test_prompt_length_is_counted_without_parameters():
    longest = "a" * MAX_PROMPT_CHARS
    assert parse(longest + " --seed 3").prompt == longest
    with pytest.raises(BadParameter, match=r"1501 characters.*1500"):
        parse(longest + "b --seed 3")
    with pytest.raises(BadParameter, match="5000 characters"):
        parse("x" * 5000)


def test_double_dash_inside_words_is_prompt_text():
    assert parse("a well--lit room --seed 2").prompt == "a well--lit room"
    assert parse("a -- b").prompt == "a -- b"


# --tile, --iw, --repeat and {} permutations


def prompts(text: str) -> list[tuple[str, int, bool]]:
    from core.prompt import parse_prompts

    return [(p.prompt, p.repeat, p.tile) for p in parse_prompts(text, max_steps=50)]


def test_tile_is_a_flag_and_iw_a_number():
    assert parse("a leaf pattern --tile").tile is True
    assert parse("a leaf pattern --tile --ar 2:1").aspect == (2, 1)
    assert parse("a fox").tile is False
    assert parse("a fox --iw 0.5").image_weight == 0.5
    assert parse("a fox --iw 0").image_weight == 0.0
    for text, fragment in (
        ("a fox --tile yes", "takes no value"),
        ("a fox --iw 2.5", "from 0 to 2"),
        ("a fox --iw", "needs a value"),
        ("a fox --repeat 0", "from 1 to 4"),
        ("a fox --repeat 1.5", "whole number"),
    ):
        with pytest.raises(BadParameter, match=fragment):
            parse(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a fox", [("a fox", 1, False)]),
        ("a fox --repeat 3", [("a fox", 3, False)] * 3),
        ("a {red, blue} bird", [("a red bird", 1, False), ("a blue bird", 1, False)]),
        (
            "a {red, blue} bird --repeat 2",
            [("a red bird", 2, False)] * 2 + [("a blue bird", 2, False)] * 2,
        ),
        (
            "a {big {red, blue}, small} bird",
            [
                ("a big red bird", 1, False),
                ("a big blue bird", 1, False),
                ("a small bird", 1, False),
            ],
        ),
        (
            "{a, b} and {c, d}",
            [
                ("a and c", 1, False),
                ("a and d", 1, False),
                ("b and c", 1, False),
                ("b and d", 1, False),
            ],
        ),
        (r"a \{literal\} brace", [("a {literal} brace", 1, False)]),
        (r"a {x\, y, z}", [("a x, y", 1, False), ("a z", 1, False)]),
        ("a {single} option", [("a single option", 1, False)]),
        ("tiles {--tile, --ar 2:1}", [("tiles", 1, True), ("tiles", 1, False)]),
    ],
)
def test_permutations_and_repeats_expand_into_jobs(text, expected):
    assert prompts(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("a {red, blue, green, pink, grey} bird", "makes 5 prompts"),
        ("{a,b}" * 19, "makes 524288 prompts"),
        ("{a,b}" * 40, "makes over a million prompts"),
        ("a {red, blue} bird --repeat 3", "makes 6 jobs"),
        ("a {red, blue bird", "never closed"),
        ("a red} bird", "closes no"),
        ("{" * 9 + "x" + "}" * 9, "nest more than 8"),
        ("a {red, blue --repeat 9} bird", "--repeat"),
    ],
)
def test_expansions_past_the_limit_or_malformed_are_refused(text, fragment):
    with pytest.raises(BadParameter, match=re.escape(fragment)):
        prompts(text)


def test_a_huge_hostile_expansion_is_counted_not_expanded():
    with pytest.raises(BadParameter, match="makes over a million prompts"):
        prompts("{a,b,c}" * 500)  # expanding it would never end


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("a fox \ud800 in snow", "U+D800"),  # a lone surrogate, as a client's JSON can send
        ("a fox \udfff", "U+DFFF"),
        ("a fox\x00 in snow", "U+0000"),
        ("a fox --no \ud83d people", "U+D83D"),
        ("a fox --ar 3:2\udc00", "U+DC00"),
        ("{a \ud800, b} fox", "U+D800"),
    ],
)
def test_text_that_cannot_be_stored_is_refused_by_its_code(text, code):
    for parsed in (parse, lambda t: parse_prompts(t, max_steps=50)):
        with pytest.raises(BadParameter, match=re.escape(code)) as refused:
            parsed(text)
        assert refused.value.parameter == "prompt"
        message = refused.value.message
        assert message.startswith("The prompt contains a character I can't store")
        message.encode()  # the refusal itself never echoes the character


def test_every_stored_text_and_echoed_value_is_checked():
    fine = "a fox 🦊 in snow, \t\n façade"
    assert check_storable(fine, "prompt") == fine
    cases = [
        (lambda: check_negative("people \ud800", "negative"), "`negative`"),
        (lambda: check_storable("spam\x00", "reason"), "`reason`"),
        (lambda: parse_float("1.5\ud800", "zoom", 1.0, 2.0), "`zoom`"),
        (lambda: parse_int("7\udfff", "steps", 1, 50), "`steps`"),
        (lambda: parse_aspect("3:2\ud800", "aspect"), "`aspect`"),
    ]
    for call, name in cases:
        with pytest.raises(BadParameter, match=f"^{re.escape(name)} contains a character"):
            call()


def test_model_and_loras_are_parsed_with_their_bounds():
    parsed = parse("a fox --model FLUX --lora ink --lora paper_2:0.7 --lora x.y:0")
    assert parsed.model == "flux"
    assert parsed.loras == (("ink", 1.0), ("paper_2", 0.7), ("x.y", 0.0))
    assert parse("a fox").loras == () and parse("a fox").model is None
    refusals = [
        ("a fox --lora a --lora b --lora c --lora d", "At most 3 LoRAs"),
        ("a fox --lora a --lora a:0.5", "each named once"),
        ("a fox --lora ink:2.5", "`--lora` takes a number from 0 to 2"),
        ("a fox --lora ink:-1", "`--lora` takes a number from 0 to 2"),
        ("a fox --lora ../etc:1", "needs a LoRA's name"),
        ("a fox --model a/b", "`--model` needs a model's name"),
        ("a fox --model a --model b", "given twice"),
    ]
    for text, says in refusals:
        with pytest.raises(BadParameter, match=re.escape(says)) as refused:
            parse(text)
        assert refused.value.parameter in ("--lora", "--model"), text


def test_chaos_is_a_whole_number_from_0_to_100():
    assert parse("a fox --chaos 50").chaos == 50 and parse("a fox").chaos is None
    for text in ("a fox --chaos 101", "a fox --chaos -1", "a fox --chaos 2.5"):
        with pytest.raises(BadParameter, match="`--chaos` takes a whole number from 0 to 100"):
            parse(text)
