"""/imagine, the buttons under a result and Cancel (core/jobs.py), through real SQLite
and a real tiny pipeline: the rows, files and children they make, and their refusals."""

from __future__ import annotations

import io
import stat

import pytest
from PIL import Image

from core.errors import BadParameter, NotAllowed, UnknownJob, UserError
from core.model import Action, JobEvent, Requester
from core.recipes import ImageRef, Pan, Region, Reroll, Variation, ZoomOut
from tests.core.commits import ALICE, BOB, finished


async def test_imagine_writes_rows_files_and_metadata(service):
    events: list[JobEvent] = []

    async def listen(event: JobEvent) -> None:
        events.append(event)

    service.runner.add_listener(listen)
    job = await service.jobs.imagine(ALICE, "a fox in snow --ar 3:2 --seed 7 --steps 3 --no people")
    assert (job.status, job.user_id, job.guild_id, job.channel_id) == ("queued", 101, 1, 10)
    final = await finished(service, job.id)
    assert final.started_at and final.finished_at and final.attempts == 1
    assert (final.params.width, final.params.height) == (192, 128)
    rows = await service.runner.images(job.id)
    assert [(r.index, r.seed, r.width, r.height) for r in rows] == [
        (i, 6 + i, 192, 128) for i in (1, 2, 3, 4)
    ]
    for row in rows:
        path = service.storage.image_file(row)
        assert path.parent.name == str(job.id)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600  # the bot's alone
        with Image.open(path) as image:
            assert image.size == (192, 128)
            assert image.text["prompt"] == "a fox in snow"
            assert image.text["negative"] == "people"
            assert image.text["seed"] == str(row.seed)
            assert image.text["steps"] == "3" and image.text["size"] == "192x128"
            assert image.text["guidance"] == "7" and image.text["model"]
            assert image.text["parameters"].startswith("a fox in snow\nNegative prompt: people\n")
            assert f"Seed: {row.seed}, Size: 192x128" in image.text["parameters"]
    assert stat.S_IMODE(service.storage.grid_path(job.id).stat().st_mode) == 0o600
    assert stat.S_IMODE(service.storage.job_dir(job.id).stat().st_mode) == 0o700
    with Image.open(service.storage.grid_path(job.id)) as grid:
        assert grid.size == (384, 256)
    assert [e.kind for e in events if e.kind != "progress"] == ["queued", "started", "finished"]
    assert any(e.kind == "progress" for e in events)


async def test_defaults_come_from_the_model(service):
    job = await service.jobs.imagine(ALICE, "a castle")
    assert job.params.steps == 25 and job.params.guidance == 7.0
    assert (job.params.width, job.params.height) == (128, 128)
    other = await service.jobs.imagine(ALICE, "a castle")
    assert job.seed != other.seed, "without --seed, each job draws its own"
    for queued in (job, other):
        await service.jobs.cancel(queued.id, ALICE)  # 25 steps are not needed here


async def test_bad_parameters_start_no_job(service):
    for text in ["", "--ar 3:2", "x --steps 51", "x --cfg 21", "x --ar 9:1", "y" * 5000]:
        with pytest.raises(BadParameter):
            await service.jobs.imagine(ALICE, text)
    assert await service.storage.count_jobs() == 0


