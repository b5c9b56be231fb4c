"""The captioning model behind /describe, as the core asks for it (``core.describe.
Describer``): ``DESCRIBE_MODEL`` on a thread of its own (``engine.describe``), its errors
turned into answers a member can read."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from PIL import Image

from bot.settings import Settings
from core.errors import QueueFull, UserError

logger = logging.getLogger(__name__)

FAILED = "Describing the image failed on my side. Try again in a moment."

UNAVAILABLE = (
    "Describing images is not available right now: the captioning model did not load "
    "(the bot's log says why)."
)


class Describing:
    """``engine.describe.DescribeService`` with the core's errors."""

    def __init__(self, service: object) -> None:
        self.service = service

    async def describe(self, image: Image.Image, seed: int) -> list[str]:
        """Four raw texts about ``image``; ``QueueFull`` when too many wait, ``UserError``
        when the model could not load."""
        from engine.describe import DescribeBusy, DescribeUnavailable

        try:
            return await self.service.describe(image, seed)  # type: ignore[attr-defined]
        except DescribeBusy as exc:
            raise QueueFull(str(exc)) from None
        except DescribeUnavailable:
            raise UserError(UNAVAILABLE) from None
        except Exception:  # out of memory beside the image model, a generate() error
            logger.exception("describing an image failed")
            raise UserError(FAILED) from None

    def has_room(self) -> bool:
        """Whether another image may wait for the model (checked before any download)."""
        service = self.service
        return service.pending < service.max_pending  # type: ignore[attr-defined]


@contextlib.asynccontextmanager
async def open_describer(settings: Settings, *, warm: bool) -> AsyncIterator[Describing | None]:
    """The describer of ``DESCRIBE_MODEL`` (None when it is ``off``), its thread started
    (with ``warm``, the bot's: the model loading on it in the background at once; else on
    first use, as the CLI needs it); stopped at the end."""
    from engine.describe import Describer, DescribeService

    source = settings.describe_model.strip()
    if source.lower() == "off":
        yield None
        return
    several = "," in settings.device or settings.device == "cuda:all"
    device = "auto" if several else settings.device  # beside the first GPU's model
    service = DescribeService(Describer(source, device), warm=warm)
    await service.start()
    try:
        yield Describing(service)
    finally:
        await service.stop()
