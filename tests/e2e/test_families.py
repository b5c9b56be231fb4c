"""A diffusion transformer as the bot's model, end to end: the real bot loads a tiny
FLUX.1 (``imaginebot tiny-model --family flux``) through ``MODEL_ID``, makes a grid and its
variations, and refuses what the family cannot do, privately and before any job."""

from __future__ import annotations

from pathlib import Path

import pytest

from devtools.tiny_dit import write_tiny_dit_model
from tests.e2e.expect import assert_grid, new_message, press, refused_privately, wait_result
from tests.e2e.fake_discord import FakeDiscord


@pytest.fixture(scope="module")
def flux_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_dit_model(tmp_path_factory.mktemp("flux") / "tiny-flux", "flux")


def test_a_flux_bot_makes_grids_and_refuses_what_flux_cannot_do(
    fake_discord: FakeDiscord, bot_factory, flux_dir: Path
) -> None:
    bot = bot_factory(model_id=flux_dir)
    alice, bob = fake_discord.member("alice"), fake_discord.member("bob")
    for prompt, words in (
        ("a fox --no rain", "takes no negative prompt"),
        ("a fox --tile", "cannot make seamless tiles"),
    ):
        handle = fake_discord.invoke("imagine", alice, prompt=prompt)
        assert words in refused_privately(handle, alice).content
    assert bot.count_jobs() == 0
    grid = wait_result(fake_discord.invoke("imagine", alice, prompt="a fox --ar 1:1 --steps 2"))
    assert assert_grid(grid) == (256, 256)  # the tiny FLUX's native size
    varied = new_message(fake_discord, press(fake_discord, grid, "V1", bob), grid)
    assert assert_grid(varied) == (256, 256) and "Variations (strong)" in varied.content
    assert bot.count_jobs() == 2