async def test_zoom_out_and_pan_make_grids_from_an_upscaled_image(service):
    parent = await finished(
        service, (await service.jobs.imagine(ALICE, "a fox --ar 3:2 --seed 7 --steps 2")).id
    )
    upscale = await finished(
        service, (await service.jobs.press(BOB, Action.UPSCALE, parent.id, 2)).id
    )
    [upscaled] = await service.runner.images(upscale.id)
    assert (upscaled.width, upscaled.height) == (384, 256)
    # Zoom out: a new grid at the size of the grid it came from (not the upscaled size).
    for action, factor in ((Action.ZOOM_OUT_2, 2.0), (Action.ZOOM_OUT_1_5, 1.5)):
        zoom = await finished(service, (await service.jobs.press(BOB, action, upscale.id, 1)).id)
        assert (zoom.kind, zoom.parent_id, zoom.user_id) == ("zoom", upscale.id, BOB.user_id)
        assert zoom.recipe == ZoomOut(ImageRef(upscale.id, 1), factor)
        assert zoom.recipe.strength == 1.0
        assert [(r.width, r.height) for r in await service.runner.images(zoom.id)] == [
            (192, 128)
        ] * 4
    # Pan: half a side more in that direction.
    for action, size in ((Action.PAN_RIGHT, (288, 128)), (Action.PAN_UP, (192, 192))):
        panned = await finished(service, (await service.jobs.press(BOB, action, upscale.id, 1)).id)
        assert panned.recipe == Pan(ImageRef(upscale.id, 1), action.pan, (192, 128))
        assert [(r.width, r.height) for r in await service.runner.images(panned.id)] == [size] * 4
        assert service.runner.spec_for(panned).paint.direction == action.pan
    # A pan that would pass MAX_UPSCALE_SIDE (512 here) is refused before any row.
    wide = await finished(
        service, (await service.jobs.press(BOB, Action.PAN_RIGHT, upscale.id, 1)).id
    )
    wider = await finished(
        service, (await service.jobs.press(BOB, Action.PAN_RIGHT, wide.id, 1)).id
    )
    before = await service.storage.count_jobs()
    with pytest.raises(UserError, match="past the largest size I make"):
        await service.jobs.press(BOB, Action.PAN_RIGHT, wider.id, 1)
    assert await service.storage.count_jobs() == before


async def test_a_form_never_shows_another_members_saved_negative(make_services):
    service = await make_services(started=False, max_queued_per_user=10)
    await service.users.update_settings(ALICE, negative="grainy fog")
    saved = await service.jobs.imagine(ALICE, "a fox --steps 2")
    typed = await service.jobs.imagine(ALICE, "a fox --steps 2 --no rain")
    assert saved.negative == "grainy fog"  # the job is made with it
    assert "--no" not in await service.jobs.form_text(BOB, saved.id)
    assert (await service.jobs.form_text(ALICE, saved.id)).endswith("--no grainy fog")
    assert (await service.jobs.form_text(BOB, typed.id)).endswith("--no rain")
    # A child made without a form keeps the negative, and whose it is.
    child = await service.jobs.press(BOB, Action.REROLL, saved.id, None)
    assert child.negative == "grainy fog"
    assert "--no" not in await service.jobs.form_text(BOB, child.id)
    # A form's --no is what its member typed: shown to anyone.
    edited = await service.jobs.press(BOB, Action.REROLL, saved.id, None, remix="a fox --no fog")
    assert (await service.jobs.form_text(ALICE, edited.id)).endswith("--no fog")


