"""Message text: user prompts are shown as plain text, never as markdown, links or pings."""

from __future__ import annotations

import re
import unicodedata

import discord
import pytest

from bot.discord_app.text import MAX_CONTENT, result_text, safe_prompt, waiting_text
from core.model import Job, JobParams
from core.recipes import Imagine
from tests.discord_markdown import Element, render


def job(prompt: str, **overrides) -> Job:
    fields = {
        "id": 12,
        "parent_id": None,
        "parent_index": None,
        "user_id": 42,
        "guild_id": 1,
        "channel_id": 2,
        "message_id": None,
        "prompt": prompt,
        "negative": "",
        "params": JobParams(width=192, height=128, steps=4, guidance=7.0),
        "recipe": Imagine(),
        "seed": 7,
        "status": "done",
        "error": None,
        "attempts": 1,
        "created_at": "t",
        "started_at": "t",
        "finished_at": "t",
    }
    fields.update(overrides)
    return Job(**fields)


def test_markdown_links_and_mentions_are_neutralised():
    shown = safe_prompt(
        "[free nitro](https://x.example) **bold** ||spoiler|| @everyone <@123456789012345678>"
    )
    assert "[free nitro](" not in shown and "\\[free nitro\\]" in shown
    assert "\\*\\*bold\\*\\*" in shown and "\\|\\|spoiler\\|\\|" in shown
    assert "@everyone" not in shown and "<@123456789012345678>" not in shown


def test_long_prompts_are_cut_after_escaping_never_inside_an_escape():
    shown = safe_prompt("*" * 1500)
    assert len(shown) <= 1500 and shown.endswith("…")
    assert shown[-2] != "\\"  # no dangling escape before the ellipsis
    text = result_text(job("*_~" * 700))
    assert len(text) <= MAX_CONTENT


def test_messages_name_the_job_and_state():
    assert "job 12 · seed 7 · 192x128" in result_text(job("a fox"))
    assert "job 12 · queued: position 3" in waiting_text(job("a fox", status="queued"), 3)
    assert "running: 40%" in waiting_text(job("a fox", status="running"), 0, 40)
    failed = result_text(job("a fox", status="failed", error="RuntimeError: boom\ntrace"))
    assert "failed: RuntimeError: boom" in failed and "trace" not in failed


# --- What Discord makes of it: tests/discord_markdown.py models the client's parser. ---

HOSTILE = [
    # masked links
    "[free nitro\\](https://evil.example)",
    "[free nitro](https://evil.example)",
    "[a](<https://x.example>)",
    '[a]( https://x.example "title")',
    "[[nested]](https://x.example) and [x](https://a.example)(https://b.example)",
    "**[bold link](https://x.example)**",
    # backslash runs before a masked link, and a trailing backslash
    "\\[x](https://y.example)",
    "\\\\[x](https://y.example)",
    "\\\\\\[x](https://y.example)",
    "\\\\\\\\[x](https://y.example) ends with \\",
    "a\\b \\*not bold* \\",
    # raw and bracketed URLs, invites
    "see https://evil.example/login now",
    "http://evil.example",
    "<https://evil.example>",
    "steam://run/123",
    "discord.gg/abcdef https://discord.gg/abcdef https://discord.com/invite/abc",
    "www.evil.example/path?q=1&x=(2)",
    # mentions of all kinds
    "<@123456789012345678> hi <@!123>",
    "<@&456> <#789>",
    "</imagine:123456> </admin ban:1>",
    "<t:1700000000:R> <t:1>",
    "<:pepe:123> <a:dance:456> :smile:",
    "@everyone look",
    "@here now, a@everyone b @@here",
    # markdown forms
    "**bold** __under__ *it* _it_ ~~gone~~",
    "***triple*** *a **b** c* ||spoiler||",
    "`code` and ```block``` and ```py\nprint(1)\n```",
    "# heading",
    "## two ### three",
    "-# subtext",
    "> quoted >>> all",
    "- item * star + plus",
    "1. a list",
    "   12. indented list",
    # a new line would start a heading, quote, list or subtext
    "a fox\n# big heading",
    "a fox\r\n> quoted\n>>> all\u2028- item\u2029* star",
    "a fox\n\n-# small\n1. one\n\n## two",
    # control characters and bidi overrides
    "a\u202eb\x00c\td\x1b[31m",
    # look-alike brackets are plain text anyway
    "［free］（https：／／evil.example）",
]

