"""A server's blocked words at admission: which text of a job holds one, and a refusal that
says where (never the word: that would teach the way around).

Each server's list is read once (only this process changes it: ``forget`` when it does)
and checked by the :class:`~core.wordfilter.WordScanner`, on threads of its own, servers
taking turns, each check within a time budget.
"""

from __future__ import annotations

import enum

from core.errors import BlockedPrompt, QueueFull
from core.model import Requester
from core.wordfilter import ScanBusy, ScanTooLong, WordScanner
from storage.db import Storage


class Text(enum.StrEnum):
    """Where the text of a job came from: what a blocked-word refusal points to."""

    PROMPT = "prompt"
    NEGATIVE = "--no text"
    SAVED_NEGATIVE = "saved negative"
    PARENT_PROMPT = "prompt of the job"
    PARENT_NEGATIVE = "negative of the job"


_BLOCKED_MESSAGES = {
    Text.PROMPT: "Your prompt contains a word or phrase that is blocked in this server. "
    "Change it and try again.",
    Text.NEGATIVE: "Your `--no` text contains a word or phrase that is blocked in this "
    "server. Change it and try again.",
    Text.SAVED_NEGATIVE: "Your saved negative prompt (from `/settings`) contains a word or "
    "phrase that is blocked in this server. Clear it with `/settings reset:True`, or set "
    "another with `/settings negative:...`.",
    Text.PARENT_PROMPT: "The prompt of job {job} contains a word or phrase that is blocked "
    "in this server, so no new job can start from it.",
    Text.PARENT_NEGATIVE: "The negative prompt of job {job} contains a word or phrase that "
    "is blocked in this server, so no new job can start from it.",
}
_TOO_LONG = (
    "The {source} took too long to check against this server's blocked words, so no job "
    "started. Shorten it and try again."
)
_BUSY = (
    "Too many prompts of this server are being checked for blocked words right now. "
    "Try again in a moment."
)
PARENT_TEXTS = (Text.PARENT_PROMPT, Text.PARENT_NEGATIVE)


class BlockedWords:
    """Checks a request's texts against its server's blocked words."""

    def __init__(self, storage: Storage, scanner: WordScanner | None = None) -> None:
        self.storage = storage
        self.scanner = scanner or WordScanner()
        self._lists: dict[int | None, tuple[str, ...]] = {}  # by server, as read
        self._changes = 0

    async def ready(self) -> None:
        """Load the filter's tables (about 2 s, on the scanner's threads), once."""
        await self.scanner.ready()

    def close(self) -> None:
        """Stop the scanner's threads."""
        self.scanner.close()

    def forget(self, guild_id: int) -> None:
        """The server's blocked words changed: read them again at the next check."""
        self._changes += 1
        self._lists.pop(guild_id, None)
        self.scanner.lists.forget(guild_id)

    async def _entries(self, guild_id: int | None) -> tuple[str, ...]:
        """The server's blocked words, read once (again after ``forget``)."""
        entries = self._lists.get(guild_id)
        if entries is None:
            generation = self._changes
            entries = tuple(await self.storage.blocked_words(guild_id))
            if generation == self._changes:  # no change landed while it was read
                self._lists[guild_id] = entries
        return entries

    async def check(
        self,
        who: Requester,
        texts: tuple[str, str],
        sources: tuple[Text, Text],
        parent_id: int | None = None,
    ) -> None:
        """``BlockedPrompt`` when ``texts`` (a prompt and a negative) hold a word this
        server blocks, saying which text it was found in (``sources``); also when a check
        runs past its budget, and ``QueueFull`` when too many of the server's wait.

        The matcher is linear in the text's length times the longest entry; it runs on
        the scanner's own threads, within a time budget (past it the text is refused)."""
        entries = await self._entries(who.guild_id)
        if not entries:
            return
        try:
            hit = await self.scanner.find(who.guild_id, entries, texts)
        except ScanTooLong as slow:
            raise BlockedPrompt(_TOO_LONG.format(source=sources[slow.index])) from None
        except ScanBusy:
            raise QueueFull(_BUSY) from None
        if hit is None:
            return
        source, found = sources[hit[0]], hit[1]
        await self.storage.log_blocked_prompt(who.guild_id, who.user_id, f"{found!r} in {source}")
        raise BlockedPrompt(_BLOCKED_MESSAGES[source].format(job=parent_id))

    async def holds_blocked(self, who: Requester, text: str) -> bool:
        """Whether ``text`` (not the member's own: a description the bot wrote) holds a
        word this server blocks; nothing is logged. A check past its budget counts as
        holding one; ``QueueFull`` when too many of the server's wait."""
        entries = await self._entries(who.guild_id)
        if not entries:
            return False
        try:
            return await self.scanner.find(who.guild_id, entries, (text, "")) is not None
        except ScanTooLong:
            return True
        except ScanBusy:
            raise QueueFull(_BUSY) from None

    async def check_all(
        self,
        who: Requester,
        texts: list[tuple[str, str]],
        sources: tuple[Text, Text],
        parent_id: int | None = None,
    ) -> None:
        """:meth:`check` for each of one request's (prompt, negative) pairs, the same
        pair (``--repeat``) once."""
        for pair in dict.fromkeys(texts):
            await self.check(who, pair, sources, parent_id)