async def test_remix_custom_zoom_and_region_edit_the_prompt_and_check_it(service):
    parent = await finished(
        service,
        (await service.jobs.imagine(ALICE, "a fox --ar 3:2 --seed 7 --steps 2 --no rain")).id,
    )
    # The forms start from the job's prompt with its parameters, which parse back the same.
    text = await service.jobs.form_text(BOB, parent.id)
    assert text == f"a fox --ar 3:2 --steps 2 --cfg {parent.params.guidance:.10g} --no rain"
    again = service.jobs.check_prompt(text)
    assert (again.prompt, again.negative, again.aspect, again.steps) == ("a fox", "rain", (3, 2), 2)
    with pytest.raises(UnknownJob):  # another server's job: as if there were none
        await service.jobs.form_text(Requester(user_id=BOB.user_id, guild_id=2), parent.id)

    # Remix: the submitted text replaces the prompt, --no and the settings it gives.
    remixed = await finished(
        service,
        (
            await service.jobs.press(
                BOB, Action.VARY_STRONG, parent.id, 1, remix="a wolf --steps 3 --seed 5"
            )
        ).id,
    )
    assert (remixed.prompt, remixed.negative, remixed.seed) == ("a wolf", "", 5)
    assert remixed.recipe == Variation(ImageRef(parent.id, 1), "strong")
    assert (remixed.params.steps, remixed.recipe.strength) == (3, 0.7)
    assert remixed.params.width == 192 and remixed.parent_id == parent.id
    # 🔄 makes new images from the text alone: its shape may change; a variation's not.
    square = await service.jobs.press(BOB, Action.REROLL, parent.id, None, remix="a fox --ar 1:1")
    assert square.params.aspect == "1:1" and square.params.width == square.params.height
    before = await service.storage.count_jobs()
    with pytest.raises(BadParameter, match="would change the shape"):
        await service.jobs.press(BOB, Action.VARY_SUBTLE, parent.id, 1, remix="a fox --ar 1:1")
    with pytest.raises(BadParameter, match="--steps"):  # checked like a new /imagine
        await service.jobs.press(BOB, Action.VARY_SUBTLE, parent.id, 1, remix="a fox --steps 999")
    with pytest.raises(BadParameter, match="prompt is empty"):
        await service.jobs.press(BOB, Action.REROLL, parent.id, None, remix="  --ar 1:1")
    with pytest.raises(UnknownJob):  # an upscale keeps the image: no remix
        await service.jobs.press(BOB, Action.UPSCALE, parent.id, 1, remix="a cat")
    assert await service.storage.count_jobs() == before

    upscale = await finished(
        service, (await service.jobs.press(BOB, Action.UPSCALE, parent.id, 2)).id
    )
    # Custom Zoom: a factor from 1.0 to 2.0; --ar gives the canvas another shape.
    for factor, message in (("2.5", "out of range"), ("big", "not a number"), ("1", "nothing")):
        with pytest.raises(BadParameter, match=message):
            await service.jobs.custom_zoom(BOB, upscale.id, 1, text, factor)
    zoom = await finished(
        service, (await service.jobs.custom_zoom(BOB, upscale.id, 1, "a fox in a den", "1.25")).id
    )
    assert (zoom.recipe, zoom.prompt) == (ZoomOut(ImageRef(upscale.id, 1), 1.25), "a fox in a den")
    assert [(r.width, r.height) for r in await service.runner.images(zoom.id)] == [(192, 128)] * 4
    square_zoom = await finished(
        service, (await service.jobs.custom_zoom(BOB, upscale.id, 1, "a fox --ar 1:1", "1.0")).id
    )
    [image, *_] = await service.runner.images(square_zoom.id)
    assert image.width == image.height and square_zoom.params.aspect == "1:1"
    assert service.runner.spec_for(square_zoom).paint.factor == 1.0

    # Vary (Region): only the chosen cells; an optional prompt.
    for cells in ((), (0,), (10,)):
        with pytest.raises(UserError, match=r"Choose at least one|numbered 1 to 9"):
            await service.jobs.vary_region(BOB, upscale.id, 1, cells)
    region = await finished(
        service, (await service.jobs.vary_region(BOB, upscale.id, 1, [5, 1, 5])).id
    )
    assert (region.recipe, region.prompt) == (Region(ImageRef(upscale.id, 1), (1, 5)), "a fox")
    assert service.runner.spec_for(region).paint.cells == (1, 5)
    assert [(r.width, r.height) for r in await service.runner.images(region.id)] == [(192, 128)] * 4
    cat = await service.jobs.vary_region(BOB, upscale.id, 1, [9], "a cat --no dogs")
    assert (cat.prompt, cat.negative, cat.recipe.cells) == ("a cat", "dogs", (9,))
    # 🔄 on a painted grid paints the same part again.
    again = await service.jobs.press(BOB, Action.REROLL, region.id, None)
    assert again.recipe == Reroll(region.recipe)
    assert service.runner.spec_for(again).paint.cells == (1, 5)
    assert (await service.runner.wait(cat.id)).status == "done"
    assert (await service.runner.wait(again.id)).status == "done"


