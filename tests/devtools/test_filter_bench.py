"""``imaginebot bench --filter`` (devtools/filter_bench.py): the matcher timed on hostile
prompts against a server's worth of entries (a small run: the figures are not asserted)."""

from __future__ import annotations

from core.wordfilter import BlockList, check_entry
from devtools.filter_bench import (
    blocked_entries,
    filter_benchmark,
    hostile_entries,
    hostile_prompts,
    phrase_entries,
)


def test_the_benchmark_times_prompts_that_match_nothing():
    result = filter_benchmark(entries=120, prompt_chars=300, repeats=2)
    assert result["entries"] == 120 and result["prompt_chars"] == 300
    assert result["prompts"] == 13 and result["prompts_matching"] == 0
    assert 0 < result["filter_ms_median"] <= result["filter_ms_max"]
    assert result["compile_ms"] > 0
    assert set(result["filter_ms_by_prompt"]) == set(hostile_prompts(BlockList(["q"]), 10))
    assert result["compiled_bytes"] > 0 and result["ordinary_words_bytes"] > 0


def test_the_entry_lists_are_entries_an_admin_could_add():
    for make in (blocked_entries, hostile_entries, phrase_entries):
        entries = make(60)
        assert len(entries) == 60 and entries == make(60)  # seeded: the same each run
        assert [check_entry(entry) for entry in entries] == [e.lower() for e in entries]
    assert all(len(entry) <= 100 for entry in hostile_entries(60))
    assert blocked_entries(200, seed=1) != blocked_entries(200, seed=2)  # past the fixed ones


def test_hostile_prompts_match_nothing_and_have_the_length_asked():
    blocklist = BlockList(blocked_entries(80))
    prompts = hostile_prompts(blocklist, chars=200)
    assert {"one_letter_run", "lookalikes", "leet_digits", "phrase_runs"} <= set(prompts)
    for name, prompt in prompts.items():
        assert 0 < len(prompt) <= 200, name
        assert blocklist.find(prompt) is None, name
    assert len(prompts["one_letter_run"]) == len(prompts["phrase_runs"]) == 200


def test_bench_filter_prints_the_matcher_figures_as_json(capsys, monkeypatch):
    import functools
    import json
    import os

    from bot.cli import main
    from devtools import filter_bench

    # The figures' shape, not their precision: 3 timed rounds a prompt instead of 50.
    quick = functools.partial(filter_bench.filter_benchmark, repeats=3)
    monkeypatch.setattr(filter_bench, "filter_benchmark", quick)

    umask = os.umask(0o022)
    try:
        assert main(["bench", "--filter", "--json"]) == 0
        assert os.umask(0o022) == 0o077  # the CLI keeps its files to itself
    finally:
        os.umask(umask)
    report = json.loads(capsys.readouterr().out)
    assert report["entries"] == 500 and report["prompt_chars"] == 1500
    assert report["prompts"] >= 8 and report["prompts_matching"] == 0
    assert 0 < report["filter_ms_median"] <= report["filter_ms_max"]  # the time: not asserted
