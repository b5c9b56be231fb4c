"""A server's blocked words at admission (core/blocked.py): the refusal says which text
held one (never the word), the audit log says which word, and a changed list is read
again; over real SQLite and a real scanner."""

from __future__ import annotations

import pytest

from core.blocked import BlockedWords, Text
from core.errors import BlockedPrompt, QueueFull
from core.model import Requester
from core.wordfilter import WordScanner
from storage.db import Storage

SOURCES = (Text.PROMPT, Text.NEGATIVE)
PARENT = (Text.PARENT_PROMPT, Text.PARENT_NEGATIVE)
MEMBER = Requester(user_id=7, guild_id=1, channel_id=2)


@pytest.fixture
async def storage(tmp_path):
    async with Storage(tmp_path) as storage:
        await storage.add_blocked_word(1, "nude", added_by=900)
        yield storage


@pytest.fixture
async def words(storage):
    words = BlockedWords(storage, WordScanner(threads=1))
    await words.ready()
    yield words
    words.close()


async def refusal(words: BlockedWords, texts, sources=SOURCES, parent_id=None) -> str:
    with pytest.raises(BlockedPrompt) as refused:
        await words.check(MEMBER, texts, sources, parent_id)
    return refused.value.message


async def refusal_all(words: BlockedWords, pairs) -> str:
    with pytest.raises(BlockedPrompt) as refused:
        await words.check_all(MEMBER, pairs, SOURCES)
    return refused.value.message


async def test_a_refusal_names_the_text_and_the_log_names_the_word(words, storage):
    message = await refusal(words, ("a calm lake", "n.u.d.e"))
    assert message.startswith("Your `--no` text contains a word or phrase that is blocked")
    assert "nude" not in message  # never the word: that would teach the way around
    message = await refusal(words, ("a NUDE", ""))
    assert message.startswith("Your prompt contains")
    rows, total = await storage.audit_page(1, skip=0, limit=10)
    assert total == 1 and rows[0].action == "blocked_prompt" and rows[0].target == "7"
    assert rows[0].details == "2 blocked prompts this hour; last: 'nude' in prompt"


async def test_a_clean_request_and_a_server_without_words_pass(words, storage):
    await words.check(MEMBER, ("a calm lake", "people"), SOURCES)
    elsewhere = Requester(user_id=7, guild_id=2)
    await words.check(elsewhere, ("a nude", ""), SOURCES)  # server 2 blocks nothing
    await words.check(Requester(user_id=7), ("a nude", ""), SOURCES)  # nor a DM
    assert await storage.audit_page(1, skip=0, limit=10) == ([], 0)


async def test_the_parent_job_is_named_when_its_text_is_blocked(words):
    message = await refusal(words, ("a nude", ""), PARENT, parent_id=12)
    assert message.startswith("The prompt of job 12 contains")
    message = await refusal(words, ("a fox", "nude"), PARENT, parent_id=12)
    assert message.startswith("The negative prompt of job 12 contains")
    message = await refusal(words, ("a fox", "nude"), (Text.PROMPT, Text.SAVED_NEGATIVE))
    assert "/settings reset:True" in message


async def test_a_list_is_read_once_and_again_after_forget(words, storage):
    await words.check(MEMBER, ("gore", ""), SOURCES)
    await storage.add_blocked_word(1, "gore", added_by=900)
    await words.check(MEMBER, ("gore", ""), SOURCES)  # read once: not known yet
    words.forget(1)
    await refusal(words, ("gore", ""))
    await storage.remove_blocked_word(1, "nude")
    words.forget(1)
    await words.check(MEMBER, ("a nude", ""), SOURCES)


async def test_check_all_checks_every_pair(words):
    await words.check_all(MEMBER, [("a fox", ""), ("a fox", "")], SOURCES)
    message = await refusal_all(words, [("a fox", ""), ("a cat", "nude")])
    assert message.startswith("Your `--no` text contains")


async def test_a_check_past_its_budget_is_refused_by_the_text_it_read(storage):
    await storage.add_blocked_word(1, "z z z z z z q", added_by=900)
    words = BlockedWords(storage, WordScanner(threads=1, budget=0.0))
    try:
        await words.ready()
        message = await refusal(words, ("a fox", "z " * 750))
        assert message.startswith("The --no text took too long to check")
    finally:
        words.close()


async def test_too_many_waiting_checks_of_a_server_are_refused_as_a_full_queue(storage):
    words = BlockedWords(storage, WordScanner(threads=1, per_server=0))  # none may wait
    try:
        await words.ready()
        with pytest.raises(QueueFull, match="Too many prompts of this server"):
            await words.check(MEMBER, ("a fox", ""), SOURCES)
    finally:
        words.close()
