"""Clips in the core (core/clips.py, issue 27): Animate on an image, Extend and 🔄 on a clip,
through real SQLite, the real engine (the video model a worker's resident model, loaded when
a clip first needs it) and a tiny random LTX-Video written to disk and loaded back; the MP4
read back with PyAV."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import threading

import numpy as np
import pytest

from core.errors import BadParameter, BlockedPrompt, QuotaExceeded, UnknownJob, UserError
from core.limits import Limits
from core.recipes import ImageRef
from core.services import open_services
from engine import VIDEO_ALIAS, Engine, VideoOffer, read_clip
from engine.resident import Resident
from engine.video import load_video_model
from storage.db import Storage
from tests.core.commits import ALICE, BOB, finished


@pytest.fixture(scope="module")
def video_dir(tmp_path_factory):
    from devtools.tiny_video import write_tiny_video_model

    return write_tiny_video_model(tmp_path_factory.mktemp("video") / "tiny-video")


@contextlib.asynccontextmanager
async def services_with_video(
    tmp_path, sd_model, video_dir, *, video: bool = True, engine_options=None, **limits
):
    resident = Resident.single(sd_model)
    if video:
        resident.loaders[VIDEO_ALIAS] = functools.partial(
            load_video_model, str(video_dir), "cpu", place=False
        )
        resident.video = VideoOffer.of(str(video_dir))
    async with (
        Storage(tmp_path / "data") as storage,
        Engine(resident, **(engine_options or {})) as engine,
        open_services(storage, engine, Limits(max_upscale_side=512, **limits)) as services,
    ):
        yield services


def test_the_tiny_models_clip_settings_are_read_before_it_loads(video_dir):
    offer = VideoOffer.of(str(video_dir))
    assert (offer.defaults.native_size, offer.frames, offer.fps) == (64, 9, 8)
    assert offer.defaults.family == "ltx-video" and offer.name == "tiny-video"


async def test_animate_extend_and_reroll_make_clips(tmp_path, sd_model, video_dir):
    async with services_with_video(tmp_path, sd_model, video_dir) as service:
        grid = await finished(service, (await service.jobs.imagine(ALICE, "a kite --steps 2")).id)
        clip = await service.jobs.press(BOB, "i", grid.id, 2)  # Animate (Low motion)
        assert clip.user_id == BOB.user_id and clip.kind == "animate"
        assert (clip.params.width, clip.params.height) == (64, 64)  # 128x128 to the long side
        clip = await finished(service, clip.id)
        frames, fps = read_clip(service.storage.clip_path(clip.id).read_bytes())
        assert frames.shape == (9, 64, 64, 3) and fps == 8
        [row] = await service.runner.images(clip.id)
        assert (row.index, row.width, row.height) == (1, 64, 64)
        assert service.storage.thumbnail_path(clip.id).is_file()
        # Extend: the clip so far, then what it adds (its start is the parent's end).
        longer = await service.jobs.press(ALICE, "t", clip.id, 1)  # Extend (High motion)
        assert longer.params.frames > clip.params.frames
        longer = await finished(service, longer.id)
        extended, _ = read_clip(service.storage.clip_path(longer.id).read_bytes())
        assert len(extended) == longer.params.frames
        # The first frames are the parent's (lossy codec: a tolerance).
        difference = np.abs(extended[:9].astype(int) - frames.astype(int)).mean()
        assert difference < 12, difference
        # 🔄 on a clip: the same clip again, another seed.
        again = await finished(service, (await service.jobs.press(BOB, "r", clip.id, 0)).id)
        assert again.kind == "reroll" and again.seed != clip.seed
        redrawn, _ = read_clip(service.storage.clip_path(again.id).read_bytes())
        assert redrawn.shape == frames.shape


async def test_clip_buttons_are_refused_where_they_do_not_apply(tmp_path, sd_model, video_dir):
    from tests.images import drawing, encoded

    async with services_with_video(tmp_path, sd_model, video_dir) as service:
        grid = await finished(service, (await service.jobs.imagine(ALICE, "a kite --steps 2")).id)
        with pytest.raises(UnknownJob, match="does not apply to an image"):
            await service.jobs.press(ALICE, "e", grid.id, 1)  # Extend on an image
        clip = await finished(service, (await service.jobs.press(ALICE, "i", grid.id, 1)).id)
        with pytest.raises(UnknownJob, match="does not apply to a clip"):
            await service.jobs.press(ALICE, "o", clip.id, 1)  # Animate on a clip
        with pytest.raises(UnknownJob, match="does not apply to a clip"):
            await service.jobs.press(ALICE, "v", clip.id, 1)
        # While the video model's files are being fetched, no clip starts: said, no row.
        video = service.engine.video
        assert video is not None
        video.fetch.begin()
        jobs = await service.storage.count_jobs()
        with pytest.raises(UserError, match="still being downloaded"):
            await service.jobs.press(ALICE, "i", grid.id, 2)
        with pytest.raises(UserError, match="still being downloaded"):
            await service.jobs.imagine_all(ALICE, "a kite --video", encoded(drawing(), "PNG"))
        assert await service.storage.count_jobs() == jobs
        video.fetch.end()
        await finished(service, (await service.jobs.press(ALICE, "i", grid.id, 2)).id)
    async with services_with_video(tmp_path / "off", sd_model, video_dir, video=False) as off:
        grid = await finished(off, (await off.jobs.imagine(ALICE, "a kite --steps 2")).id)
        with pytest.raises(UserError, match="not available"):
            await off.jobs.press(ALICE, "i", grid.id, 1)


async def test_a_clip_counts_video_cost_jobs_against_the_quota(tmp_path, sd_model, video_dir):
    limits = {"daily_quota": 10, "video_cost": 8}
    async with services_with_video(tmp_path, sd_model, video_dir, **limits) as service:
        grid = await finished(service, (await service.jobs.imagine(ALICE, "a kite --steps 2")).id)
        await finished(service, (await service.jobs.imagine(BOB, "a boat --steps 2")).id)
        await finished(service, (await service.jobs.imagine(BOB, "a boat --steps 2")).id)
        # Bob: 2 used of 10, a clip (8) fits; then 10 used: nothing more today.
        clip = await finished(service, (await service.jobs.press(BOB, "i", grid.id, 1)).id)
        assert (await service.admission.quota(BOB)).used == 10
        with pytest.raises(QuotaExceeded):
            await service.jobs.imagine(BOB, "a boat --steps 2")
        # With none left, a clip's refusal still says what a clip counts as.
        with pytest.raises(QuotaExceeded, match="A clip counts as 8 jobs and you have 0 of"):
            await service.jobs.press(BOB, "o", grid.id, 2)
        # Alice: 1 used; a second image (2 used), then a clip would make 10: it fits, but
        # with a third image first (3 used) it would not (11), and the refusal says why.
        await finished(service, (await service.jobs.imagine(ALICE, "a kite --steps 2")).id)
        await finished(service, (await service.jobs.imagine(ALICE, "a kite --steps 2")).id)
        with pytest.raises(QuotaExceeded, match="A clip counts as 8 jobs") as refused:
            await service.jobs.press(ALICE, "e", clip.id, 1)
        assert refused.value.cost == 8 and refused.value.used == 3


def test_a_clip_is_480p_class_in_the_sources_proportion_and_grows_to_21_s():
    from core.clips import added_frames, clip_size
    from engine import video_defaults

    assert clip_size(1920, 1080, 832) == (832, 480)  # 16:9: LTX-Video's own 832x480
    assert clip_size(1000, 1000, 832) == (640, 640)  # a square: about the same pixels
    assert clip_size(1080, 1920, 832) == (480, 832)
    assert clip_size(300, 200, 64) == (64, 64)  # never below 64
    offer = VideoOffer("video", "ltx", video_defaults("ltx"), 121, 24)
    frames = [121]
    while frames[-1] + added_frames(offer, frames[-1]) - 1 <= 21 * 24:
        frames.append(frames[-1] + added_frames(offer, frames[-1]))
    assert frames == [121, 217, 313, 409, 505]  # 5 s, then 4 s each: 21 s at most


async def test_a_queued_clip_runs_after_a_restart(tmp_path, sd_model, video_dir):
    def resident() -> Resident:
        held = Resident.single(sd_model)
        held.loaders[VIDEO_ALIAS] = functools.partial(
            load_video_model, str(video_dir), "cpu", place=False
        )
        held.video = VideoOffer.of(str(video_dir))
        return held

    async with services_with_video(tmp_path, sd_model, video_dir) as service:
        grid = await finished(service, (await service.jobs.imagine(ALICE, "a kite --steps 2")).id)
    # A stop with the clip queued: its engine never runs it.
    async with Storage(tmp_path / "data") as storage:
        stopped = Engine(resident())
        async with open_services(storage, stopped) as service:
            clip = await service.jobs.press(BOB, "i", grid.id, 1)
            assert clip.status == "queued"
        await stopped.stop()
    async with (
        Storage(tmp_path / "data") as storage,
        Engine(resident()) as engine,
        open_services(storage, engine) as service,
    ):
        final = await finished(service, clip.id)
        frames, _ = read_clip(storage.clip_path(final.id).read_bytes())
        assert len(frames) == final.params.frames


async def test_imagine_with_video_animates_the_uploaded_image(tmp_path, sd_model, video_dir):
    from tests.images import drawing, encoded

    upload = encoded(drawing(), "PNG")
    async with services_with_video(tmp_path, sd_model, video_dir) as service:
        grid = await finished(service, (await service.jobs.imagine(ALICE, "a kite --steps 2")).id)
        text = f"a windy garden --video --motion high --end {grid.id}:3"
        [clip] = await service.jobs.imagine_all(BOB, text, upload)
        assert clip.kind == "animate" and clip.params.frames == 9
        assert clip.recipe.motion == "high" and clip.recipe.end == ImageRef(grid.id, 3)
        assert service.storage.source_path(clip.id).is_file()  # the upload, kept with it
        spec = service.runner.spec_for(clip)
        assert spec.clip.end == service.storage.image_path(grid.id, 3)
        assert spec.clip.source == service.storage.source_path(clip.id)
        done = await finished(service, clip.id)
        frames, _ = read_clip(service.storage.clip_path(done.id).read_bytes())
        assert len(frames) == 9
        [looped] = await service.jobs.imagine_all(BOB, "a garden --video --loop", upload)
        assert looped.recipe.loop and looped.recipe.motion == "low"
        fetched = []

        async def fetch() -> bytes:
            fetched.append(1)
            return upload

        for bad, says in (
            ("a garden --video", "attach one"),
            ("a garden --motion high", "add `--video`"),
            ("a garden --video --loop --end 1:1", "not both"),
            ("a garden --video --sref 1:1", "no `--sref`"),
            ("a garden --video --draft", "no draft"),
            ("a garden --video --end 999:1", "no job 999"),
        ):
            image = None if says == "attach one" else fetch
            with pytest.raises(BadParameter, match=says):
                await service.jobs.imagine_all(BOB, bad, image)
        assert fetched == []  # refused before the upload was fetched


def test_a_hub_video_model_is_fetched_ahead_and_a_folder_is_not(video_dir, monkeypatch, caplog):
    """At the bot's start a hub VIDEO_MODEL's pipeline files are fetched on a thread of
    their own (clips refused meanwhile); a failed fetch is logged and ends the wait."""
    import huggingface_hub

    from engine.clip_jobs import Fetch
    from engine.video import PIPELINE_FILES, prefetch

    fetch = Fetch()
    assert prefetch(str(video_dir), fetch) is None and not fetch.busy
    asked, release = [], threading.Event()

    def download(source, allow_patterns):
        asked.append((source, allow_patterns))
        release.wait(30)
        raise OSError("no route to the hub")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", download)
    thread = prefetch("Lightricks/LTX-Video-0.9.8-13B-distilled", fetch)
    assert thread is not None and fetch.busy  # busy from the call, not from the thread
    release.set()
    thread.join(30)
    assert not fetch.busy
    assert asked == [("Lightricks/LTX-Video-0.9.8-13B-distilled", PIPELINE_FILES)]
    assert "transformer/*" in PIPELINE_FILES  # not the single-file checkpoints beside it
    assert not any(pattern.endswith(".safetensors") for pattern in PIPELINE_FILES)
    assert any("not fetched ahead: no route" in r.getMessage() for r in caplog.records)


async def test_a_blocked_word_in_a_motion_prompt_is_refused(tmp_path, sd_model, video_dir):
    """The remix form's motion prompt is checked against the server's blocked words like
    any prompt (Animate and Extend): refused, no job row."""
    admin = dataclasses.replace(ALICE, user_id=999, is_admin=True)
    async with services_with_video(tmp_path, sd_model, video_dir) as service:
        await service.moderation.banword(admin, "add", "gore")
        grid = await finished(service, (await service.jobs.imagine(ALICE, "a kite --steps 2")).id)
        clip = await finished(service, (await service.jobs.press(BOB, "i", grid.id, 1)).id)
        jobs = await service.storage.count_jobs()
        for action, parent in (("o", grid.id), ("t", clip.id)):
            with pytest.raises(BlockedPrompt):
                await service.jobs.press(BOB, action, parent, 1, remix="a kite and gore")
        assert await service.storage.count_jobs() == jobs
        # Without the word, the same form is admitted.
        await service.jobs.press(BOB, "t", clip.id, 1, remix="a kite over the sea")


async def test_an_extend_of_a_flagged_clip_has_flagged_previews(tmp_path, sd_model, video_dir):
    """The continuation of a clip the NSFW filter flagged is flagged (it holds the
    parent's frames), and so are its previews, whatever the classifier says of them (none
    runs here): its message must not show what the parent's withholds."""
    options = {"preview_interval": 0.0, "progress_interval": 0.0}
    async with services_with_video(tmp_path, sd_model, video_dir, engine_options=options) as s:
        grid = await finished(s, (await s.jobs.imagine(ALICE, "a kite --steps 2")).id)
        clip = await finished(s, (await s.jobs.press(ALICE, "i", grid.id, 1)).id)
        [row] = await s.runner.images(clip.id)
        await s.storage.add_images([dataclasses.replace(row, nsfw=True)])  # as if flagged
        previews = {}

        async def listen(event):
            if event.progress is not None and event.progress.preview is not None:
                previews.setdefault(event.job.id, []).append(event.progress.preview_nsfw)

        s.runner.add_listener(listen)
        flagged = await finished(s, (await s.jobs.press(ALICE, "e", clip.id, 1)).id)
        clean = await finished(s, (await s.jobs.press(ALICE, "o", grid.id, 2)).id)
        assert previews[flagged.id] and all(previews[flagged.id])
        assert previews[clean.id] and not any(previews[clean.id])
        assert [r.nsfw for r in await s.runner.images(flagged.id)] == [True]
