"""What the end-to-end tests expect of the bot's messages, shared by every e2e file."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from tests.e2e.fake_discord import FakeDiscord, FakeMember, Interaction, StoredMessage

GRID_ROWS = [["U1", "U2", "U3", "U4", "🔄"], ["V1", "V2", "V3", "V4"]]
UPSCALE_ROWS = [
    ["Vary (Strong)", "Vary (Subtle)", "Vary (Region)"],
    ["Upscale (Creative)", "Zoom Out 2x", "Zoom Out 1.5x", "Custom Zoom"],
    ["⬅️", "➡️", "⬆️", "⬇️"],
    ["Animate (Low motion)", "Animate (High motion)"],
]
CLIP_ROWS = [["Extend (Low motion)", "Extend (High motion)", "🔄"]]
JOB_TIMEOUT = 180.0  # generous: the creative upscale is slow on a busy CPU
_JOB = re.compile(r"\bjob (\d+)\b")
T = TypeVar("T")


def eventually(read: Callable[[], T], expected: T, timeout: float = 10.0) -> None:
    """Poll ``read()`` until it returns ``expected`` (the bot writes after Discord answers)."""
    deadline = time.monotonic() + timeout
    while (value := read()) != expected:
        assert time.monotonic() < deadline, f"still {value!r}, expected {expected!r}"
        time.sleep(0.05)


def job_id(message: StoredMessage) -> int:
    match = _JOB.search(message.content)
    assert match, f"the message does not name its job: {message.content!r}"
    return int(match.group(1))


def _final(message: StoredMessage) -> bool:
    """The job's message in its final state: images, or words saying it failed.

    While a job waits or runs its message has a ``Cancel`` button (and, running, may
    carry a preview image): that is not the result yet."""
    if message.loading or any("Cancel" in row for row in message.rows):
        return False
    return bool(message.attachments) or bool(re.search(r"\b(failed|cancelled)\b", message.content))


def wait_result(handle: Interaction, timeout: float = JOB_TIMEOUT) -> StoredMessage:
    """The response of ``handle`` once its job has finished: the job was admitted before
    the bot answered, and the answer (type 4, public) is the job's own message."""
    ack = handle.wait_ack()
    assert ack.type == 4, f"expected the job's message as the response, got type {ack.type}"
    assert ack.latency < 3.0
    if ack.ephemeral:  # a refusal: say which, rather than wait for a result that never comes
        refusal = handle.wait_reply(lambda m: bool(m.text), 10)
        raise AssertionError(f"the job was refused: {refusal.text!r}")
    message = handle.wait_original(_final, timeout)
    assert message.attachments, f"the job did not produce images: {message.content!r}"
    assert not message.ephemeral, "a job's result must be public"
    return message


def assert_grid(message: StoredMessage, cell: tuple[int, int] | None = None) -> tuple[int, int]:
    """A 2x2 grid PNG with the grid buttons; returns the cell size."""
    assert len(message.attachments) == 1, [a.filename for a in message.attachments]
    attachment = message.attachments[0]
    assert attachment.content_type == "image/png"
    image = message.image()
    assert image.format == "PNG"
    assert (attachment.width, attachment.height) == image.size
    width, height = image.size
    assert width % 2 == 0 and height % 2 == 0, image.size
    assert message.rows == GRID_ROWS
    job_id(message)
    if cell is not None:
        assert (width // 2, height // 2) == cell, f"grid {image.size}, expected cells {cell}"
    return width // 2, height // 2


def posted_result(fake: FakeDiscord, number: int, prompt: str) -> StoredMessage:
    """The result of job ``number`` posted as a plain channel message.

    The prompt tells it apart from another test's job of the same number (each bot of
    ``bot_factory`` has a database of its own, and the fake lives for the session)."""
    pattern = re.compile(rf"\bjob {number}\b")
    return fake.wait_for_message(
        lambda m: (
            m.kind == "channel"
            and prompt in m.content
            and bool(pattern.search(m.content))
            and bool(m.attachments)
        ),
        timeout=JOB_TIMEOUT,
    )


def assert_single(message: StoredMessage) -> tuple[int, int]:
    """One upscaled image with the upscale buttons; returns its size."""
    assert len(message.attachments) == 1
    image = message.image()
    assert image.format == "PNG"
    assert message.rows == UPSCALE_ROWS
    job_id(message)
    return image.size


def press(fake: FakeDiscord, message: StoredMessage, label: str, member: FakeMember) -> Interaction:
    handle = fake.press(message, label, member)
    ack = handle.wait_ack()
    assert ack.type == 4, f"{label}: expected the new job's message, got type {ack.type}"
    assert not ack.ephemeral
    return handle


def new_message(fake: FakeDiscord, handle: Interaction, pressed: StoredMessage) -> StoredMessage:
    """The result of a button: a new message, the pressed one left as it was."""
    result = wait_result(handle)
    assert result.id != pressed.id, "the result must be a new message, not an edit"
    after = fake.message(pressed.id)
    assert not after.deleted
    assert [e.content for e in after.edits] == [e.content for e in pressed.edits]
    assert [a.id for a in after.attachments] == [a.id for a in pressed.attachments]
    assert after.rows == pressed.rows
    return result


def private_reply(handle: Interaction, timeout: float = 20) -> StoredMessage:
    """The one answer to ``handle`` (its content, once loaded): ephemeral, for the caller
    alone."""
    message = handle.wait_reply(lambda m: not m.loading and bool(m.content), timeout)
    assert message.ephemeral, f"the answer is for the caller only: {message.content!r}"
    return message


def refused_privately(handle: Interaction, member: FakeMember) -> StoredMessage:
    """The refusal of ``handle``: the one answer, ephemeral, within 3 s, for ``member``."""
    ack = handle.wait_ack()
    assert ack.type == 4 and ack.ephemeral, f"a refusal is answered privately: {ack}"
    assert ack.latency < 3.0
    reply = handle.wait_reply(lambda m: bool(m.content), 10)
    assert reply.ephemeral and reply.visible_to == member.id
    assert [m.id for m in handle.messages()] == [reply.id], "one answer"
    return reply


def restart_requeued(bot: Any, gate: Path, *job_ids: int, held: bool = False) -> None:
    """Stop ``bot`` cleanly while ``gate`` holds its worker: every one of ``job_ids``
    (running or queued) is queued again without using its retry; then open the gate
    (unless ``held``: the test opens it) and start the bot again."""
    assert bot.stop() == 0
    marks = ", ".join("?" for _ in job_ids)
    rows = bot.query(f"SELECT status, attempts FROM jobs WHERE id IN ({marks})", *job_ids)
    assert rows == [("queued", 0)] * len(job_ids)
    if not held:
        gate.unlink()
    bot.start()
