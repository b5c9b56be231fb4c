"""Slash commands."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.discord_app.admin import AdminCommands
from bot.discord_app.admission import admit_and_answer
from bot.discord_app.buttons import requester
from bot.discord_app.history import page_view, render_page
from bot.discord_app.render import safe_prompt

if TYPE_CHECKING:
    from bot.discord_app.client import ImagineBot

PROMPT_HELP = "What to draw, then parameters: --ar 3:2 --seed 7 --no people --steps 30 --cfg 7"


@app_commands.command(name="imagine")
@app_commands.describe(prompt=PROMPT_HELP)
@app_commands.guild_only()
async def imagine(interaction: discord.Interaction[ImagineBot], prompt: str) -> None:
    """Create four images from a prompt."""
    # Admitted first (checked, row committed), then answered once: the job's own message,
    # or an ephemeral refusal that nobody else sees.
    who = requester(interaction)
    await admit_and_answer(interaction, lambda: interaction.client.service.imagine(who, prompt))


@app_commands.command(name="settings")
@app_commands.describe(
    aspect="Default aspect ratio, like 3:2 (1:4 to 4:1)",
    steps="Default sampler steps",
    cfg="Default guidance scale (0 to 20)",
    negative="Default negative prompt (what to leave out)",
    reset="Clear your defaults",
)
@app_commands.guild_only()
async def settings(
    interaction: discord.Interaction[ImagineBot],
    aspect: str | None = None,
    steps: int | None = None,
    cfg: float | None = None,
    negative: str | None = None,
    reset: bool = False,
) -> None:
    """Show or set your defaults for /imagine (a prompt's own parameters win)."""
    service = interaction.client.service
    changing = reset or any(v is not None for v in (aspect, steps, cfg, negative))
    if changing:
        mine = await service.update_settings(
            requester(interaction),
            aspect=aspect,
            steps=steps,
            cfg=cfg,
            negative=negative,
            reset=reset,
        )
    else:
        mine = await service.user_settings(requester(interaction))
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
    return "\n".join(lines)


@app_commands.command(name="info")
@app_commands.guild_only()
async def info(interaction: discord.Interaction[ImagineBot]) -> None:
    """Your quota today, your jobs in the queue, and the model."""
    details = await interaction.client.service.info(requester(interaction))
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
    await interaction.response.send_message("\n".join(lines), ephemeral=True)


@app_commands.command(name="history")
@app_commands.describe(page="Which page (10 jobs a page)", user="Admins: whose jobs to show")
@app_commands.guild_only()
async def history(
    interaction: discord.Interaction[ImagineBot],
    page: int = 1,
    user: discord.Member | None = None,
) -> None:
    """Your recent jobs, newest first, with links to their messages."""
    result = await interaction.client.service.history(
        requester(interaction), page, user_id=user.id if user else None
    )
    await interaction.response.send_message(
        render_page(result), view=page_view(result), ephemeral=True
    )


def register_commands(tree: app_commands.CommandTree) -> None:
    """Add every slash command to the tree."""
    for command in (imagine, settings, info, history):
        tree.add_command(command)
    tree.add_command(AdminCommands())
