"""An image prompt's download: refused (``BadImage``, the user's to fix) past 10 MB, as
Discord reports it, as the CDN announces it or as it arrives; when the CDN does not serve
it; past the bot's download timeout. /imagine and the job buttons are registered."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import discord
import pytest
from aiohttp import web

from bot.discord_app import imagine
from bot.discord_app.buttons import JobButton
from bot.discord_app.imagine import download
from core.errors import BadImage
from core.image_prompt import MAX_IMAGE_BYTES, too_big
from tests.bot.discord_app.offline import dynamic_items, make_bot

PNG = b"\x89PNG\r\n\x1a\n" + b"x" * 1000
OVER = MAX_IMAGE_BYTES + 1


class Cdn:
    """A CDN on 127.0.0.1: ``/ok``, ``/gone``, ``/announced`` (too big by its length),
    ``/streamed`` (too big, no length given) and ``/stalled`` (answers when released)."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.url = ""

    async def ok(self, request: web.Request) -> web.Response:
        return web.Response(body=PNG)

    async def gone(self, request: web.Request) -> web.Response:
        return web.Response(status=404)

    async def announced(self, request: web.Request) -> web.Response:
        return web.Response(body=b"x" * OVER)

    async def streamed(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(OVER // (1024 * 1024) + 1):
            await response.write(b"x" * 1024 * 1024)
        await response.write_eof()
        return response

    async def stalled(self, request: web.Request) -> web.Response:
        await self.release.wait()
        return web.Response(body=PNG)


@pytest.fixture
async def cdn() -> AsyncIterator[Cdn]:
    server = Cdn()
    app = web.Application()
    for name in ("ok", "gone", "announced", "streamed", "stalled"):
        app.router.add_get(f"/{name}", getattr(server, name))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    server.url = f"http://127.0.0.1:{port}"
    yield server
    server.release.set()
    await runner.cleanup()


@pytest.fixture
async def bot():
    client = make_bot()
    yield client
    await client.http_session.close()


def attachment(bot, url: str, size: int = len(PNG)) -> discord.Attachment:
    data = {"id": "5", "filename": "a.png", "size": size, "url": url, "proxy_url": url}
    return discord.Attachment(data=data, state=bot._connection)  # type: ignore[arg-type]


async def test_an_image_is_downloaded_whole(bot, cdn) -> None:
    assert await download(bot, attachment(bot, f"{cdn.url}/ok")) == PNG


async def test_a_size_discord_reports_too_big_is_refused_before_any_download(bot) -> None:
    # No server at this address: the refusal comes before any request.
    far = attachment(bot, "http://127.0.0.1:9/never", size=OVER)
    with pytest.raises(BadImage) as refused:
        await download(bot, far)
    assert refused.value.message == too_big(OVER)


@pytest.mark.parametrize("path", ["announced", "streamed"])
async def test_a_body_too_big_is_refused_as_it_comes(bot, cdn, path: str) -> None:
    with pytest.raises(BadImage, match="MB; the most is"):
        await download(bot, attachment(bot, f"{cdn.url}/{path}"))


async def test_a_cdn_that_does_not_serve_it_is_named(bot, cdn) -> None:
    with pytest.raises(BadImage, match=r"Discord answered 404\)\. Attach it again\."):
        await download(bot, attachment(bot, f"{cdn.url}/gone"))
    with pytest.raises(BadImage, match=r"^I could not download the image\. Attach it again\.$"):
        await download(bot, attachment(bot, "http://127.0.0.1:9/closed-port"))


async def test_a_download_past_the_bots_timeout_is_refused(bot, cdn) -> None:
    bot.download_timeout = 0.2  # the bot's own setting; the CDN never answers in time
    with pytest.raises(BadImage, match="took too long"):
        await download(bot, attachment(bot, f"{cdn.url}/stalled"))


def test_setup_adds_imagine_and_the_job_buttons() -> None:
    bot = make_bot()
    imagine.setup(bot)
    assert [command.name for command in bot.tree.get_commands()] == ["imagine"]
    assert dynamic_items(bot) == {JobButton}
