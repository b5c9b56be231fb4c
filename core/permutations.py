"""Permutations: ``a {red, blue} bird`` is two prompts (``core.prompt.parse_prompts``)."""

from __future__ import annotations

from core.errors import BadParameter

MAX_JOBS = 4  # jobs one prompt may make, --repeat and {} together
MAX_NESTING = 8  # levels of {} inside {}

# Permutations: ``a {red, blue} bird`` is two prompts. ``\\{`` and ``\\}`` are braces as
# text and ``\\,`` is a comma inside an option; any other backslash stays as typed
# (``\\[x]`` is not touched). Parsed into a tree first, counted without expanding (a hostile
# ``{a,b}{a,b}...`` would make millions), expanded only when the count fits.
_Seq = list  # of str and alternatives (a list of _Seq)


def _brace_tree(text: str) -> _Seq:
    """``text`` as a sequence of text and alternatives; ``BadParameter`` when the braces
    do not pair up or nest too deep."""
    rule = "use `{red, blue}` for one job per option; write `\\{` for a brace as text"
    root: _Seq = []
    stack: list[tuple[_Seq, list[_Seq]]] = []  # the enclosing sequence, this group's options
    current = root
    buffer: list[str] = []
    position = 0
    while position < len(text):
        char = text[position]
        following = text[position + 1] if position + 1 < len(text) else ""
        if char == "\\" and (following in ("{", "}") or (following == "," and stack)):
            buffer.append(following)
            position += 2
            continue
        if char == "{":
            if len(stack) >= MAX_NESTING:
                raise BadParameter("{}", f"Braces nest more than {MAX_NESTING} deep: {rule}.")
            current.append("".join(buffer))
            buffer = []
            options: list[_Seq] = [[]]
            stack.append((current, options))
            current = options[0]
        elif char == "," and stack:
            current.append("".join(buffer))
            buffer = []
            options = stack[-1][1]
            options.append([])
            current = options[-1]
        elif char == "}":
            if not stack:
                raise BadParameter("{}", f"A `}}` closes no `{{`: {rule}.")
            current.append("".join(buffer))
            buffer = []
            parent, options = stack.pop()
            parent.append(options)
            current = parent
        else:
            buffer.append(char)
        position += 1
    if stack:
        raise BadParameter("{}", f"A `{{` is never closed: {rule}.")
    current.append("".join(buffer))
    return root


def _count(sequence: _Seq) -> int:
    total = 1
    for part in sequence:
        if isinstance(part, list):
            total *= sum(_count(option) for option in part)
    return total


def _expand(sequence: _Seq) -> list[str]:
    results = [""]
    for part in sequence:
        if isinstance(part, list):
            options = [text.strip() for option in part for text in _expand(option)]
            results = [f"{head}{option}" for head in results for option in options]
        else:
            results = [f"{head}{part}" for head in results]
    return results


def expand_prompt(text: str) -> list[str]:
    """The prompts that ``{}`` permutations make of ``text`` (one when it has none)."""
    tree = _brace_tree(text)
    count = _count(tree)
    if count > MAX_JOBS:
        many = f"{count}" if count < 10**6 else "over a million"
        raise BadParameter(
            "{}", f"This prompt makes {many} prompts with `{{}}`; the most is {MAX_JOBS}."
        )
    return _expand(tree)