async def test_buttons_make_children_owned_by_who_pressed(service):
    parent = await finished(
        service, (await service.jobs.imagine(ALICE, "a fox --ar 3:2 --seed 7 --steps 4")).id
    )

    upscale = await finished(
        service, (await service.jobs.press(BOB, Action.UPSCALE, parent.id, 2)).id
    )
    assert (upscale.kind, upscale.parent_id, upscale.parent_index) == ("upscale", parent.id, 2)
    with pytest.raises(UserError, match="has no 🔄"):  # a forged id: no such button there
        await service.jobs.press(BOB, Action.REROLL, upscale.id, None)
    assert (upscale.user_id, upscale.channel_id, upscale.seed) == (202, 11, 8)
    [image] = await service.runner.images(upscale.id)
    assert (image.width, image.height) == (384, 256)

    variation = await finished(
        service, (await service.jobs.press(BOB, Action.VARY_STRONG, parent.id, 3)).id
    )
    assert (variation.kind, variation.parent_index) == ("variation", 3)
    assert variation.recipe == Variation(ImageRef(parent.id, 3), "strong")
    assert variation.recipe.strength == 0.7
    assert [(r.width, r.height) for r in await service.runner.images(variation.id)] == [
        (192, 128)
    ] * 4

    reroll = await finished(
        service, (await service.jobs.press(ALICE, Action.REROLL, parent.id, None)).id
    )
    assert reroll.kind == "reroll" and reroll.prompt == parent.prompt
    assert reroll.seed != parent.seed
    assert reroll.params.width == 192 and reroll.params.steps == 4

    # On the upscaled image: vary strong and subtle come back at the grid's size.
    for action, strength in ((Action.VARY_STRONG, 0.7), (Action.VARY_SUBTLE, 0.35)):
        child = await finished(service, (await service.jobs.press(BOB, action, upscale.id, 1)).id)
        assert child.recipe.strength == strength
        assert child.recipe.source == ImageRef(upscale.id, 1)
        assert [(r.width, r.height) for r in await service.runner.images(child.id)] == [
            (192, 128)
        ] * 4

    # Upscale (Creative): another pass, capped at the maximum side (512 here).
    creative = await finished(
        service, (await service.jobs.press(BOB, Action.UPSCALE_CREATIVE, upscale.id, 1)).id
    )
    [big] = await service.runner.images(creative.id)
    assert (big.width, big.height) == (504, 336)  # 3:2 kept exactly, sides multiples of 8
    with pytest.raises(UserError, match="largest size"):
        await service.jobs.press(BOB, Action.UPSCALE_CREATIVE, creative.id, 1)


async def test_buttons_on_unknown_or_unfinished_jobs_are_refused(service):
    with pytest.raises(UnknownJob, match="no job 999"):
        await service.jobs.press(ALICE, Action.UPSCALE, 999, 1)
    job = await service.jobs.imagine(ALICE, "a fox --steps 2")
    with pytest.raises(UnknownJob, match="no images"):
        await service.jobs.press(ALICE, Action.UPSCALE, job.id, 1)
    await finished(service, job.id)
    with pytest.raises(UnknownJob, match="no image 5"):
        await service.jobs.press(ALICE, Action.UPSCALE, job.id, 5)
    with pytest.raises(UnknownJob):
        await service.jobs.press(ALICE, "q", job.id, 1)
    before = await service.storage.count_jobs()
    for row in await service.runner.images(job.id):
        service.storage.image_file(row).unlink()
    with pytest.raises(UnknownJob, match="no longer kept"):
        await service.jobs.press(ALICE, Action.VARY_STRONG, job.id, 1)
    assert await service.storage.count_jobs() == before


