"""/blend: two to five images merged into a grid of four, with no text.

The images are the job's references (role ``blend``, ``core.references``): the model's
IP-Adapter encodes each of them and the UNet attends to all their tokens at once at the
full scale, from an empty prompt. The grid has the usual buttons; its children keep the
images (a 🔄 blends them again with a new seed).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from core import derive, offer, references
from core.admission import Admission
from core.errors import BadParameter, UserError
from core.image_prompt import ImageFetch
from core.limits import Limits
from core.model import Job, NewJob, Requester
from core.prompt import ParsedPrompt
from core.recipes import Blend
from engine import Engine
from engine.types import MAX_BLEND_IMAGES

# /blend's dimensions: portrait 2:3, square 1:1, landscape 3:2.
DIMENSIONS = {"portrait": (2, 3), "square": (1, 1), "landscape": (3, 2)}
MIN_BLEND_IMAGES = 2


@dataclass(eq=False)
class Blends:
    """Turns /blend (and ``imaginebot blend``) requests into admitted jobs."""

    engine: Engine
    limits: Limits
    admission: Admission

    async def blend(
        self, who: Requester, images: Sequence[bytes | ImageFetch], dimensions: str = "square"
    ) -> Job:
        """Queue a blend of ``images`` (bytes, or downloads started only once the cheap
        checks passed) at ``dimensions``; returns its row. Banned members, quotas and a
        model without an IP-Adapter are refused before any image is fetched."""
        if not MIN_BLEND_IMAGES <= len(images) <= MAX_BLEND_IMAGES:
            raise UserError(
                f"A blend takes {MIN_BLEND_IMAGES} to {MAX_BLEND_IMAGES} images "
                f"(got {len(images)})."
            )
        aspect = DIMENSIONS.get(dimensions)
        if aspect is None:
            raise BadParameter(
                "dimensions", f"`dimensions` is one of {', '.join(DIMENSIONS)} (got {dimensions})."
            )
        mine = (await self.admission.check(who)).settings
        _, model = offer.model_for(self.engine, None, mine)
        references.check_family(self.engine, model, "/blend")
        pngs = await references.blend_pngs(images)
        parsed = ParsedPrompt(prompt="", aspect=aspect)
        steps = self.limits.max_steps
        params = derive.imagine_params(who, parsed, "", mine, None, model.defaults, steps)
        named = tuple(("blend", None, slot) for slot in range(1, len(pngs) + 1))
        new = NewJob(
            user_id=who.user_id,
            guild_id=who.guild_id,
            channel_id=who.channel_id,
            prompt="",
            negative="",
            seed=secrets.randbelow(2**32),
            params=params.but(model=model.name, references=named, negative_from=None),
            recipe=Blend(len(pngs)),
            reference_pngs=pngs,
        )
        return await self.admission.admit(who, new, checked=True)
