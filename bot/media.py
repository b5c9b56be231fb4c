"""Downloading ``--sref``/``--oref`` links: only from ``MEDIA_HOSTS`` (checked again here,
whatever the caller checked), bounded in size and time, no redirects (a CDN link that
redirects elsewhere is refused, not followed)."""

from __future__ import annotations

import aiohttp

from core.errors import BadImage
from core.image_prompt import MAX_IMAGE_BYTES, too_big
from core.references import check_host

CHUNK = 64 * 1024
TIMEOUT = 10.0  # seconds for one download, all of it


async def read_image(reply: aiohttp.ClientResponse, who: str, again: str) -> bytes:
    """An image download's bytes: ``BadImage`` for a status other than 200 (``who``
    answered it; ``again`` says what to do) or past ``MAX_IMAGE_BYTES`` (what the server
    claims, then what arrives)."""
    if reply.status != 200:
        raise BadImage(f"I could not download the image ({who} answered {reply.status}). {again}")
    if (reply.content_length or 0) > MAX_IMAGE_BYTES:
        raise BadImage(too_big(reply.content_length or 0))
    data = bytearray()
    async for chunk in reply.content.iter_chunked(CHUNK):
        data += chunk
        if len(data) > MAX_IMAGE_BYTES:
            raise BadImage(too_big(len(data)))
    return bytes(data)


class MediaFetcher:
    """The bot's downloader of image links (its own HTTP session, opened on first use)."""

    def __init__(self, hosts: frozenset[str], timeout: float = TIMEOUT) -> None:
        self.hosts = hosts
        self.timeout = timeout
        self.requests = 0  # downloads started (the tests count them)
        self._session: aiohttp.ClientSession | None = None

    async def __call__(self, url: str) -> bytes:
        """The bytes at ``url``: ``BadImage`` saying why not."""
        check_host(url, self.hosts, "--sref")  # whatever the caller checked: the same rule
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        self.requests += 1
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        try:
            async with self._session.get(url, timeout=timeout, allow_redirects=False) as reply:
                return await read_image(reply, "the server", "Check the link.")
        except TimeoutError:
            raise BadImage("Downloading the image took too long. Try again.") from None
        except aiohttp.ClientError:
            raise BadImage("I could not download the image. Check the link.") from None

    async def close(self) -> None:
        """Close the session (at the bot's stop)."""
        if self._session is not None:
            await self._session.close()
            self._session = None
