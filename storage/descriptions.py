"""/describe's answers: the four prompts of each, and the image they were made from."""

from __future__ import annotations

import json
from pathlib import Path

from core.model import Description, Scope
from storage.connection import _in_scope, _iso
from storage.images import ImageFiles


class DescriptionRows(ImageFiles):
    """The descriptions table and its image files (``DATA_DIR/describe/<id>.png``)."""

    def description_image(self, description_id: int) -> Path:
        """Where a description keeps the image it was made from (PNG, as the model saw
        it); the name comes from the id, never from user text."""
        return self.data_dir / "describe" / f"{int(description_id)}.png"

    async def add_description(
        self,
        guild_id: int | None,
        channel_id: int | None,
        user_id: int,
        prompts: list[str],
    ) -> Description:
        """Record a description's prompts; returns it with its id."""
        now = self.clock()
        async with self.db.execute(
            "INSERT INTO descriptions (guild_id, channel_id, user_id, prompts, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (guild_id, channel_id, user_id, json.dumps(prompts), _iso(now)),
        ) as cursor:
            description_id = cursor.lastrowid
        await self.db.commit()
        assert description_id is not None
        return Description(description_id, guild_id, user_id, tuple(prompts))

    async def set_description_prompts(self, description_id: int, prompts: list[str]) -> None:
        """Replace a description's prompts (🔄: four new ones, same buttons)."""
        await self.db.execute(
            "UPDATE descriptions SET prompts = ? WHERE id = ?",
            (json.dumps(prompts), description_id),
        )
        await self.db.commit()

    async def get_description(self, description_id: int, *, scope: Scope) -> Description | None:
        """A description, when ``scope`` may see it (its server's, or everywhere)."""
        where, args = _in_scope(scope)
        sql = f"SELECT id, guild_id, user_id, prompts FROM descriptions WHERE id = ? AND {where}"
        async with self.db.execute(sql, (description_id, *args)) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return None
        return Description(row[0], row[1], row[2], tuple(json.loads(row[3])))