OWNER = 42


def shown(prompt: str) -> str:
    """What a reader should see: the prompt on one line, control characters gone."""
    kept = "".join(
        " " if c == "\t" else c
        for c in prompt
        if c in "\t\n\r\v\f\x1c\x1d\x1e\x85"
        or not (unicodedata.category(c) == "Cc" or "\u202a" <= c <= "\u202e")
    )
    return re.sub("[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]+", " ", kept)


def seen(text: str) -> str:
    """Rendered text without the zero-width space that breaks @everyone / @here."""
    return text.replace("@\u200b", "@")


def unexpected(content: str) -> list[Element]:
    """Live elements of a job message besides its bold prompt and its owner's mention."""
    return [
        e
        for e in render(content).elements
        if not (e.kind == "strong" and not e.inside)
        and not (e.kind == "user" and e.target == str(OWNER) and not e.inside)
    ]


@pytest.mark.parametrize("prompt", HOSTILE)
def test_a_hostile_prompt_shows_as_typed_and_nothing_in_it_is_live(prompt: str) -> None:
    escaped = safe_prompt(prompt)
    rendered = render(escaped)
    assert rendered.elements == [], escaped
    assert seen(rendered.text) == shown(prompt)
    assert "\n" not in escaped and not re.search(r"\w://", escaped)
    for text in (
        result_text(job(prompt, user_id=OWNER)),
        waiting_text(job(prompt, user_id=OWNER, status="queued"), 2),
    ):
        assert unexpected(text) == [], text
        [bold] = [e for e in render(text).elements if e.kind == "strong"]
        assert seen(bold.text) == shown(prompt)


def test_the_table_is_hostile_unescaped() -> None:
    """Without safe_prompt the table is live, but for these four: the check above can fail.

    (Already escaped text, a bare domain Discord does not link, control characters, and
    full-width lookalikes of a link: each must stay inert through safe_prompt too.)"""
    inert = [p for p in HOSTILE if not render(p).elements]
    assert inert == [
        "a\\b \\*not bold* \\",
        "www.evil.example/path?q=1&x=(2)",
        "a\u202eb\x00c\td\x1b[31m",
        "［free］（https：／／evil.example）",
    ]


NASTY = "[a](https://e.x) \\\\*b* <@1> @everyone ||s|| 1. `c` # h\n> q \\"


@pytest.mark.parametrize("limit", range(81))
def test_a_cut_prompt_is_short_whole_escapes_and_still_inert(limit: int) -> None:
    full = safe_prompt(NASTY)
    cut = safe_prompt(NASTY, limit)
    assert len(cut) <= limit
    assert len(full) > 80
    if limit == 0:
        assert cut == ""
        return
    assert cut.endswith("…")
    body = cut[:-1]
    assert full.startswith(body)
    trailing = len(body) - len(body.rstrip("\\"))
    assert trailing % 2 == 0, "a backslash cut from the character it escapes"
    assert render(cut).elements == []
    assert shown(NASTY).startswith(seen(render(body).text))
    assert unexpected(f"**{cut}** - <@{OWNER}>") == []


def test_a_prompt_that_fits_is_not_cut() -> None:
    assert safe_prompt("a fox", 5) == "a fox"
    assert safe_prompt("a*", 3) == "a\\*"
    assert safe_prompt("a*", 2) == "a…"
    assert safe_prompt("@here", 4) == "\\@\u200b…"
    assert safe_prompt("@here", 3) == "…"
    assert safe_prompt("x" * 20, 1) == "…"


