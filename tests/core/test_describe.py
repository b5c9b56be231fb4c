"""/describe in the core (core/describe.py) over real SQLite and the server's real word
filter: four prompts cleaned and bounded, each with the image's --ar, a blocked one
withheld, stored so the buttons work later, the buttons admitted as /imagine for whoever
presses. The captioning model's own path is tests/engine/test_describe.py's."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from core.describe import (
    MAX_DESCRIBED_CHARS,
    Descriptions,
    clean_prompt,
    prompt_text,
    suggested_aspect,
)
from core.errors import (
    BadParameter,
    Banned,
    QueueFull,
    QuotaExceeded,
    UnknownJob,
    UserError,
)
from core.model import Requester
from core.prompt import parse_prompts
from tests.core.commits import ALICE, BOB, finished
from tests.images import drawing, encoded

ADMIN = Requester(user_id=303, guild_id=1, channel_id=10, is_admin=True)
ELSEWHERE = Requester(user_id=404, guild_id=2, channel_id=20)


class Captions:
    """A captioning model's answers, in order (what the model says is not the subject
    here: what the core makes of it is)."""

    def __init__(self, *answers: list[str], room: bool = True) -> None:
        self.answers = list(answers)
        self.room = room
        self.seen: list[tuple[tuple[int, int], int]] = []

    def has_room(self) -> bool:
        return self.room

    async def describe(self, image: Image.Image, seed: int) -> list[str]:
        self.seen.append((image.size, seed))
        return self.answers.pop(0)


def png(size=(300, 200), colour=(200, 40, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


def described_by(service, captions: Captions) -> Descriptions:
    return Descriptions(service.storage, service.admission, captions)


def test_clean_prompt_drops_markup_mentions_links_and_parameters():
    text = "<s>A **red** fox @everyone <@123> see https://evil.example/x.png --ar 9:1 `code`</s>"
    assert clean_prompt(text) == "A red fox see ar 9:1 code"
    long = "word " * 200
    cleaned = clean_prompt(long)
    assert len(cleaned) <= MAX_DESCRIBED_CHARS and cleaned.endswith("word")
    assert clean_prompt("{a,b} [x](y) \\n") == "a,b x y n"


@pytest.mark.parametrize(
    ("size", "ratio"),
    [
        ((300, 200), "3:2"),
        ((1000, 1000), "1:1"),
        ((200, 300), "2:3"),
        ((1920, 1080), "16:9"),
        ((1080, 1920), "9:16"),
        ((1080, 1350), "4:5"),
        ((1000, 480), "2:1"),
        ((4000, 1000), "2:1"),
    ],
)
def test_suggested_aspect_is_the_nearest_usual_ratio(size, ratio):
    assert suggested_aspect(*size) == ratio


async def test_four_prompts_with_the_images_ratio_stored_for_the_buttons(service):
    captions = Captions(
        ["A red square.", "A red square on nothing, flat.", "A plain red field, " * 3, "Red."]
    )
    descriptions = described_by(service, captions)
    described = await descriptions.describe(ALICE, png())
    prompts = described.description.prompts
    assert len(prompts) == 4 and len(set(prompts)) == 4
    assert all(p.endswith(" --ar 3:2") for p in prompts)
    assert described.withheld == 0
    # Each is a prompt the parser takes as it is.
    for prompt in prompts:
        [parsed] = parse_prompts(prompt, max_steps=50)
        assert parsed.aspect == (3, 2)
    # The image as the model saw it is kept; the row reads back in this server only.
    with Image.open(io.BytesIO(described.image_png)) as image:
        assert image.size == (300, 200)
    assert service.storage.description_image(described.description.id).is_file()
    again = await descriptions.get(BOB, described.description.id)
    assert again.prompts == prompts
    with pytest.raises(UnknownJob):
        await descriptions.get(ELSEWHERE, described.description.id)


async def test_a_prompt_with_a_blocked_word_is_withheld_and_all_blocked_is_refused(service):
    await service.moderation.banword(ADMIN, "add", "square")
    captions = Captions(
        ["A red square.", "A red field.", "A plain red square.", "Red paint."],
        ["square one", "a square", "squares", "square"],
    )
    descriptions = described_by(service, captions)
    described = await descriptions.describe(ALICE, png())
    assert described.withheld == 2
    assert [p.split(" --ar")[0] for p in described.description.prompts] == [
        "A red field.",
        "Red paint.",
    ]
    with pytest.raises(UserError, match="blocked in this server"):
        await descriptions.describe(ALICE, png())
    # Not the member's own words: nothing is logged against them.
    rows, _, _ = await service.moderation.audit(ADMIN, 1)
    assert not [row for row in rows if row.action == "blocked_prompt"]


async def test_refusals_come_before_the_model_and_the_download(service):
    captions = Captions()
    descriptions = described_by(service, captions)
    fetched = []

    async def fetch() -> bytes:
        fetched.append(1)
        return png()

    await service.moderation.ban(ADMIN, ALICE.user_id, "spam")
    with pytest.raises(Banned):
        await descriptions.describe(ALICE, fetch)
    with pytest.raises(UserError, match="one of them"):
        await descriptions.describe(BOB)
    with pytest.raises(UserError, match="not a PNG"):
        await descriptions.describe(BOB, b"not an image")
    with pytest.raises(BadParameter):
        await descriptions.describe(BOB, job="12:9")
    with pytest.raises(BadParameter, match="no job 999"):
        await descriptions.describe(BOB, job="999:1")
    assert fetched == [] and captions.seen == []
    with pytest.raises(UserError, match="not available"):
        await Descriptions(service.storage, service.admission, None).describe(BOB, png())
    # Too many images waiting for the model: refused before the download.
    with pytest.raises(QueueFull, match="Too many images"):
        await described_by(service, Captions(room=False)).describe(BOB, fetch)
    assert fetched == []


async def test_a_jobs_image_is_described_in_its_server_only(service):
    job = await service.jobs.imagine(ALICE, "a fox --steps 2")
    await finished(service, job.id)
    captions = Captions(["a fox", "a small fox", "fox, noise", "animal"])
    descriptions = described_by(service, captions)
    described = await descriptions.describe(BOB, job=f"{job.id}:2")
    assert described.description.user_id == BOB.user_id
    assert captions.seen[0][0] == (128, 128)
    with pytest.raises(BadParameter, match=f"no job {job.id}"):
        await descriptions.describe(ELSEWHERE, job=f"{job.id}:2")


async def test_reroll_makes_four_new_ones_from_the_same_image(service):
    captions = Captions(["one", "two", "three", "four"], ["five", "six", "seven", "eight"])
    descriptions = described_by(service, captions)
    first = await descriptions.describe(ALICE, png((200, 300)))
    second = await descriptions.again(BOB, first.description.id)
    assert second.description.id == first.description.id
    assert [p.split(" --ar")[0] for p in second.description.prompts] == [
        "five",
        "six",
        "seven",
        "eight",
    ]
    assert captions.seen[0][0] == captions.seen[1][0] == (200, 300)
    assert captions.seen[0][1] != captions.seen[1][1]  # another seed: other prompts
    stored = await descriptions.get(ALICE, first.description.id)
    assert stored.prompts == second.description.prompts


async def test_the_buttons_run_as_imagine_for_the_presser(small_service):
    captions = Captions(["a red, flat square", "red", "crimson field", "scarlet"])
    descriptions = described_by(small_service, captions)
    described = await descriptions.describe(ALICE, png())
    one = prompt_text(described.description, 1)
    [job] = await small_service.jobs.imagine_all(BOB, one)
    assert job.user_id == BOB.user_id and job.prompt == "a red, flat square"
    assert job.params.aspect == "3:2"
    every = prompt_text(described.description, None)
    assert [p.prompt for p in parse_prompts(every, max_steps=50)] == [
        "a red, flat square",
        "red",
        "crimson field",
        "scarlet",
    ]
    # Past the member's limits the whole request is refused (small_service: 2 queued
    # a member, 3 in all): none of the four is admitted.
    with pytest.raises(UserError):
        await small_service.jobs.imagine_all(ALICE, every)
    with pytest.raises(UnknownJob):
        prompt_text(described.description, 5)


async def test_past_the_daily_quota_a_button_is_refused(make_services):
    service = await make_services(started=False, daily_quota=1)
    descriptions = described_by(service, Captions(["a", "b", "c", "d"]))
    described = await descriptions.describe(ALICE, png())
    await service.jobs.imagine_all(BOB, prompt_text(described.description, 1))
    with pytest.raises(QuotaExceeded):
        await service.jobs.imagine_all(BOB, prompt_text(described.description, 2))


async def test_a_flagged_upload_is_blurred_or_grey_where_the_filter_holds(service):
    async def flag_all(images: list) -> list[bool]:
        return [True] * len(images)

    descriptions = Descriptions(
        service.storage, service.admission, Captions(["a", "b", "c", "d"]), flag_all
    )
    described = await descriptions.describe(ALICE, encoded(drawing(), "PNG"))
    assert described.nsfw
    assert described.shown_png("off") == described.image_png  # an NSFW channel
    with Image.open(io.BytesIO(described.shown_png("block"))) as grey:
        assert grey.size == (300, 200) and len(set(grey.getdata())) == 1
    with (
        Image.open(io.BytesIO(described.shown_png("blur"))) as blurred,
        Image.open(io.BytesIO(described.image_png)) as original,
    ):
        assert blurred.size == original.size and blurred.tobytes() != original.tobytes()
    # 🔄 classifies the kept image again: still hidden.
    descriptions.describer = Captions(["e", "f", "g", "h"])
    again = await descriptions.again(BOB, described.description.id)
    assert again.nsfw and again.hidden_in("blur") and not again.hidden_in("off")

    async def all_clean(images: list) -> list[bool]:
        return [False] * len(images)

    clean = await Descriptions(
        service.storage, service.admission, Captions(["a", "b", "c", "d"]), all_clean
    ).describe(ALICE, png())
    assert clean.nsfw is False and clean.shown_png("block") == clean.image_png
    # No classifier could check it (ENGINE=ray): hidden wherever the filter holds.
    unchecked = await described_by(service, Captions(["a", "b", "c", "d"])).describe(ALICE, png())
    assert unchecked.nsfw is None and unchecked.hidden_in("blur")
    assert not unchecked.hidden_in("off")
