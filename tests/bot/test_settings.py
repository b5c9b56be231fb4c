"""Settings: one object from the environment, naming what is wrong."""

from __future__ import annotations

import pytest

from bot.settings import SettingsError, load_settings


@pytest.mark.parametrize(
    ("name", "value"),
    [("DEVICE", "gpu"), ("NSFW_FILTER", "maybe"), ("OWNER_IDS", "12,abc"), ("MAX_STEPS", "0")],
)
def test_settings_name_what_is_wrong(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=name):
        load_settings(_env_file=None)


def test_settings_defaults_and_helpers(monkeypatch):
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    monkeypatch.setenv("OWNER_IDS", " 1, 22 ,")
    settings = load_settings(_env_file=None)
    assert settings.model_id == "stabilityai/sdxl-turbo" and settings.daily_quota == 50
    assert settings.owner_id_set == {1, 22}
    assert settings.batch_images("cuda:0") == 16 and settings.batch_images("cpu") == 8
    with pytest.raises(SettingsError, match="DISCORD_TOKEN"):
        settings.require_token()
    monkeypatch.setenv("DISCORD_TOKEN", "abc.def")
    assert load_settings(_env_file=None).require_token() == "abc.def"
    assert "abc.def" not in repr(load_settings(_env_file=None))


@pytest.mark.parametrize(
    ("value", "devices"),
    [
        ("auto", ["auto"]),
        ("CPU", ["cpu"]),
        ("cuda:1", ["cuda:1"]),
        (" cuda:0 , cuda:1 ", ["cuda:0", "cuda:1"]),
    ],
)
def test_device_lists_give_one_worker_per_device(monkeypatch, value, devices):
    monkeypatch.setenv("DEVICE", value)
    assert load_settings(_env_file=None).devices() == devices


@pytest.mark.parametrize(
    ("value", "says"),
    [("cpu,cuda:0", "a list names GPUs"), ("cuda:0,cuda:0", "twice"), ("cuda:x", "cuda:all")],
)
def test_bad_device_lists_are_refused(monkeypatch, value, says):
    monkeypatch.setenv("DEVICE", value)
    with pytest.raises(SettingsError, match=f"DEVICE.*{says}"):
        load_settings(_env_file=None)


def test_cuda_all_needs_a_gpu(monkeypatch):
    import torch

    monkeypatch.setenv("DEVICE", "cuda:all")
    settings = load_settings(_env_file=None)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 3)
    assert settings.devices() == ["cuda:0", "cuda:1", "cuda:2"]
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    with pytest.raises(SettingsError, match="no CUDA GPU"):
        settings.devices()


async def test_engine_ray_settings_and_a_clear_word_without_ray(monkeypatch):
    import sys

    from bot.app import open_ray

    monkeypatch.setenv("ENGINE", " Ray ")
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.5:6379")
    monkeypatch.setenv("RAY_REPLICAS", "4")
    settings = load_settings(_env_file=None)
    assert (settings.engine, settings.ray_address, settings.ray_replicas) == (
        "ray",
        "10.0.0.5:6379",
        4,
    )
    monkeypatch.setitem(sys.modules, "engine.ray_engine", None)  # Ray not installed
    with pytest.raises(
        SettingsError, match=r'ENGINE=ray needs Ray Serve.*pip install -e "\.\[ray\]"'
    ):
        await open_ray(settings)
    monkeypatch.setenv("RAY_REPLICAS", "0")
    with pytest.raises(SettingsError, match="RAY_REPLICAS"):
        load_settings(_env_file=None)


async def test_engine_ray_replicas_that_do_not_start_are_a_clear_error(monkeypatch):
    import sys
    import types

    from bot.app import open_ray

    async def failing(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("Deploying application imaginebot failed: OSError: no such model\nmore")

    stopped = []
    fake = types.ModuleType("engine.ray_engine")
    fake.open_ray_engine = failing  # type: ignore[attr-defined]
    fake.shutdown = lambda: stopped.append(True)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "engine.ray_engine", fake)
    monkeypatch.setenv("ENGINE", "ray")
    with pytest.raises(SettingsError, match=r"RAY_ADDRESS=\(a local cluster\).*no such model"):
        await open_ray(load_settings(_env_file=None))
    assert stopped == [True], "a cluster started for it is stopped (and its token deleted)"
