"""The entry points: ``python -m bot`` and the ``imaginebot`` command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from bot.settings import SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[2]


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"DISCORD_TOKEN", "MODEL_ID"}}
    clean["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_without_a_token_the_bot_exits_2_naming_it(tmp_path):
    result = run(["-m", "bot"], tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "DISCORD_TOKEN" in lines[0]


def test_an_invalid_setting_exits_2_naming_it(tmp_path):
    result = run(["-m", "bot"], tmp_path, DISCORD_TOKEN="secret-token-value", DAILY_QUOTA="lots")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "DAILY_QUOTA" in lines[0]
    assert "secret-token-value" not in result.stderr + result.stdout


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


def test_cli_imagine_writes_the_grid_and_images(tmp_path, tiny_model_dirs):
    result = run(
        ["-m", "bot.cli", "imagine", "a fox in snow --ar 3:2 --seed 7 --steps 3", "-o", "g.png"],
        tmp_path,
        MODEL_ID=str(tiny_model_dirs["sd"]),
        DATA_DIR=str(tmp_path / "data"),
        DAILY_QUOTA="0",  # the machine's own operator is not a Discord member with a quota
    )
    assert result.returncode == 0, result.stderr
    with Image.open(tmp_path / "g.png") as grid:
        assert grid.width * 2 == grid.height * 3
    for k in range(1, 5):
        with Image.open(tmp_path / f"g_{k}.png") as image:
            assert image.text["prompt"] == "a fox in snow"
            assert image.text["seed"] == str(6 + k)


def test_cli_imagine_refuses_a_bad_parameter(tmp_path, tiny_model_dirs):
    result = run(
        ["-m", "bot.cli", "imagine", "a fox --ar 9:1", "-o", "g.png"],
        tmp_path,
        MODEL_ID=str(tiny_model_dirs["sd"]),
        DATA_DIR=str(tmp_path / "data"),
    )
    assert result.returncode == 2 and "--ar" in result.stderr
    assert not (tmp_path / "g.png").exists()


def test_cli_tiny_model_writes_a_loadable_pipeline(tmp_path):
    result = run(["-m", "bot.cli", "tiny-model", "m", "--family", "sdxl"], tmp_path)
    assert result.returncode == 0, result.stderr
    for part in ("model_index.json", "unet", "vae", "text_encoder", "text_encoder_2", "tokenizer"):
        assert (tmp_path / "m" / part).exists(), part
    assert (tmp_path / "m" / "tokenizer" / "vocab.json").exists() or (
        tmp_path / "m" / "tokenizer" / "tokenizer.json"
    ).exists()


def test_the_bot_refuses_to_start_when_the_nsfw_classifier_cannot_load(tmp_path, tiny_model_dirs):
    result = run(
        ["-m", "bot"],
        tmp_path,
        DISCORD_TOKEN="secret-token-value",
        MODEL_ID=str(tiny_model_dirs["sd"]),
        NSFW_FILTER="blur",
        NSFW_MODEL=str(tmp_path / "no-such-classifier"),
        HF_HUB_OFFLINE="1",
    )
    assert result.returncode == 2
    # The start is logged; the last line says what stopped it, with no traceback.
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: NSFW_MODEL=") and "NSFW_FILTER=off" in last
    assert "Traceback" not in result.stderr
    assert "secret-token-value" not in result.stderr + result.stdout
