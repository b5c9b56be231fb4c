"""A small model of how the Discord client renders message content, for tests.

Discord parses content with (its fork of) simple-markdown. At each position the rules are
tried in order and the first that matches wins; the ``text`` rule comes last and consumes
plain characters up to the next one that may start something (any ASCII punctuation, a
line break, or ``word:`` as in ``https:``). So an escape ``\\x`` (a backslash before any
character that is not a letter, digit or space) always beats every rule starting at the
backslash, and ``x`` shows as plain text; a backslash before a letter stays visible.

The model, in order:

- at the start of a line: ``>>> `` and ``> `` quotes, ``-# `` subtext, ``# ``/``## ``/
  ``### `` headings, ``- ``/``* ``/``+ ``/``1. `` lists (repeatable: ``> # x``);
- escape ``\\x``; code block ````` ```x``` `````; inline code `` `x` ``;
- autolink ``<https://x>``; masked link ``[text](url)`` (also ``(<url>)``);
  URL ``https://...`` (and ``http``, ``steam``) as simple-markdown's url rule;
- mentions ``<@id>`` ``<@!id>``, roles ``<@&id>``, channels ``<#id>``, commands
  ``</name:id>``, timestamps ``<t:n>``/``<t:n:R>``, custom emoji ``<:name:id>``,
  ``@everyone`` and ``@here``;
- ``**strong**``, ``__underline__``, ``*em*``/``_em_``, ``~~strike~~``, ``||spoiler||``
  (their content is parsed again, so elements nest).

``render(content)`` gives the text a reader sees and every live element (anything that
is not plain text: a link, a mention, formatting), each with the kinds it sits inside.
It is stricter than Discord where unsure (e.g. any masked-link target counts).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

LINK_KINDS = frozenset({"link", "autolink", "url"})
MENTION_KINDS = frozenset(
    {"user", "role", "channel", "command", "timestamp", "emoji", "everyone", "here"}
)


@dataclass(frozen=True)
class Element:
    """One live thing in a message."""

    kind: str  # "link", "url", "user", "strong", "heading", ... (see the rules below)
    source: str  # the raw content it was made from
    target: str = ""  # a link's URL, a mention's id, a command's name
    text: str = ""  # what it shows (its content, rendered)
    inside: tuple[str, ...] = ()  # kinds of the elements around it, outermost first


@dataclass
class Rendered:
    text: str  # what a reader sees (markers and escapes gone)
    elements: list[Element] = field(default_factory=list)

    def kinds(self) -> set[str]:
        return {element.kind for element in self.elements}


_LINE_RULES = [
    ("blockquote", re.compile(r">>> ")),
    ("quote", re.compile(r"> ")),
    ("subtext", re.compile(r"-# (?=\S)")),
    ("heading", re.compile(r"#{1,3} (?=\S)")),
    ("list", re.compile(r" *(?:[-*+]|\d{1,9}\.) (?=\S)")),
]

# simple-markdown's link: [inside](href "title"); inside may hold balanced [..].
_LINK_INSIDE = r"(?:\[[^\]]*\]|[^\[\]]|\](?=[^\[]*\]))*"
_LINK_HREF = r"\s*<?((?:\([^)]*\)|[^\s\\]|\\.)*?)>?(?:\s+['\"]([\s\S]*?)['\"])?\s*"
# simple-markdown's em: _x_ around words, or *x* with no space after the first *.
_EM_UNDERSCORE = r"_((?:__|\\[\s\S]|[^\\_])+?)_\b"
_EM_STAR = r"\*(?=\S)((?:\*\*|\\[\s\S]|\s+(?:\\[\s\S]|[^\s*\\]|\*\*)|[^\s*\\])+?)\*(?!\*)"

# (kind, pattern, group of the target or None, group of the nested content or None)
_INLINE_RULES: list[tuple[str, re.Pattern[str], int | None, int | None]] = [
    (kind, re.compile(pattern), target, content)
    for kind, pattern, target, content in [
        ("escape", r"\\([^0-9A-Za-z\s])", 1, None),
        ("codeblock", r"```(?:[\w+\-.#]+\n)?([\s\S]+?)```", 1, None),
        ("code", r"(`+)([\s\S]*?[^`])\1(?!`)", 2, None),
        ("autolink", r"<((?:https?|steam)://[^\s>]+)>", 1, None),
        ("link", r"\[(" + _LINK_INSIDE + r")\]\(" + _LINK_HREF + r"\)", 2, 1),
        ("url", r"((?:https?|steam)://[^\s<]+[^<.,:;\"')\]\s])", 1, None),
        ("user", r"<@!?(\d+)>", 1, None),
        ("role", r"<@&(\d+)>", 1, None),
        ("channel", r"<#(\d+)>", 1, None),
        ("command", r"</([-\w ]+):(\d+)>", 1, None),
        ("timestamp", r"<t:(-?\d+)(?::[tTdDfFR])?>", 1, None),
        ("emoji", r"<a?:(\w+):(\d+)>", 2, None),
        ("everyone", r"@(everyone)", 1, None),
        ("here", r"@(here)", 1, None),
        ("strong", r"\*\*([\s\S]+?)\*\*(?!\*)", None, 1),
        ("underline", r"__([\s\S]+?)__(?!_)", None, 1),
        ("em", _EM_UNDERSCORE, None, 1),
        ("em", _EM_STAR, None, 1),
        ("strike", r"~~([\s\S]+?)~~", None, 1),
        ("spoiler", r"\|\|([\s\S]+?)\|\|", None, 1),
    ]
]
_TEXT = re.compile(r"\n|[\s\S]+?(?=[^0-9A-Za-z\s\u00c0-\uffff]|\n|\w+:\S|$)")


def render(content: str) -> Rendered:
    """What the Discord client makes of ``content``: visible text and live elements."""
    elements: list[Element] = []
    text = _parse(content, elements, (), block=True)
    return Rendered(text, elements)


def _parse(source: str, elements: list[Element], inside: tuple[str, ...], block: bool) -> str:
    shown: list[str] = []
    pos = 0
    while pos < len(source):
        if block and (pos == 0 or source[pos - 1] == "\n"):
            pos = _line_start(source, pos, elements, inside)
            if pos >= len(source):
                break
        for kind, pattern, target, content in _INLINE_RULES:
            match = pattern.match(source, pos)
            if match is None:
                continue
            if kind == "escape":
                shown.append(match.group(1))
            else:
                inner = match.group(content) if content is not None else None
                text = (
                    _parse(inner, elements, (*inside, kind), block=False)
                    if inner is not None
                    else _visible(kind, match)
                )
                aim = (match.group(target) or "") if target is not None else ""
                elements.append(Element(kind, match.group(0), aim, text, inside))
                shown.append(text)
            pos = match.end()
            break
        else:
            match = _TEXT.match(source, pos)
            assert match is not None  # [\s\S]+? always takes one character
            shown.append(match.group(0))
            pos = match.end()
    return "".join(shown)


def _line_start(source: str, pos: int, elements: list[Element], inside: tuple[str, ...]) -> int:
    """Skip the line-start markers at ``pos`` (recording each); the position after them."""
    matched = True
    while matched:
        matched = False
        for kind, pattern in _LINE_RULES:
            match = pattern.match(source, pos)
            if match:
                end = source.find("\n", pos)
                line = source[match.end() : end if end >= 0 else len(source)]
                elements.append(Element(kind, match.group(0), "", line, inside))
                pos, matched = match.end(), True
                break
    return pos


def _visible(kind: str, match: re.Match[str]) -> str:
    """What a leaf element shows (roughly: Discord shows names where we show ids)."""
    if kind in ("user", "role", "everyone", "here"):
        return "@" + match.group(1)
    if kind == "channel":
        return "#" + match.group(1)
    if kind == "command":
        return "/" + match.group(1)
    if kind == "emoji":
        return ":" + match.group(1) + ":"
    if kind == "code":
        return match.group(2)
    if kind in ("codeblock", "autolink", "url", "timestamp"):
        return match.group(1)
    return match.group(0)
