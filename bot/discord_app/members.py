"""/settings and /info: a member's defaults, quota and place in the queue."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.discord_app.context import requester
from bot.discord_app.text import safe_prompt

if TYPE_CHECKING:
    from bot.discord_app.client import ImagineBot
    from core.model import UserInfo
    from engine.types import WorkerState


def settings_command(aliases: list[str]) -> app_commands.Command:
    """/settings, its ``model`` option a choice of the models on offer (``aliases``)."""

    @app_commands.command(name="settings")
    @app_commands.describe(
        aspect="Default aspect ratio, like 3:2 (1:4 to 4:1)",
        steps="Default sampler steps",
        cfg="Default guidance scale (0 to 20)",
        negative="Default negative prompt (what to leave out)",
        remix="Buttons that make new images first open a form to edit the prompt",
        model="Default model (a prompt's --model wins)",
        mode="fast: spends your fast time; relax: free, runs when no fast job waits",
        reset="Clear your defaults",
    )
    @app_commands.choices(
        model=[app_commands.Choice(name=alias, value=alias) for alias in aliases[:25]],
        mode=[app_commands.Choice(name=mode, value=mode) for mode in ("fast", "relax")],
    )
    @app_commands.guild_only()
    async def settings(
        interaction: discord.Interaction[ImagineBot],
        aspect: str | None = None,
        steps: int | None = None,
        cfg: float | None = None,
        negative: str | None = None,
        remix: bool | None = None,
        model: str | None = None,
        mode: str | None = None,
        reset: bool = False,
    ) -> None:
        """Show or set your defaults for /imagine (a prompt's own parameters win)."""
        service = interaction.client.services
        asked = (aspect, steps, cfg, negative, remix, model, mode)
        changing = reset or any(v is not None for v in asked)
        if changing:
            mine = await service.users.update_settings(
                requester(interaction),
                aspect=aspect,
                steps=steps,
                cfg=cfg,
                negative=negative,
                remix=remix,
                model=model,
                mode=mode,
                reset=reset,
            )
        else:
            mine = await service.users.user_settings(requester(interaction))
        head = "Your defaults are saved." if changing else "Your defaults:"
        text = f"{head}\n{render_settings(mine)}"
        await interaction.response.send_message(text, ephemeral=True)

    return settings


def render_settings(mine: dict) -> str:
    """The user's defaults, one a line."""
    if not mine:
        return "none: the model's defaults apply (set them with `/settings aspect:3:2` ...)."
    lines = []
    for key in ("model", "mode", "aspect", "steps", "cfg", "negative"):
        if key in mine:
            # Only the negative is free text; the others were checked (3:2, 30, 7.5).
            value = safe_prompt(str(mine[key]), 200) if key == "negative" else f"`{mine[key]}`"
            lines.append(f"- {key}: {value}")
    if "remix" in mine:
        lines.append(f"- remix: {'on' if mine['remix'] else 'off'}")
    return "\n".join(lines)


@app_commands.command(name="info")
@app_commands.guild_only()
async def info(interaction: discord.Interaction[ImagineBot]) -> None:
    """Your quota today, your jobs in the queue, and the model."""
    details = await interaction.client.services.users.info(requester(interaction))
    quota = details.quota
    reset = int(quota.resets_at.timestamp())
    if quota.limit is None:
        quota_line = f"Quota: unlimited here (admin); {quota.used} jobs today."
    else:
        quota_line = (
            f"Quota: {quota.used} of {quota.limit} used today, {quota.left} left; "
            f"resets <t:{reset}:R>."
        )
    if quota.global_limit is not None:
        quota_line += (
            f"\nAcross all servers: {quota.global_used} of {quota.global_limit} used today, "
            f"{quota.global_left} left."
        )
    if details.jobs:
        jobs = ", ".join(
            f"job {job_id} ({'running' if position == 0 else f'position {position}'}"
            + (", relax)" if job_id in details.relax else ")")
            for job_id, position in details.jobs
        )
    else:
        jobs = "none"
    lines = [
        quota_line,
        fast_line(details),
        f"Your jobs in the queue: {jobs}.",
        f"Queue: {details.queue_length} waiting, {details.running} running.",
        *models_lines(details),
    ]
    if details.workers:
        lines.append(workers_line(details.workers))
    if details.disk_bytes is not None:
        lines.append(disk_line(details.disk_bytes, details.keep_images_days))
    text = "\n".join(lines)
    await interaction.response.send_message(text[:2000], ephemeral=True)  # a message's most


def fast_line(details: UserInfo) -> str:
    """Fast time used and left today, and the caller's mode."""
    fast = details.fast
    mode = f"Mode: {details.mode}."
    if fast is None:
        return mode
    renews = int(fast.renews_at.timestamp())
    used = f"{fast.used / 60:.1f}"
    if fast.limit is None:
        text = f"Fast time: unlimited here (admin); {used} GPU-minutes today."
    else:
        text = (
            f"Fast time: {used} of {fast.limit / 60:g} GPU-minutes used today, "
            f"{(fast.left or 0.0) / 60:.1f} left; renews <t:{renews}:R>."
        )
    if fast.global_limit is not None:
        text += f" Across all servers: {fast.global_used / 60:.1f} of {fast.global_limit / 60:g}."
    return f"{text} {mode}"


LORA_LINE = 600  # characters of LoRA names /info shows; MODELS holds 16 models at most


def models_lines(details: UserInfo) -> list[str]:
    """The models on offer (alias, family, default steps; the default first) and the
    LoRAs, as /info lists them."""
    if len(details.models) <= 1:
        lines = [f"Model: `{details.model}` on {details.device}."]
    else:
        lines = [f"Models (`--model`, `/settings model`), on {details.device}:"]
        lines += [
            f"- `{m.alias}`: {discord.utils.escape_markdown(m.name[:60])} ({m.family}, "
            f"{m.steps} steps)" + (" · the default" if m.default else "")
            for m in details.models
        ]
    if details.loras:
        # Names fill up to LORA_LINE characters (a message holds 2000): then a count.
        shown: list[str] = []
        for lora in details.loras:
            name = f"`{lora.name}` ({lora.family})"
            if sum(len(n) + 2 for n in shown) + len(name) > LORA_LINE:
                break
            shown.append(name)
        more = len(details.loras) - len(shown)
        tail = f" and {more} more" if more else ""
        lines.append(f"LoRAs (`--lora name:weight`): {', '.join(shown)}{tail}.")
    return lines


def disk_line(used: int, keep_days: int) -> str:
    """For admins: what the jobs' images take on disk, and how long they are kept."""
    kept = f"kept {keep_days} days" if keep_days > 0 else "kept forever"
    size = f"{used / 1e9:.2f} GB" if used >= 1e9 else f"{used / 1e6:.1f} MB"
    return f"Disk used by images: {size} ({kept})."


def workers_line(workers: list[WorkerState]) -> str:
    """For admins: how many workers serve, and each one down with its reason."""
    up = [worker.name for worker in workers if worker.up]
    line = f"Workers: {len(up)} of {len(workers)} up" + (f" ({', '.join(up)})" if up else "")
    down = [
        f"{worker.name} is down: {discord.utils.escape_markdown(worker.error[:200])}"
        for worker in workers
        if not worker.up
    ]
    return "; ".join([line, *down]) + "."


def setup(bot: ImagineBot) -> None:
    """Add /settings and /info."""
    engine = bot.services.engine
    default = [engine.default_model]
    bot.tree.add_command(settings_command(default + [a for a in engine.models if a not in default]))
    bot.tree.add_command(info)
