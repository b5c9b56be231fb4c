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


@pytest.mark.parametrize(
    ("model_id", "models", "sources", "default"),
    [
        ("stabilityai/sdxl-turbo", "", {"default": "stabilityai/sdxl-turbo"}, "default"),
        (
            "stabilityai/sdxl-turbo",
            " turbo = stabilityai/sdxl-turbo , flux=black-forest-labs/FLUX.1-schnell",
            {"turbo": "stabilityai/sdxl-turbo", "flux": "black-forest-labs/FLUX.1-schnell"},
            "turbo",  # MODEL_ID is listed: its alias is MODELS'
        ),
        ("flux", "turbo=a,flux=b", {"turbo": "a", "flux": "b"}, "flux"),  # MODEL_ID an alias
        ("/m/sd", "flux=b", {"default": "/m/sd", "flux": "b"}, "default"),
    ],
)
def test_models_name_every_model_by_alias_with_model_id_the_default(
    monkeypatch, model_id, models, sources, default
):
    monkeypatch.setenv("MODEL_ID", model_id)
    monkeypatch.setenv("MODELS", models)
    settings = load_settings(_env_file=None)
    assert settings.model_sources() == (sources, default)


@pytest.mark.parametrize(
    ("models", "says"),
    [
        ("flux", "is not alias=model"),
        ("Flux!=x", "alias 'Flux!'"),
        ("default=x", "MODEL_ID's"),
        ("video=x", "VIDEO_MODEL's"),  # the video model's alias on the workers
        ("a=x,a=y", "given twice"),
        ("a=x,b=x", "named twice"),
        (",".join(f"m{i}=x{i}" for i in range(17)), "at most 16"),
    ],
)
def test_bad_models_are_refused_naming_the_setting(monkeypatch, models, says):
    monkeypatch.setenv("MODELS", models)
    with pytest.raises(SettingsError, match="MODELS") as refused:
        load_settings(_env_file=None)
    assert says in str(refused.value)


def test_model_memory_and_lora_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("MODEL_MEMORY_GB", "")
    monkeypatch.setenv("LORA_DIR", "")
    settings = load_settings(_env_file=None)
    assert settings.model_memory_gb is None and settings.lora_dir is None
    monkeypatch.setenv("MODEL_MEMORY_GB", "0")
    with pytest.raises(SettingsError, match="MODEL_MEMORY_GB"):
        load_settings(_env_file=None)
    monkeypatch.setenv("MODEL_MEMORY_GB", "12.5")
    monkeypatch.setenv("LORA_DIR", str(tmp_path))
    settings = load_settings(_env_file=None)
    assert settings.model_memory_gb == 12.5 and settings.lora_dir == tmp_path


def test_the_video_alias_is_the_engines():
    from bot.settings import VIDEO_ALIAS
    from engine import VIDEO_ALIAS as ENGINES

    assert VIDEO_ALIAS == ENGINES