async def test_repeats_get_their_own_jobs_seeds_and_places_in_the_fair_order(small_service):
    service = small_service
    repeats = await service.jobs.imagine_all(ALICE, "a fox --seed 10 --repeat 2 --steps 2")
    assert [job.seed for job in repeats] == [10, 14], "a given seed: the repeats go on from it"
    assert [job.prompt for job in repeats] == ["a fox", "a fox"]
    bob = await service.jobs.imagine(BOB, "bob --steps 2")
    # Interleaved with other users' jobs like any of alice's.
    assert service.runner.positions() == {repeats[0].id: 1, bob.id: 2, repeats[1].id: 3}
    with pytest.raises(ValueError, match="imagine_all"):
        await service.jobs.imagine(BOB, "two {a, b} --steps 2")


async def test_tile_goes_to_the_engine_and_stays_with_variations_not_with_zooms(service):
    grid = await finished(
        service, (await service.jobs.imagine(ALICE, "leaves --tile --steps 2")).id
    )
    assert grid.params.tile is True and service.runner.spec_for(grid).tile
    with Image.open(service.storage.image_file((await service.runner.images(grid.id))[0])) as png:
        assert png.text["tile"] == "on" and "Tiling: True" in png.text["parameters"]
    assert (await service.jobs.form_text(ALICE, grid.id)).endswith("--tile")
    variation = await service.jobs.press(ALICE, Action.VARY_SUBTLE, grid.id, 1)
    assert service.runner.spec_for(variation).tile, "a variation of a tile is a tile"
    upscale = await finished(
        service, (await service.jobs.press(ALICE, Action.UPSCALE, grid.id, 1)).id
    )
    zoom = await service.jobs.press(ALICE, Action.ZOOM_OUT_2, upscale.id, 1)
    assert not service.runner.spec_for(zoom).tile, "a painted border is no tile"
    untiled = await service.jobs.press(
        ALICE, Action.REROLL, grid.id, None, remix="leaves --steps 2"
    )
    assert not service.runner.spec_for(untiled).tile, "remix: the form's text decides"
    for job in (variation, zoom, untiled):
        await finished(service, job.id)


async def test_cancel_a_queued_job(small_service):
    service = small_service
    job = await service.jobs.imagine(ALICE, "wait for me --steps 2")
    with pytest.raises(NotAllowed):
        await service.jobs.cancel(job.id, BOB)
    cancelled = await service.jobs.cancel(job.id, ALICE)
    assert (cancelled.status, cancelled.started_at) == ("cancelled", None)
    assert service.runner.position(job.id) is None
    with pytest.raises(UserError, match="already cancelled"):
        await service.jobs.cancel(job.id, ALICE)
    other = await service.jobs.imagine(ALICE, "mine --steps 2")
    admin = Requester(user_id=BOB.user_id, guild_id=1, channel_id=11, is_admin=True)
    assert (await service.jobs.cancel(other.id, admin)).status == "cancelled"


async def test_a_family_without_negative_prompts_or_tiles_refuses_them_and_skips_a_saved_one(
    make_services, dit_models
):
    """FLUX.1 takes no negative prompt: `--no` is refused naming the family (in /imagine
    and in a remix form), a member's saved /settings negative is not applied, and the
    job runs on the FLUX pipeline; nor can it tile: `--tile` is refused too."""
    service = await make_services(model=dit_models["flux"])
    with pytest.raises(BadParameter, match=r"flux-schnell\) takes no negative prompt"):
        await service.jobs.imagine(ALICE, "a fox --no rain")
    await service.users.update_settings(ALICE, negative="blurry")
    job = await finished(service, (await service.jobs.imagine(ALICE, "a fox --ar 1:1")).id)
    assert job.negative == "" and job.params.steps == 4  # FLUX.1 [schnell]'s default
    assert [(r.width, r.height) for r in await service.runner.images(job.id)] == [(256, 256)] * 4
    with pytest.raises(BadParameter, match="takes no negative prompt"):
        await service.jobs.press(ALICE, Action.VARY_STRONG, job.id, 1, remix="a fox --no rain")
    with pytest.raises(BadParameter, match=r"flux-schnell\) cannot make seamless tiles"):
        await service.jobs.imagine(ALICE, "a fox --tile")
    assert await service.storage.count_jobs() == 1


