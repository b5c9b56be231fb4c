"""``python -m bot``: exits with a clear line when it cannot start."""

from __future__ import annotations

from tests.processes import run_python as run


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