# --- The renderer itself: it sees what Discord would make live. ---


@pytest.mark.parametrize(
    ("content", "kind", "target"),
    [
        ("[free nitro](https://evil.example)", "link", "https://evil.example"),
        ("[a](<https://x.example>)", "link", "https://x.example"),
        ("go https://evil.example/a, now", "url", "https://evil.example/a"),
        ("<https://evil.example>", "autolink", "https://evil.example"),
        ("steam://run/1", "url", "steam://run/1"),
        ("<@123>", "user", "123"),
        ("<@!123>", "user", "123"),
        ("<@&5>", "role", "5"),
        ("<#7>", "channel", "7"),
        ("</imagine:9>", "command", "imagine"),
        ("<t:1700000000:R>", "timestamp", "1700000000"),
        ("<:pepe:3>", "emoji", "3"),
        ("hi @everyone", "everyone", "everyone"),
        ("hi @here", "here", "here"),
        ("**b**", "strong", ""),
        ("__u__", "underline", ""),
        ("*i*", "em", ""),
        ("_i_", "em", ""),
        ("~~s~~", "strike", ""),
        ("||s||", "spoiler", ""),
        ("`c`", "code", "c"),
        ("```c```", "codeblock", "c"),
        ("# h", "heading", ""),
        ("a\n## h", "heading", ""),
        ("-# s", "subtext", ""),
        ("> q", "quote", ""),
        (">>> q", "blockquote", ""),
        ("- l", "list", ""),
        ("1. l", "list", ""),
        ("\\\\[x](https://y.example)", "link", "https://y.example"),
    ],
)
def test_the_renderer_finds_live_elements(content: str, kind: str, target: str) -> None:
    found = [(e.kind, e.target) for e in render(content).elements]
    assert (kind, target) in found, found


def test_the_renderer_honours_escapes_and_nesting() -> None:
    assert render("\\*a\\* \\[x\\](https\\://y) \\<@1> \\@everyone").elements == []
    assert render("\\*a\\*").text == "*a*"
    assert render("a\\b").text == "a\\b"  # a backslash before a letter stays
    rendered = render("**a [b](https://x.example) c** - <@5>")
    assert rendered.text == "a b c - @5"
    assert [(e.kind, e.inside) for e in rendered.elements] == [
        ("link", ("strong",)),
        ("strong", ()),
        ("user", ()),
    ]


def _old_safe_prompt(text: str) -> str:
    """safe_prompt before issue 9: escape_markdown, then [ and ] escaped again."""
    text = discord.utils.escape_markdown(text)
    text = text.replace("[", "\\[").replace("]", "\\]")
    return discord.utils.escape_mentions(text)


def test_the_renderer_catches_the_old_double_escape() -> None:
    prompt = "[free nitro\\](https://evil.example)"
    old = render(f"**{_old_safe_prompt(prompt)}** - <@{OWNER}>")
    assert ("link", "https://evil.example") in [(e.kind, e.target) for e in old.elements]
    assert render(_old_safe_prompt("hi https://evil.example")).kinds() == {"url"}
    assert render(_old_safe_prompt("[a](https://x.example)")).kinds() == {"link"}


def test_the_workers_line_names_each_worker_down_and_why():
    from bot.discord_app.members import workers_line
    from engine.types import WorkerState

    up = [WorkerState("cuda:0", True), WorkerState("cuda:1", True)]
    assert workers_line(up) == "Workers: 2 of 2 up (cuda:0, cuda:1)."
    lost = [WorkerState("cuda:0", True), WorkerState("cuda:1", False, "CUDA error: *lost*")]
    assert workers_line(lost) == (
        "Workers: 1 of 2 up (cuda:0); cuda:1 is down: CUDA error: \\*lost\\*."
    )
    assert workers_line([WorkerState("a", False, "x")]) == "Workers: 0 of 1 up; a is down: x."
