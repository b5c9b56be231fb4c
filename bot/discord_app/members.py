"""/settings and /info: a member's defaults, quota and place in the queue."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.discord_app.context import requester
from bot.discord_app.text import safe_prompt

if TYPE_CHECKING:
    from bot.discord_app.client import ImagineBot
    from engine.types import WorkerState


@app_commands.command(name="settings")
@app_commands.describe(
    aspect="Default aspect ratio, like 3:2 (1:4 to 4:1)",
    steps="Default sampler steps",
    cfg="Default guidance scale (0 to 20)",
    negative="Default negative prompt (what to leave out)",
    remix="Buttons that make new images first open a form to edit the prompt",
    reset="Clear your defaults",
)
@app_commands.guild_only()
async def settings(
    interaction: discord.Interaction[ImagineBot],
    aspect: str | None = None,
    steps: int | None = None,
    cfg: float | None = None,
    negative: str | None = None,
    remix: bool | None = None,
    reset: bool = False,
) -> None:
    """Show or set your defaults for /imagine (a prompt's own parameters win)."""
    service = interaction.client.services
    changing = reset or any(v is not None for v in (aspect, steps, cfg, negative, remix))
    if changing:
        mine = await service.users.update_settings(
            requester(interaction),
            aspect=aspect,
            steps=steps,
            cfg=cfg,
            negative=negative,
            remix=remix,
            reset=reset,
        )
    else:
        mine = await service.users.user_settings(requester(interaction))
    head = "Your defaults are saved." if changing else "Your defaults:"
    await interaction.response.send_message(f"{head}\n{render_settings(mine)}", ephemeral=True)


def render_settings(mine: dict) -> str:
    """The user's defaults, one a line."""
    if not mine:
        return "none: the model's defaults apply (set them with `/settings aspect:3:2` ...)."
    lines = []
    for key in ("aspect", "steps", "cfg", "negative"):
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
            f"job {job_id} ({'running' if position == 0 else f'position {position}'})"
            for job_id, position in details.jobs
        )
    else:
        jobs = "none"
    lines = [
        quota_line,
        f"Your jobs in the queue: {jobs}.",
        f"Queue: {details.queue_length} waiting, {details.running} running.",
        f"Model: `{details.model}` on {details.device}.",
    ]
    if details.workers:
        lines.append(workers_line(details.workers))
    await interaction.response.send_message("\n".join(lines), ephemeral=True)


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
    bot.tree.add_command(settings)
    bot.tree.add_command(info)
