"""Issue 25, several models and LoRAs end to end: one real bot with a tiny SD as
``MODEL_ID`` (alias ``default``), a tiny SDXL as ``MODELS=xl=...`` and a ``LORA_DIR`` with a
tiny LoRA of each family. Through the real discord.py client against the fake Discord:
``/settings model`` offers the aliases, ``--model`` and ``/settings model`` pick the model
and its message names a non-default alias beside the job id, children keep their parent's
model, a model or LoRA that does not fit is refused privately before any job, a LoRA's job
names it in the PNG recipe, and ``/info`` lists models and LoRAs.

One bot for the module (two models load once); every SDXL prompt passes ``--steps 2`` (its
default is 30). Each test uses its own member where a member's settings could leak.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from devtools.tiny_lora import write_tiny_lora
from tests.e2e.bot_process import BotProcess
from tests.e2e.conftest import _check_log, _watch
from tests.e2e.expect import (
    assert_grid,
    job_id,
    new_message,
    press,
    refused_privately,
    wait_result,
)
from tests.e2e.fake_discord import FakeDiscord, StoredMessage
from tests.e2e.zygote import Zygote

XL = "--steps 2"  # every prompt: the tiny SDXL's default is 30 steps


@pytest.fixture(scope="module")
def models_bot(
    fake_server: FakeDiscord,
    shared_bot: BotProcess,
    e2e_model_dir: Path,
    tiny_model_dirs: dict[str, Path],
    zygote: Zygote | None,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[BotProcess]:
    """The module's bot: MODEL_ID a tiny SD (``tiny-sd``), ``MODELS=xl=<tiny-sdxl>``,
    ``LORA_DIR`` with ``tiny-sd`` and ``tiny-sdxl``. The shared bot stops first (the fake
    has one gateway) and starts again for whichever test needs it next."""
    root = tmp_path_factory.mktemp("models-bot")
    loras = root / "loras"
    loras.mkdir()
    write_tiny_lora(loras, "sd")
    write_tiny_lora(loras, "sdxl")
    shared_bot.stop()
    bot = BotProcess(
        fake_server,
        e2e_model_dir,
        root / "bot",
        name="models-bot",
        settings={"MODELS": f"xl={tiny_model_dirs['sdxl']}", "LORA_DIR": str(loras)},
        zygote=zygote,
    )
    bot.start()
    yield bot
    bot.stop()


@pytest.fixture
def bot(
    request: pytest.FixtureRequest, fake_discord: FakeDiscord, models_bot: BotProcess
) -> Iterator[BotProcess]:
    """The module's bot, running; the test fails when the bot logged an error meanwhile
    (and shows the bot's output when it fails), as ``bot_process`` does."""
    if not models_bot.running:
        models_bot.stop()
        models_bot.start()
    offset = _watch(request, models_bot)
    yield models_bot
    _check_log(request, models_bot, offset)


def _names_alias(message: StoredMessage, alias: str) -> bool:
    """Whether the message names ``alias`` beside its job id (``job 12 · xl · ...``)."""
    pattern = rf"\bjob {job_id(message)} · {re.escape(alias)} · seed \d+"
    return re.search(pattern, message.content) is not None


def _names_no_alias(message: StoredMessage) -> bool:
    """A default model's message: the job id, then straight on to the seed."""
    return re.search(rf"\bjob {job_id(message)} · seed \d+", message.content) is not None


def _job_model(bot: BotProcess, message: StoredMessage) -> str:
    [(model,)] = bot.query(
        "SELECT json_extract(params, '$.model') FROM jobs WHERE id = ?", job_id(message)
    )
    return model


def _parameters(bot: BotProcess, message: StoredMessage) -> list[str]:
    """The A1111 ``parameters`` text of each of the job's four images, as the bot keeps
    them (``DATA_DIR/images/<job id>/<index>.png``)."""
    number = job_id(message)
    [(count,)] = bot.query("SELECT count(*) FROM images WHERE job_id = ?", number)
    assert count == 4
    texts = []
    for index in range(1, 5):
        with Image.open(bot.data_dir / "images" / str(number) / f"{index}.png") as image:
            texts.append(image.text["parameters"])
    return texts


def test_settings_model_offers_the_aliases(fake_discord: FakeDiscord, bot: BotProcess) -> None:
    options = {o["name"]: o for o in fake_discord.command("settings")["options"]}
    choices = options["model"]["choices"]
    assert [c["value"] for c in choices] == ["default", "xl"]
    assert [c["name"] for c in choices] == ["default", "xl"]
    assert not options["model"].get("required")


def test_model_picks_the_model_and_children_keep_it(
    fake_discord: FakeDiscord, bot: BotProcess
) -> None:
    alice, bob = fake_discord.member("alice"), fake_discord.member("bob")
    xl = wait_result(fake_discord.invoke("imagine", alice, prompt=f"a fox --model xl {XL}"))
    assert_grid(xl)
    assert _names_alias(xl, "xl"), xl.content
    assert _job_model(bot, xl) == "tiny-sdxl"
    # A press on it (by a member whose default is the default model): the child keeps xl.
    varied = new_message(fake_discord, press(fake_discord, xl, "V1", bob), xl)
    assert_grid(varied)
    assert "Variations (strong)" in varied.content
    assert _names_alias(varied, "xl"), varied.content
    assert _job_model(bot, varied) == "tiny-sdxl"


def test_a_model_or_lora_that_does_not_fit_is_refused_before_any_job(
    fake_discord: FakeDiscord, bot: BotProcess
) -> None:
    alice = fake_discord.member("alice")
    before = bot.count_jobs()
    refusal = refused_privately(
        fake_discord.invoke("imagine", alice, prompt=f"a fox --model nope {XL}"), alice
    ).content
    assert "--model" in refusal and "nope" in refusal, refusal
    assert "`default`" in refusal and "`xl`" in refusal, refusal
    # The default model is an SD 1.x: an SDXL LoRA does not fit it; both families named.
    refusal = refused_privately(
        fake_discord.invoke("imagine", alice, prompt=f"a fox --lora tiny-sdxl {XL}"), alice
    ).content
    assert "tiny-sdxl" in refusal and "sdxl" in refusal, refusal
    assert re.search(r"\bsd\b", refusal.replace("sdxl", "")), refusal
    refusal = refused_privately(
        fake_discord.invoke("imagine", alice, prompt=f"a fox --lora nothing-here {XL}"), alice
    ).content
    assert "nothing-here" in refusal and "tiny-sd" in refusal, refusal
    assert bot.count_jobs() == before, "a refusal starts no job"


def test_a_lora_job_names_its_lora_in_the_png_recipe(
    fake_discord: FakeDiscord, bot: BotProcess
) -> None:
    """On the default model: its message names no alias; each image's recipe names the
    model and the LoRA as A1111 does."""
    alice = fake_discord.member("alice")
    grid = wait_result(
        fake_discord.invoke("imagine", alice, prompt=f"a lit fox --lora tiny-sd:0.7 {XL}")
    )
    assert_grid(grid)
    assert _names_no_alias(grid), grid.content
    assert " · default" not in grid.content
    assert _job_model(bot, grid) == "tiny-sd"
    for text in _parameters(bot, grid):
        first, _, rest = text.partition("\n")
        assert first == "a lit fox <lora:tiny-sd:0.7>", text
        assert "Model: tiny-sd" in rest and "Steps: 2" in rest, text


def test_settings_model_is_the_members_default(fake_discord: FakeDiscord, bot: BotProcess) -> None:
    curator = fake_discord.member("curator")
    saved = fake_discord.invoke("settings", curator, model="xl").wait_reply(timeout=10)
    assert saved.ephemeral and "- model: `xl`" in saved.content, saved.content
    grid = wait_result(fake_discord.invoke("imagine", curator, prompt=f"a plain fox {XL}"))
    assert_grid(grid)
    assert _names_alias(grid, "xl"), grid.content
    assert _job_model(bot, grid) == "tiny-sdxl"


def test_info_lists_the_models_and_loras(fake_discord: FakeDiscord, bot: BotProcess) -> None:
    alice = fake_discord.member("alice")
    info = fake_discord.invoke("info", alice).wait_reply(timeout=10)
    assert info.ephemeral
    lines = info.content.splitlines()
    [default] = [line for line in lines if line.startswith("- `default`:")]
    [xl] = [line for line in lines if line.startswith("- `xl`:")]
    assert "tiny-sd (sd," in default and "the default" in default, default
    assert "tiny-sdxl (sdxl, 30 steps)" in xl and "the default" not in xl, xl
    [loras] = [line for line in lines if line.startswith("LoRAs")]
    assert "`tiny-sd` (sd)" in loras and "`tiny-sdxl` (sdxl)" in loras, loras