@pytest.mark.parametrize(
    ("family", "actions", "side"),
    [
        (
            "sd3",
            (Action.UPSCALE_CREATIVE, Action.VARY_SUBTLE, Action.ZOOM_OUT_1_5, Action.PAN_UP),
            512,
        ),
        (
            "z-image",
            (Action.UPSCALE, Action.VARY_STRONG, Action.ZOOM_OUT_2, Action.PAN_LEFT),
            512,
        ),
        # The tiny FLUX draws at 256 px, its grids cost seconds: its upscale and pan here
        # (capped at 384 px a side: 512 px costs its attention 16 times 256 px's); its
        # variation, zoom (below and tests/engine/test_families.py) and V1 (the e2e test)
        # run the same image-to-image and inpainting pipelines.
        ("flux", (Action.UPSCALE, Action.PAN_RIGHT), 384),
    ],
)
async def test_the_buttons_work_on_the_diffusion_transformers(
    make_services, dit_models, family, actions, side
):
    """The grid's buttons, Vary (Region), 🔄 and an image prompt on FLUX.1, SD3 and
    Z-Image: each
    job runs on the family's own image-to-image or inpainting pipeline, at its size."""
    service = await make_services(
        model=dit_models[family], max_upscale_side=side, max_queued_per_user=8
    )
    native = dit_models[family].defaults.native_size
    parent = await finished(
        service, (await service.jobs.imagine(ALICE, "a fox --ar 1:1 --steps 2")).id
    )
    assert parent.params.size == (native, native)
    children = [await service.jobs.press(BOB, action, parent.id, 1) for action in actions]
    children.append(await service.jobs.vary_region(BOB, parent.id, 2, [1, 5]))
    children.append(await service.jobs.press(BOB, Action.REROLL, parent.id, None))
    picture = Image.new("RGB", (96, 64), (30, 90, 200))
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    [pictured] = await service.jobs.imagine_all(
        ALICE, "a fox --ar 1:1 --steps 2", image=buffer.getvalue()
    )
    for job in [*children, pictured]:
        done = await finished(service, job.id)
        images = await service.runner.images(done.id)
        assert {(r.width, r.height) for r in images} == {done.params.size}, done.recipe
    sizes = {child.kind: child.params.size for child in children}
    assert sizes["region"] == sizes["reroll"] == (native, native)


async def test_chaos_is_kept_with_the_job_its_reroll_and_its_form(make_services):
    service = await make_services()
    job = await finished(
        service, (await service.jobs.imagine(ALICE, "a fox --chaos 60 --steps 2")).id
    )
    assert job.params.chaos == 60 and service.runner.spec_for(job).chaos == 60
    with Image.open(service.storage.image_path(job.id, 1)) as image:
        assert "Chaos: 60" in image.text["parameters"] and image.text["chaos"] == "60"
    reroll = await finished(
        service, (await service.jobs.press(BOB, Action.REROLL, job.id, None)).id
    )
    assert reroll.params.chaos == 60
    assert (await service.jobs.form_text(ALICE, job.id)).endswith("--chaos 60")
    # A form that leaves it out has none (as with --no).
    edited = await service.jobs.press(ALICE, Action.REROLL, job.id, None, remix="a cat --steps 2")
    assert edited.params.chaos == 0
    plain = await service.jobs.imagine(ALICE, "a fox --steps 2")
    assert plain.params.chaos == 0 and '"chaos"' not in plain.params.to_json()


async def test_chaos_is_refused_on_a_diffusion_transformer(make_services, dit_models):
    flux = await make_services(model=dit_models["flux"], started=False)
    with pytest.raises(BadParameter, match=r"flux-schnell\) cannot take `--chaos`"):
        await flux.jobs.imagine(ALICE, "a fox --chaos 20")
    assert await flux.storage.count_jobs() == 0
