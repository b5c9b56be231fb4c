"""/settings and /info as text: a member's defaults one a line (the free text escaped),
and for admins each worker, up or down with its reason."""

from __future__ import annotations

from types import SimpleNamespace

from discord import app_commands

from bot.discord_app import members
from bot.discord_app.members import render_settings, workers_line
from core.model import OfferedLora, OfferedModel, UserInfo
from engine.types import WorkerState
from tests.bot.discord_app.offline import make_bot


def test_no_defaults_says_the_models_apply() -> None:
    assert render_settings({}).startswith("none: the model's defaults apply")


def test_defaults_are_one_a_line_in_a_fixed_order_with_the_negative_escaped() -> None:
    mine = {"remix": True, "negative": "**blurry** @everyone", "cfg": 7.5, "aspect": "3:2"}
    lines = render_settings(mine).splitlines()
    assert lines[0] == "- aspect: `3:2`" and lines[1] == "- cfg: `7.5`"
    assert lines[2].startswith("- negative: ") and "**" not in lines[2]
    assert "@everyone" not in lines[2]
    assert lines[3] == "- remix: on"
    assert render_settings({"steps": 30, "remix": False}) == "- steps: `30`\n- remix: off"


def test_workers_up_are_named_and_each_one_down_says_why() -> None:
    workers = [
        WorkerState("cuda:0", True),
        WorkerState("cuda:1", False, "CUDA out of memory " + "x" * 300),
        WorkerState("cuda:2", False, "a *bold* reason"),
    ]
    line = workers_line(workers)
    assert line.startswith("Workers: 1 of 3 up (cuda:0); cuda:1 is down: CUDA out of memory")
    assert "x" * 200 not in line and "x" * 180 in line  # a reason is cut at 200
    assert line.endswith("cuda:2 is down: a \\*bold\\* reason.")
    assert (
        workers_line([WorkerState("r0", False, "gone")]) == "Workers: 0 of 1 up; r0 is down: gone."
    )


def test_setup_adds_settings_and_info_with_the_models_as_the_model_choices() -> None:
    engine = SimpleNamespace(default_model="turbo", models={"flux": None, "turbo": None})
    bot = make_bot(SimpleNamespace(engine=engine))
    members.setup(bot)
    assert sorted(command.name for command in bot.tree.get_commands()) == ["info", "settings"]
    command = bot.tree.get_command("settings")
    assert isinstance(command, app_commands.Command)
    [model] = [p for p in command.parameters if p.name == "model"]
    assert [choice.value for choice in model.choices] == ["turbo", "flux"]  # the default first


def test_info_lists_every_model_with_its_family_and_steps_and_the_loras() -> None:
    quota = SimpleNamespace()
    details = UserInfo(
        quota=quota,  # type: ignore[arg-type]
        jobs=[],
        queue_length=0,
        running=0,
        model="sdxl-turbo",
        device="cuda",
        models=[
            OfferedModel("turbo", "sdxl-turbo", "sdxl-turbo", 4, default=True),
            OfferedModel("flux", "FLUX.1-schnell", "flux-schnell", 4),
        ],
        loras=[OfferedLora("ink_style", "sdxl")],
    )
    lines = members.models_lines(details)
    assert lines == [
        "Models (`--model`, `/settings model`), on cuda:",
        "- `turbo`: sdxl-turbo (sdxl-turbo, 4 steps) · the default",
        "- `flux`: FLUX.1-schnell (flux-schnell, 4 steps)",
        "LoRAs (`--lora name:weight`): `ink_style` (sdxl).",
    ]
    many = UserInfo(
        quota,  # type: ignore[arg-type]
        [],
        0,
        0,
        "m",
        "cpu",
        models=details.models,
        loras=[OfferedLora("l" * 60 + str(i), "sdxl") for i in range(200)],
    )
    [*_, lora_line] = members.models_lines(many)
    assert len(lora_line) < 800 and lora_line.endswith(" more.")
    one = UserInfo(quota, [], 0, 0, "m", "cpu", models=details.models[:1])  # type: ignore[arg-type]
    assert members.models_lines(one) == ["Model: `m` on cpu."]
