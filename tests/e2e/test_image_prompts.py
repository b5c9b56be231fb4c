"""Image prompts end to end: `/imagine` with an `image` attachment, downloaded by the bot
from the fake's CDN, checked, stored with the job; every bad file answered privately
before any GPU work."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from PIL import Image

from tests.e2e.expect import assert_grid, job_id, refused_privately, wait_result
from tests.e2e.fake_discord import FakeDiscord
from tests.images import drawing, encoded, png_claiming

SHORT = "--steps 2"


def test_png_jpeg_and_webp_prompts_make_grids_from_the_stored_image(
    fake_discord: FakeDiscord, bot_process
) -> None:
    alice = fake_discord.member("alice")
    exif = Image.Exif()
    exif[0x0112] = 6  # shown upright it is portrait: 200 wide, 300 high
    cases = [
        ("house.png", encoded(drawing(), "PNG"), "3:2"),
        ("house.jpg", encoded(drawing(), "JPEG"), "3:2"),
        ("house.webp", encoded(drawing(), "WEBP"), "3:2"),
        ("turned.jpg", encoded(drawing(), "JPEG", exif=exif.tobytes()), "2:3"),
    ]
    for name, data, aspect in cases:
        upload = fake_discord.upload(name, data)
        handle = fake_discord.invoke("imagine", alice, prompt=f"a red house {SHORT}", image=upload)
        grid = wait_result(handle)
        width, height = assert_grid(grid)
        wide, high = (int(side) for side in aspect.split(":"))
        assert (width > height) == (wide > high), (name, width, height)
        number = job_id(grid)
        [(params, recipe)] = bot_process.query(
            "SELECT params, recipe FROM jobs WHERE id = ?", number
        )
        stored = json.loads(params)
        assert stored["aspect"] == aspect, name
        assert json.loads(recipe) == {"kind": "imagine", "image": {"weight": 1.0, "job": None}}
        source = bot_process.data_dir / "images" / str(number) / "source.png"
        with Image.open(source) as kept:
            assert kept.size == (width, height), "kept as fitted to the job's size"
    # --ar: cover-cropped to it; --iw: how closely it is followed.
    upload = fake_discord.upload("house.png", encoded(drawing(), "PNG"))
    handle = fake_discord.invoke(
        "imagine", alice, prompt=f"a red house --ar 1:1 --iw 2 {SHORT}", image=upload
    )
    width, height = assert_grid(wait_result(handle))
    assert width == height


def test_every_bad_image_is_refused_privately_before_any_job(
    fake_discord: FakeDiscord, bot_factory
) -> None:
    fake = fake_discord
    bot = bot_factory()
    alice = fake.member("alice")
    good = encoded(drawing(), "PNG")
    cases = [
        ("huge header", fake.upload("big.png", png_claiming(20000, 20000)), "4096x4096"),
        ("20 MB", fake.upload("big.png", bytes(20 * 1024 * 1024)), "the most is 10 MB"),
        # Discord's size is a claim: what arrives is counted too.
        ("lying size", fake.upload("big.png", bytes(11 * 1024 * 1024), size=1000), "10 MB"),
        ("text named .png", fake.upload("notes.png", b"shopping: eggs, milk\n" * 40), "not a PNG"),
        ("gif", fake.upload("anim.png", encoded(drawing(), "GIF")), "not a PNG, JPEG or WebP"),
    ]
    for name, upload, words in cases:
        jobs, mark = bot.count_jobs(), fake.message_mark()
        handle = fake.invoke("imagine", alice, prompt=f"a house {SHORT}", image=upload)
        assert words in refused_privately(handle, alice).content, name
        assert fake.public_messages_since(mark) == [] and bot.count_jobs() == jobs, name
    # A dead URL (the CDN says 404). A download that stalls past the bot's timeout is
    # tests/bot/discord_app/test_imagine.py's, against a CDN of its own (the product's
    # 10 s are not worth waiting for here).
    fake.fail_next("GET", r"^/attachments/", status=404)
    upload = fake.upload("a.png", good)
    dead = fake.invoke("imagine", alice, prompt=f"a house {SHORT}", image=upload)
    assert "Discord answered 404" in refused_privately(dead, alice).content
    # --iw needs an image.
    no_image = fake.invoke("imagine", alice, prompt=f"a house --iw 1 {SHORT}")
    assert "`--iw`" in refused_privately(no_image, alice).content
    assert bot.count_jobs() == 0, "no GPU work for any of them"


def test_a_banned_member_or_one_at_quota_is_refused_before_any_download(
    fake_discord: FakeDiscord, bot_factory
) -> None:
    fake = fake_discord
    bot = bot_factory()
    alice, bob, mod = fake.member("alice"), fake.member("bob"), fake.member("mod")
    for answer in (
        fake.invoke("admin ban", mod, user=bob, reason="spam"),
        fake.invoke("admin quota", mod, daily=0, user=alice),
    ):
        assert answer.wait_reply(lambda m: bool(m.content), 10).ephemeral
    good = encoded(drawing(), "PNG")

    def downloads(upload) -> int:
        return fake.cdn_requests.count(urlsplit(upload.url).path)

    for member, words in ((bob, "banned"), (alice, "your daily limit is 0")):
        upload = fake.upload("house.png", good)
        handle = fake.invoke("imagine", member, prompt=f"a red house {SHORT}", image=upload)
        assert words in refused_privately(handle, member).content
        assert downloads(upload) == 0, f"{member.name}: refused without a download"
    assert bot.count_jobs() == 0
    # A member in good standing: the same file is downloaded, once.
    upload = fake.upload("house.png", good)
    curator = fake.member("curator")
    assert_grid(
        wait_result(fake.invoke("imagine", curator, prompt=f"a house {SHORT}", image=upload))
    )
    assert downloads(upload) == 1
