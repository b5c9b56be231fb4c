"""Drafts (core/drafts.py, issue 28): --draft renders at half the side and half the steps
(about an eighth of the work); E1-E4 (Enhance) re-render one image of the draft at full
quality with its prompt and seed; through real SQLite and the tiny pipeline."""

from __future__ import annotations

import pytest

from core.errors import UserError
from core.fast_time import work_of
from core.model import Action
from core.recipes import ENHANCE_STRENGTH
from tests.core.commits import ALICE, BOB, finished


async def test_a_draft_then_enhance(make_services):
    service = await make_services()
    full = await finished(service, (await service.jobs.imagine(ALICE, "a kite --steps 4")).id)
    draft = await finished(
        service, (await service.jobs.imagine(ALICE, "a kite --steps 4 --draft")).id
    )
    assert (full.params.width, full.params.height, full.params.steps) == (128, 128, 4)
    assert (draft.params.width, draft.params.height, draft.params.steps) == (64, 64, 2)
    assert draft.params.draft == 4 and not full.params.draft
    assert work_of(draft.params) * 8 == pytest.approx(work_of(full.params))
    images = await service.runner.images(draft.id)
    enhanced = await service.jobs.press(BOB, Action.ENHANCE, draft.id, 2)  # E2, by Bob
    assert enhanced.kind == "enhance" and enhanced.user_id == BOB.user_id
    assert enhanced.seed == images[1].seed and enhanced.prompt == draft.prompt
    p = enhanced.params
    assert (p.width, p.height, p.steps, p.num_images, p.draft) == (128, 128, 4, 1, 0)
    done = await finished(service, enhanced.id)
    [image] = await service.runner.images(done.id)
    assert (image.width, image.height) == (128, 128)
    spec = service.runner.spec_for(done)
    # Redrawn from the draft's image 2, enlarged: its composition kept, its detail redone.
    assert spec.source_image == service.storage.image_path(draft.id, 2)
    assert spec.strength == ENHANCE_STRENGTH and spec.num_images == 1 and spec.paint is None


async def test_enhance_is_for_drafts_and_an_enhanced_image_has_no_reroll(make_services):
    service = await make_services()
    full = await finished(service, (await service.jobs.imagine(ALICE, "a kite --steps 2")).id)
    with pytest.raises(UserError, match="not a draft"):
        await service.jobs.press(ALICE, Action.ENHANCE, full.id, 1)
    draft = await finished(
        service, (await service.jobs.imagine(ALICE, "a kite --steps 2 --draft")).id
    )
    enhanced = await finished(service, (await service.jobs.press(ALICE, "n", draft.id, 1)).id)
    assert enhanced.params.width == 2 * draft.params.width
    with pytest.raises(UserError, match="no 🔄"):
        await service.jobs.press(ALICE, Action.REROLL, enhanced.id, 0)
    # 🔄 on a draft is another draft.
    again = await service.jobs.press(ALICE, Action.REROLL, draft.id, 0)
    assert again.params.draft and again.params.size == draft.params.size
