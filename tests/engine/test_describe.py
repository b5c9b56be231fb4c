"""/describe's engine side: the tiny Florence-2 loaded from disk through ``Describer`` (the
real ``from_pretrained`` path), the prompt rules, and ``DescribeService``'s own thread."""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from pathlib import Path

import pytest
import torch
from PIL import Image, ImageDraw

from engine.describe import (
    DescribeBusy,
    Describer,
    DescribeService,
    DescribeUnavailable,
    clean_prompt,
    look_of,
    make_distinct,
    prompt_key,
    shrink,
    whole_sentences,
)

# Florence-2's own tokens (and any <...> token) must never reach a prompt.
_TOKEN = re.compile(r"<[^<>\s]*>")


@pytest.fixture(scope="session")
def describe_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny Florence-2, written once per session."""
    from devtools.tiny_describe import write_tiny_describe_model

    return write_tiny_describe_model(tmp_path_factory.mktemp("describe") / "tiny-florence")


@pytest.fixture(scope="session")
def describer(describe_dir: Path) -> Describer:
    """The tiny Florence-2 loaded back by ``Describer`` (once per session)."""
    loaded = Describer(str(describe_dir), "cpu")
    loaded.load()
    return loaded


@pytest.fixture
def picture() -> Image.Image:
    """A 3:2 picture: a blue sky over a green field, with a red sun."""
    image = Image.new("RGB", (300, 200), (70, 130, 220))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 120, 300, 200), fill=(40, 150, 60))
    draw.ellipse((200, 20, 250, 70), fill=(220, 40, 30))
    return image


def check_prompts(prompts: list[str]) -> None:
    assert len(prompts) == 4, prompts
    assert all(p.strip() for p in prompts), prompts
    assert all(len(p) <= 300 for p in prompts), [len(p) for p in prompts]
    assert len({prompt_key(p) for p in prompts}) == 4, prompts
    assert len({p.casefold() for p in prompts}) == 4, prompts
    assert not [p for p in prompts if _TOKEN.search(p)], prompts
    assert all(p == " ".join(p.split()) for p in prompts), prompts


def test_four_distinct_bounded_prompts_of_words(describer, picture):
    prompts = describer.describe(picture, seed=7)
    check_prompts(prompts)
    # The tiny model speaks whole words of its built-in text (lower case, . and ,).
    assert all(re.fullmatch(r"[a-z ,.\-]+", p) for p in prompts), prompts
    # The fourth: a short caption, then the palette and light measured from the pixels.
    look = look_of(shrink(picture))
    assert prompts[3].endswith(f"{look.palette}, {look.light}"), (prompts[3], look)
    assert "blue" in look.colours and "green" in look.colours, look


def test_same_seed_same_four_another_seed_new_ones_and_global_rng_untouched(describer, picture):
    state = torch.get_rng_state()
    first = describer.describe(picture, seed=11)
    assert torch.equal(torch.get_rng_state(), state)  # sampling used its own generator
    assert describer.describe(picture, seed=11) == first
    other = describer.describe(picture, seed=12)
    check_prompts(other)
    assert other != first
    assert sum(a == b for a, b in zip(first, other, strict=True)) < 4


def test_clean_prompt_strips_tokens_and_openings_and_cuts_at_a_sentence():
    raw = "</s><s>The image shows a cat<loc_12>   on a\n sofa.<pad><pad>"
    assert clean_prompt(raw) == "a cat on a sofa."
    assert clean_prompt("In this image, we can see a red car.") == "a red car."
    assert clean_prompt("<s></s><pad>") == ""
    sentences = " ".join(f"Sentence number {n} is about a quiet lake at dawn." for n in range(12))
    cut = clean_prompt(sentences)
    assert len(cut) <= 300 and cut.endswith(".") and sentences.startswith(cut)
    assert whole_sentences("A lake at dawn. Mist over the wat") == "A lake at dawn."
    assert whole_sentences("a lake. then a long unfinished tail of words") == (
        "a lake. then a long unfinished tail of words"
    )
    words = " ".join(["misty"] * 100)
    cut = clean_prompt(words)
    assert len(cut) <= 300 and set(cut.split()) == {"misty"} and words.startswith(cut)


def test_make_distinct_fills_empty_and_separates_repeats_deterministically(picture):
    look = look_of(picture)
    prompts = make_distinct(["a cat", "A cat.", "", "a dog"], look)
    check_prompts(prompts)
    assert prompts[0] == "a cat" and prompts[2] == look.fallback and prompts[3] == "a dog"
    assert prompts[1].startswith("A cat") and look.palette in prompts[1]
    same = make_distinct(["x"] * 4, look)
    check_prompts(same)
    assert same == make_distinct(["x"] * 4, look)
    check_prompts(make_distinct([""] * 4, look))
    long = make_distinct(["word " * 80] * 4, look)
    check_prompts(long)


def test_look_of_names_colours_and_light():
    red = look_of(Image.new("RGB", (64, 64), (220, 30, 30)))
    assert red.colours == ("red",) and red.mood == "vivid", red
    dark = look_of(Image.new("RGB", (64, 64), (5, 5, 5)))
    assert dark.colours == ("black",) and "low-key" in dark.light, dark
    assert dark.fallback.startswith("an image in black tones")


def test_shrink_makes_rgb_within_bounds():
    image = Image.new("RGBA", (2000, 1000), (255, 0, 0, 0))
    small = shrink(image)
    assert small.mode == "RGB" and small.size == (768, 384)
    assert small.getpixel((10, 10)) == (255, 255, 255)  # transparent -> white
    assert shrink(Image.new("L", (100, 50))).size == (100, 50)


class GatedDescriber:
    """The real describer, called through a gate the test opens, recording its threads."""

    def __init__(self, inner: Describer) -> None:
        self.inner = inner
        self.threads: list[str] = []
        self.entered = threading.Event()
        self.release = threading.Event()

    def load(self) -> None:
        self.threads.append(threading.current_thread().name)
        self.inner.load()

    def describe(self, image: Image.Image, seed: int) -> list[str]:
        self.threads.append(threading.current_thread().name)
        self.entered.set()
        assert self.release.wait(60), "the test never opened the gate"
        return self.inner.describe(image, seed)


async def until(condition, what: str) -> None:
    """Wait for a state (not for a time), with a deadline."""
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.01)


async def test_service_runs_on_its_own_thread_and_refuses_past_its_bound(describer, picture):
    gated = GatedDescriber(describer)
    service = DescribeService(gated, max_pending=2)
    await service.start()
    try:
        first = asyncio.create_task(service.describe(picture, 1))
        assert await asyncio.to_thread(gated.entered.wait, 30)
        second = asyncio.create_task(service.describe(picture, 2))
        await until(lambda: service.pending == 2, "the second request never queued")
        with pytest.raises(DescribeBusy, match="busy"):
            await service.describe(picture, 3)
        gated.release.set()
        results = await asyncio.gather(first, second)
    finally:
        gated.release.set()
        await service.stop()
    for prompts in results:
        check_prompts(prompts)
    assert results[0] == describer.describe(picture, 1)  # the thread changes nothing
    # The warm-up load first, then both requests: all on the one describe thread.
    assert len(gated.threads) == 3 and len(set(gated.threads)) == 1, gated.threads
    assert gated.threads[0].startswith("describe"), gated.threads
    assert gated.threads[0] != threading.current_thread().name
    assert service.pending == 0


async def test_a_model_that_cannot_load_is_unavailable_naming_describe_model(
    tmp_path, picture, caplog
):
    missing = tmp_path / "no-such-model"
    service = DescribeService(Describer(str(missing), "cpu"))
    with caplog.at_level(logging.ERROR, logger="engine.describe"):
        await service.start()
        try:
            for _ in range(2):  # kept: the second request fails the same way, at once
                with pytest.raises(DescribeUnavailable, match="DESCRIBE_MODEL") as info:
                    await service.describe(picture, 1)
                assert str(missing) in str(info.value)
        finally:
            await service.stop()
    assert any("could not be loaded" in r.getMessage() for r in caplog.records), caplog.text


def test_a_load_waits_for_a_diffusers_load_on_another_thread(describe_dir, monkeypatch):
    """diffusers builds a model on the meta device inside accelerate's
    ``init_empty_weights``, which patches ``register_parameter`` for the whole process:
    Florence-2 built meanwhile on another thread got meta weights ("Cannot copy out of meta
    tensor"; seen when a first clip loaded the video model as the bot started). Every load
    holds ``engine.loading.LOADING``: here the test holds it inside that patch, as a
    diffusers load does; the describer's load asks for it and waits (seen through the
    lock, not a clock), then loads real weights once the patch is gone."""
    from accelerate import init_empty_weights

    import engine.describe
    from engine.loading import LOADING

    asked = threading.Event()

    class Watched:
        """``LOADING``, telling the test when the load asks for it."""

        def __enter__(self) -> None:
            asked.set()
            LOADING.acquire()

        def __exit__(self, *exc_info: object) -> None:
            LOADING.release()

    monkeypatch.setattr(engine.describe, "LOADING", Watched())
    loaded = Describer(str(describe_dir), "cpu")
    failures: list[BaseException] = []

    def load() -> None:
        try:
            loaded.load()
        except BaseException as exc:  # the thread's failure, for the assertion below
            failures.append(exc)

    thread = threading.Thread(target=load)
    with LOADING, init_empty_weights():
        thread.start()
        # Either the load asks for the lock, or it ends without it (a regression).
        while not asked.wait(0.05) and thread.is_alive():
            pass
        assert asked.is_set(), f"the load did not wait for the lock: {failures}"
        assert thread.is_alive(), "it holds at the lock while another load runs"
    thread.join(60)
    assert not failures and not thread.is_alive()
    assert not any(p.is_meta for p in loaded._model.parameters())
