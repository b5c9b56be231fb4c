"""The NSFW classifier: loaded through from_pretrained, run in the NSFW step after the
worker (on a thread of its own), stored, censored."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest
from PIL import Image

from core.model import Requester
from core.services import open_services
from devtools.tiny import write_tiny_classifier
from engine.images import censor
from engine.nsfw import NsfwClassifier
from engine.scheduler import Engine
from engine.types import JobSpec, Progress
from storage.db import Storage
from tests.gates import held_worker


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory):
    return write_tiny_classifier(tmp_path_factory.mktemp("nsfw") / "tiny-nsfw")


def test_the_threshold_decides(classifier_dir):
    images = [Image.effect_noise((64, 64), 60).convert("RGB"), Image.new("RGB", (64, 64), "red")]
    scores = NsfwClassifier.load(str(classifier_dir), "cpu", 0.5).scores(images)
    assert scores[0] != scores[1], "the tiny classifier tells these two apart"
    between = (scores[0] + scores[1]) / 2
    flags = NsfwClassifier.load(str(classifier_dir), "cpu", between).flags(images)
    assert flags == [score >= between for score in scores] and sum(flags) == 1
    # At a score exactly, the image is flagged; just above it, not.
    low = min(scores)
    index = scores.index(low)
    assert NsfwClassifier.load(str(classifier_dir), "cpu", low).flags(images)[index]
    above = math.nextafter(low, 1.0)
    assert not NsfwClassifier.load(str(classifier_dir), "cpu", above).flags(images)[index]


def test_a_classifier_without_an_nsfw_label_is_refused(tmp_path):
    write_tiny_classifier(tmp_path, labels=("cat", "dog"))
    with pytest.raises(ValueError, match="no NSFW class"):
        NsfwClassifier.load(str(tmp_path))


@pytest.mark.parametrize("threshold", [0.0, 1.0])
async def test_flags_are_made_after_the_worker_and_stored(
    sd_model, classifier_dir, tmp_path, threshold
):
    classifier = NsfwClassifier.load(str(classifier_dir), "cpu", threshold)
    async with (
        Storage(tmp_path) as storage,
        Engine(sd_model, classifier=classifier) as engine,
        open_services(storage, engine) as service,
    ):
        job = await service.jobs.imagine(Requester(1, 1, 1), "a fox --steps 2")
        assert (await service.runner.wait(job.id)).status == "done"
        flags = [row.nsfw for row in await service.runner.images(job.id)]
    assert flags == [threshold == 0.0] * 4


def test_censor_blurs_or_greys_only_the_flagged_images():
    noise = [Image.effect_noise((32, 32), 80).convert("RGB") for _ in range(4)]
    flags = [True, False, False, True]
    blurred = np.asarray(censor(noise, flags, "blur"), dtype=np.float32)
    assert blurred.shape == (64, 64, 3)
    assert blurred[:32, :32].std() < np.asarray(noise[0], dtype=np.float32).std() / 3
    assert np.array_equal(blurred[:32, 32:], np.asarray(noise[1], dtype=np.float32))
    blocked = np.asarray(censor(noise, flags, "block"))
    assert (blocked[32:, 32:] == 96).all() and np.array_equal(blocked[32:, :32], noise[2])
    assert censor(noise[:1], [True], "block") is None
    unflagged = censor(noise[:1], [False], "block")
    assert unflagged is not None and np.array_equal(np.asarray(unflagged), np.asarray(noise[0]))


def test_the_blur_of_a_full_size_image_looks_like_a_full_resolution_blur():
    """Blurred small and scaled back (cheap) is what the full-resolution blur shows."""
    from PIL import ImageDraw, ImageFilter

    image = Image.new("RGB", (512, 512), (30, 60, 120))
    draw = ImageDraw.Draw(image)
    draw.ellipse((60, 60, 260, 260), fill=(240, 200, 40))
    draw.rectangle((300, 280, 480, 470), fill=(200, 30, 60))
    noisy = Image.blend(image, Image.effect_noise((512, 512), 90).convert("RGB"), 0.3)
    cheap = censor([noisy], [True], "blur")
    assert cheap is not None
    full = noisy.filter(ImageFilter.GaussianBlur(512 / 12))
    difference = np.abs(np.asarray(cheap, np.float32) - np.asarray(full, np.float32))
    assert cheap.size == noisy.size and difference.mean() < 6
    assert np.asarray(cheap, np.float32).std(axis=(0, 1)).max() < np.asarray(noisy).std()


class _Batches(NsfwClassifier):
    """The real classifier, noting how many images each call classifies, and where."""

    sizes: list[int]
    threads: set[str]

    def flags(self, images: list) -> list[bool]:
        self.sizes.append(len(images))
        self.threads.add(threading.current_thread().name)
        return super().flags(images)


@pytest.mark.parametrize("threshold", [0.0, 1.0])
async def test_previews_and_images_are_classified_after_the_worker_a_call_at_a_time(
    sd_model, classifier_dir, threshold
):
    loaded = NsfwClassifier.load(str(classifier_dir), "cpu", threshold)
    classifier = _Batches(loaded.model, loaded.processor, loaded.nsfw_ids, threshold, "cpu")
    classifier.sizes, classifier.threads = [], set()
    engine = Engine(sd_model, classifier=classifier, preview_interval=0.0, progress_interval=0.0)
    async with engine:
        async with held_worker(engine):  # both jobs wait, then go in one call
            handles = [engine.submit(_spec(job_id)) for job_id in (1, 2)]
        updates = [[u async for u in handle.events()] for handle in handles]
        outputs = [await handle for handle in handles]
    previews = [
        [u for u in job_updates if isinstance(u, Progress) and u.preview is not None]
        for job_updates in updates
    ]
    # A preview at every step but the last (3 steps), each with the classifier's verdict.
    assert [[p.step for p in job] for job in previews] == [[1, 2], [1, 2]]
    assert {p.preview_nsfw for job in previews for p in job} == {threshold == 0.0}
    assert all(
        not u.preview_nsfw
        for job in updates
        for u in job
        if isinstance(u, Progress) and u.preview is None
    ), "no preview, no flag"
    # The call's two previews in one batch at each step; then each job's image.
    assert classifier.sizes == [2, 2, 1, 1]
    assert [output.nsfw for output in outputs] == [[threshold == 0.0]] * 2
    # On the NSFW step's own thread: not the worker's, not the event loop's.
    assert len(classifier.threads) == 1 and classifier.threads.pop().startswith("nsfw-")


async def test_previews_without_a_classifier_are_not_flagged(sd_model):
    async with Engine(sd_model, preview_interval=0.0, progress_interval=0.0) as engine:
        handle = engine.submit(_spec(1))
        updates = [u async for u in handle.events()]
        await handle
    previews = [u for u in updates if isinstance(u, Progress) and u.preview is not None]
    assert previews and not any(p.preview_nsfw for p in previews)


def _spec(job_id: int) -> JobSpec:
    return JobSpec(
        job_id=job_id,
        prompt="a fox",
        negative="",
        width=128,
        height=128,
        steps=3,
        guidance=7.0,
        seed=job_id,
        num_images=1,
    )
