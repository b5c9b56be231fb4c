"""Drafts (``--draft``, issue 28): a grid at half the side and about half the steps, an
eighth of a full grid's GPU time or so, whose first row is E1-E4 (Enhance) and 🔄.

Enhance re-renders the chosen image of a draft at full quality: the same prompt and seed
at the model's full size for the draft's aspect and its full steps, redrawn from the
draft's image enlarged (image-to-image at ``core.recipes.ENHANCE_STRENGTH``: its
composition kept, its detail made at full size), as one image, not a new grid.
Midjourney's draft flow is to sketch cheaply, pick one, and get that one right: the
member already chose among four, and one image costs a quarter of a grid; it comes with
the upscaled image's buttons (Vary, Upscale (Creative), zooms, pans, Animate) to go on.
"""

from __future__ import annotations

from core.derive import _child, _ref, aspect_of, steps_for
from core.errors import UserError
from core.model import ImageRow, Job, NewJob, Requester
from core.recipes import Enhance
from core.sizes import size_for_aspect


def enhance(who: Requester, parent: Job, source: ImageRow, model: str, native: int) -> NewJob:
    """E1-E4: image ``source`` of a draft grid at full quality, one image: the same
    prompt and seed, the model's full size for the draft's aspect, its full steps."""
    p = parent.params
    if not p.draft:  # no such button: a forged or stale custom id
        raise UserError(f"Job {parent.id} is not a draft: E1-E4 enhance drafts.")
    aspect = aspect_of(p.aspect) or (p.width, p.height)
    width, height = size_for_aspect(*aspect, native)
    recipe = Enhance(_ref(source))
    steps = steps_for(p.draft, recipe.strength)  # the draft's full steps, as strength runs them
    params = p.but(width=width, height=height, steps=steps, num_images=1, draft=0)
    return _child(who, parent, source.index, recipe, params, source.seed, model)
