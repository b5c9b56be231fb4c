"""Message text: user prompts are shown as plain text, never as markdown, links or pings."""

from __future__ import annotations

from bot.discord_app.render import MAX_CONTENT, result_text, safe_prompt, waiting_text
from storage.db import Job


def job(prompt: str, **overrides) -> Job:
    fields = {
        "id": 12,
        "kind": "imagine",
        "parent_id": None,
        "parent_index": None,
        "user_id": 42,
        "guild_id": 1,
        "channel_id": 2,
        "message_id": None,
        "prompt": prompt,
        "negative": "",
        "params": {"width": 192, "height": 128, "steps": 4},
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
