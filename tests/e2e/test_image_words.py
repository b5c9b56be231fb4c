"""Images as words, end to end through the real bot and the fake Discord: /describe with an
attachment and the Describe menu on a grid (the tiny Florence-2 of DESCRIBE_MODEL), its
buttons pressed by others and by a banned member, /blend of two and of five images, and
--sref/--oref through the tiny IP-Adapter of IP_ADAPTER_SD (bot_process.py sets both),
links only from MEDIA_HOSTS (the fake's CDN counts every request)."""

from __future__ import annotations

import json
import re

from tests.e2e.expect import (
    assert_grid,
    job_id,
    press,
    refused_privately,
    wait_result,
)
from tests.e2e.fake_discord import FakeDiscord, Interaction, StoredMessage
from tests.images import drawing, encoded

SHORT = "--steps 2"
ANSWER_ROWS = [["1", "2", "3", "4"], ["Imagine all", "🔄"]]
_DESCRIPTION = re.compile(r"description (\d+)")
_NUMBERED = re.compile(r"^\*\*([1-4])\.\*\* (.+)$", re.MULTILINE)


def described(fake: FakeDiscord, handle: Interaction, timeout: float = 120) -> StoredMessage:
    """The public answer of /describe or the menu: the response itself, or (past the
    answer deadline, the interaction held privately) a message posted in the channel."""
    ack = handle.wait_ack()
    assert ack.latency < 3.0
    if ack.type == 4:
        assert not ack.ephemeral, "a description is public (unless refused)"
        return handle.wait_original(lambda m: bool(_DESCRIPTION.search(m.content)), timeout)
    assert ack.type == 5 and ack.ephemeral, f"held privately, or answered: {ack}"
    note = handle.wait_reply(lambda m: "Described" in m.content, timeout)
    assert note.ephemeral
    message_id = int(note.content.rsplit("/", 1)[-1])
    return fake.message(message_id)


def prompts_of(message: StoredMessage) -> list[str]:
    """The numbered prompts as shown (escapes dropped, as a reader sees them)."""
    return [text.replace("\\", "") for _, text in _NUMBERED.findall(message.content)]


def test_describe_an_upload_then_its_buttons_for_others_and_for_a_banned_member(
    fake_discord: FakeDiscord, bot_factory
) -> None:
    fake = fake_discord
    bot = bot_factory()
    alice, bob, mod = fake.member("alice"), fake.member("bob"), fake.member("mod")
    upload = fake.upload("house.png", encoded(drawing(), "PNG"))
    answer = described(fake, fake.invoke("describe", alice, image=upload))
    assert answer.rows == ANSWER_ROWS
    assert [a.filename for a in answer.attachments] == ["described.png"]
    prompts = prompts_of(answer)
    assert len(prompts) == 4 and len(set(prompts)) == 4
    for prompt in prompts:
        assert prompt.endswith("--ar 3:2") and len(prompt) <= 320
        assert "@" not in prompt and "http" not in prompt and "*" not in prompt
    number = int(_DESCRIPTION.search(answer.content).group(1))
    [(stored,)] = bot.query("SELECT prompts FROM descriptions WHERE id = ?", number)
    assert len(json.loads(stored)) == 4
    # Bob presses 2: a job of his, with that prompt, admitted like /imagine.
    grid = wait_result(press(fake, answer, "2", bob))
    [(user, prompt, params)] = bot.query(
        "SELECT user_id, prompt, params FROM jobs WHERE id = ?", job_id(grid)
    )
    chosen = json.loads(stored)[1]
    assert user == bob.id and prompt == chosen.rsplit(" --ar ", 1)[0]
    assert json.loads(params)["aspect"] == "3:2"
    # 🔄: four new ones in the same message.
    fake.press(answer, "🔄", bob).wait_ack()
    renewed = fake.wait_for_message(
        lambda m: m.id == answer.id and prompts_of(m) != prompts and len(prompts_of(m)) >= 1
    )
    assert renewed.rows == ANSWER_ROWS
    # A banned member's press is refused privately; nothing starts.
    fake.invoke("admin ban", mod, user=alice, reason="spam").wait_ack()
    jobs = bot.count_jobs()
    refusal = refused_privately(fake.press(answer, "1", alice), alice)
    assert "banned" in refusal.content and bot.count_jobs() == jobs


