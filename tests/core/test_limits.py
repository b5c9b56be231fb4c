"""The limits the services enforce (core/limits.py), read from the settings."""

from __future__ import annotations

from bot.settings import Settings
from core.limits import Limits


def test_limits_come_from_the_settings(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no .env of the checkout
    settings = Settings(
        _env_file=None,
        max_steps=30,
        max_upscale_side=1024,
        max_queued_per_user=3,
        max_queue=40,
        daily_quota=12,
        global_daily_quota=0,
        max_blocked_words=99,
        owner_ids="5, 7",
    )
    assert Limits.from_settings(settings) == Limits(
        max_steps=30,
        max_upscale_side=1024,
        max_queued_per_user=3,
        max_queue=40,
        daily_quota=12,
        global_daily_quota=0,
        max_blocked_words=99,
        owner_ids=frozenset({5, 7}),
    )


def test_the_defaults_are_the_settings_defaults(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for name in Limits.__dataclass_fields__:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.delenv("OWNER_IDS", raising=False)
    assert Limits.from_settings(Settings(_env_file=None)) == Limits()
