"""``--json`` output: stdout for the report alone (``imaginebot bench --json | jq``)."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import TextIO

_report: list[TextIO] = []  # where emit() writes while json_only() holds stdout


@contextlib.contextmanager
def json_only(on: bool = True) -> Iterator[None]:
    """While it holds (``on``), stdout is the report's alone: everything else written to
    it, by Python (``print``, a library's log handler) or below (file descriptor 1: Ray's
    processes, native code), goes to stderr; ``emit`` writes the report to the real
    stdout. So ``imaginebot bench --json | jq`` reads JSON only."""
    if not on:
        yield
        return
    previous = sys.stdout
    previous.flush()
    saved = os.dup(1)
    real: TextIO = previous
    try:
        os.dup2(2, 1)
        # The report goes where stdout went: file descriptor 1 as it was, or the stream
        # that stands in for it (a test's capture).
        if _on_fd_1(previous):
            real = os.fdopen(os.dup(saved), "w")
        sys.stdout = sys.stderr
        _report.append(real)
        yield
    finally:
        if _report and _report[-1] is real:
            _report.pop()
        sys.stdout = previous
        sys.stderr.flush()
        os.dup2(saved, 1)  # restored first: whatever fails below, stdout is back
        os.close(saved)
        if real is not previous:
            with contextlib.suppress(OSError):  # a closed pipe (| head)
                real.close()


def _on_fd_1(stream: TextIO) -> bool:
    try:
        return stream.fileno() == 1
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation: a capture
        return False


def emit(text: str) -> None:
    """Print the report: to the real stdout, also inside ``json_only``."""
    print(text, file=_report[-1] if _report else sys.stdout, flush=True)