def test_the_describe_menu_on_a_grid_and_imagine_all(
    fake_discord: FakeDiscord, bot_process
) -> None:
    fake = fake_discord
    owner = fake.member("owner")  # no quota: the four jobs of Imagine all fit
    grid = wait_result(fake.invoke("imagine", owner, prompt=f"a lighthouse {SHORT}"))
    answer = described(fake, fake.message_command("Describe", owner, grid))
    assert answer.rows == ANSWER_ROWS and len(prompts_of(answer)) >= 1
    assert all(p.endswith("--ar 1:1") for p in prompts_of(answer))
    first = wait_result(press(fake, answer, "Imagine all", owner))
    number = job_id(first)
    rows = bot_process.query(
        "SELECT prompt FROM jobs WHERE id BETWEEN ? AND ? ORDER BY id", number, number + 3
    )
    shown = [p.rsplit(" --ar ", 1)[0] for p in prompts_of(answer)]
    assert [prompt for (prompt,) in rows][: len(shown)] == shown
    # A message without an image: refused privately.
    text_only = fake.invoke("describe", owner)
    assert "Give an image" in refused_privately(text_only, owner).content


def test_blend_two_and_five_images(fake_discord: FakeDiscord, bot_process) -> None:
    fake = fake_discord
    owner = fake.member("owner")
    uploads = [
        fake.upload(f"d{n}.png", encoded(drawing((200 + 20 * n, 200)), "PNG")) for n in range(5)
    ]
    two = wait_result(fake.invoke("blend", owner, image1=uploads[0], image2=uploads[1]))
    width, height = assert_grid(two)
    assert width == height and "Blend of 2 images" in two.content
    five = wait_result(
        fake.invoke(
            "blend",
            owner,
            image1=uploads[0],
            image2=uploads[1],
            image3=uploads[2],
            image4=uploads[3],
            image5=uploads[4],
            dimensions="landscape",
        )
    )
    width, height = assert_grid(five)
    assert width > height and "Blend of 5 images" in five.content
    [(recipe, params)] = bot_process.query(
        "SELECT recipe, params FROM jobs WHERE id = ?", job_id(five)
    )
    assert json.loads(recipe) == {"kind": "blend", "images": 5}
    assert [ref[0] for ref in json.loads(params)["references"]] == ["blend"] * 5


def test_sref_with_a_weight_and_chaos_and_links_only_from_the_cdn(
    fake_discord: FakeDiscord, bot_process
) -> None:
    fake = fake_discord
    owner = fake.member("owner")
    source = wait_result(fake.invoke("imagine", owner, prompt=f"a red sun {SHORT}"))
    number = job_id(source)
    styled = wait_result(
        fake.invoke(
            "imagine",
            owner,
            prompt=f"a harbour --sref {number}:1 --sw 500 --chaos 50 {SHORT}",
        )
    )
    assert_grid(styled)
    assert "style of 1 image(s) (--sw 500)" in styled.content and "chaos 50" in styled.content
    [(params,)] = bot_process.query("SELECT params FROM jobs WHERE id = ?", job_id(styled))
    stored = json.loads(params)
    assert stored["references"] == [["style", None, 1]] and stored["style_weight"] == 500
    # A link to another host: refused without a request; the fake's CDN: fetched once.
    requests = len(fake.cdn_requests)
    refused = fake.invoke(
        "imagine", owner, prompt=f"a harbour --oref https://elsewhere.example/cat.png {SHORT}"
    )
    assert "only fetch images from Discord" in refused_privately(refused, owner).content
    assert len(fake.cdn_requests) == requests
    upload = fake.upload("cat.png", encoded(drawing(), "PNG"))
    linked = wait_result(
        fake.invoke("imagine", owner, prompt=f"a harbour --oref {upload.url} --ow 300 {SHORT}")
    )
    assert "omni reference (--ow 300)" in linked.content
    assert len(fake.cdn_requests) == requests + 1
