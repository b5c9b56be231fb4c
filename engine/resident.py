"""The models one worker can run, by alias, and those it keeps in memory.

A worker serves every model the bot offers (``MODELS``, and ``MODEL_ID`` as the default).
It keeps models resident on its device up to a memory budget (``MODEL_MEMORY_GB``); the
least recently used model goes out first when another one must come in. On an
accelerator a model that goes out is moved to CPU memory (coming back is a copy, not a
load from disk); on the CPU, where the budget is RAM itself, it is dropped and loaded
again from disk when next needed. Every swap is logged with what it cost.

All of it runs on the worker's thread, the only one that touches its torch; the
scheduler reads ``on_device`` (a snapshot) to hand a batch to a worker that holds its
model.
"""

from __future__ import annotations

import gc
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.faults import is_out_of_memory
from engine.model import LoadedModel, ModelSummary, model_bytes

if TYPE_CHECKING:
    from engine.clip_jobs import VideoOffer
    from engine.loras import LoraFile
    from engine.types import Reference

logger = logging.getLogger(__name__)

Loader = Callable[[], LoadedModel]  # loads one model on the worker's device
GB = 1024**3
RETRY_LOAD_S = 600  # a failed load is tried again after ten minutes, not for every job


class ModelLoadFailed(RuntimeError):
    """A model's load failed a short while ago; it is not tried again yet."""


@dataclass(frozen=True, slots=True)
class Swap:
    """One model brought onto the device: from where, in how long; and those sent out."""

    alias: str
    source: str  # "disk" or "cpu memory"
    seconds: float
    out: tuple[str, ...]


class Resident:
    """The models a worker can run (``loaders``, by alias; ``default``: the one a job
    without a model runs), those loaded already (``loaded``: the start-up's), and the
    bytes it may keep on its device (``budget``; None: no limit). ``sizes``: the bytes of
    models measured before they are loaded here, so room is made before loading;
    ``ip_adapters``: the IP-Adapter source of each family that has one (image references)."""

    def __init__(
        self,
        loaders: Mapping[str, Loader],
        *,
        default: str,
        loaded: Mapping[str, LoadedModel] | None = None,
        budget: int | None = None,
        sizes: Mapping[str, int] | None = None,
        loras: Mapping[str, LoraFile] | None = None,
        ip_adapters: Mapping[str, str] | None = None,
    ) -> None:
        if default not in loaders and default not in (loaded or {}):
            raise ValueError(f"the default model {default!r} is not one of the models")
        self.loaders = dict(loaders)
        self.default = default
        self.budget = budget
        self.sizes = dict(sizes or {})
        self.loras = dict(loras or {})  # LORA_DIR's, by name
        self.ip_adapters = dict(ip_adapters or {})  # family -> hub id or folder
        self.video: VideoOffer | None = None  # VIDEO_MODEL's: its loader is among loaders
        self._on_device: OrderedDict[str, LoadedModel] = OrderedDict()
        self._offloaded: dict[str, LoadedModel] = {}
        self.swaps: deque[Swap] = deque(maxlen=100)  # the last ones, for tests and logs
        self.swap_count = 0  # every one, the loads at start included (bot.metrics)
        # Loads that failed (alias: when, the error): not tried again for RETRY_LOAD_S, so
        # that a model that cannot load (a download cut off, a file gone) fails each job
        # at once with the reason, instead of holding the worker for another try per job.
        self.failed: dict[str, tuple[float, str]] = {}
        self.clock: Callable[[], float] = time.monotonic
        # What the core reads of each model once loaded here, kept when it goes out.
        self.known: dict[str, ModelSummary] = {}
        for alias, model in (loaded or {}).items():
            self.sizes.setdefault(alias, model_bytes(model))
            self._on_device[alias] = model
            self.known[alias] = ModelSummary.of(model, self.sizes[alias])
        self.on_device: frozenset[str] = frozenset(self._on_device)

    @classmethod
    def single(cls, model: LoadedModel, alias: str = "default") -> Resident:
        """One loaded model and nothing else (no budget: it stays)."""
        return cls({}, default=alias, loaded={alias: model})

    def wrap(self, transform: Callable[[LoadedModel], LoadedModel]) -> None:
        """Pass every model, loaded or loaded later, through ``transform`` (a test's
        gate on its pipelines; call before the worker runs)."""
        for held in (self._on_device, self._offloaded):
            for alias, model in held.items():
                held[alias] = transform(model)
        self.loaders = {
            alias: (lambda load=load: transform(load())) for alias, load in self.loaders.items()
        }

    @property
    def aliases(self) -> list[str]:
        """Every model this worker can run."""
        return list(dict.fromkeys([*self._on_device, *self._offloaded, *self.loaders]))

    @property
    def first(self) -> LoadedModel:
        """The default model when it is on the device, else any model that is (for what
        reads one model: the benchmark's bare calls)."""
        return self._on_device.get(self.default) or next(iter(self._on_device.values()))

    def summaries(self) -> dict[str, ModelSummary]:
        """What the core reads of each model loaded here once (the default first)."""
        first = {self.default: self.known[self.default]} if self.default in self.known else {}
        return {**first, **self.known}

    def get(self, alias: str) -> LoadedModel:
        """The model ``alias`` on the device (worker thread): brought in when it is not,
        the least recently used ones sent out first while the budget would be passed."""
        alias = alias or self.default
        model = self._on_device.get(alias)
        if model is not None:
            self._on_device.move_to_end(alias)
            return model
        if alias not in self._offloaded and alias not in self.loaders:
            raise KeyError(f"no model {alias!r} on this worker (it offers {self.aliases})")
        started = time.perf_counter()
        out: list[str] = []
        try:
            if alias in self._offloaded:
                model, source = self._offloaded[alias], "cpu memory"
            else:
                # Loaded into CPU memory first (the loaders do not place it), measured,
                # then moved once there is room: never two models' worth on the device.
                model, source = self._load(alias), "disk"
                self.sizes[alias] = model_bytes(model)
                self.known[alias] = ModelSummary.of(model, self.sizes[alias])
            out = self._make_room(self.sizes[alias], keep=alias)
            try:
                _move(model, model.device)
            except BaseException:
                _move(model, "cpu")  # whole in CPU memory again (an offloaded one stays)
                raise
            self._offloaded.pop(alias, None)
            self._on_device[alias] = model
        finally:
            self.on_device = frozenset(self._on_device)  # whatever went out, it is told
        swap = Swap(alias, source, time.perf_counter() - started, tuple(out))
        self.swaps.append(swap)
        self.swap_count += 1
        logger.info(
            "model swap on %s: %s in from %s (%.2f GB) in %.2f s%s",
            model.device,
            alias,
            source,
            self.sizes[alias] / GB,
            swap.seconds,
            f"; out: {', '.join(out)}" if out else "",
        )
        return model

    def use_loras(self, model: LoadedModel, uses: tuple[tuple[str, float], ...]) -> None:
        """Set the LoRAs (name, weight) of the next call on ``model`` (worker thread):
        each loaded into it once, then only weighted; none turns every one off."""
        if uses == model.active_loras:
            return  # as the last call: nothing to switch (and none at all without LoRAs)
        from engine.loras import use_loras

        try:
            files = [(self.loras[name], weight) for name, weight in uses]
        except KeyError as exc:
            raise KeyError(f"no LoRA {exc.args[0]!r} in LORA_DIR") from None
        model.active_loras = None  # until they are all set
        use_loras(model.text2img, files, model.adapters)
        model.active_loras = uses

    def use_references(
        self, model: LoadedModel, references: tuple[Reference, ...]
    ) -> dict[str, Any]:
        """Switch ``model``'s IP-Adapters for its next call (worker thread): loaded once,
        on with the references' scales, off without any; the call's pipeline arguments."""
        from engine.references import use_references

        first = model.ip_adapter is None
        arguments = use_references(model, references, self.ip_adapters)
        alias = next((a for a, held in self._on_device.items() if held is model), None)
        if first and model.ip_adapter is not None and alias is not None:
            # The adapters and their image encoder count against the budget from now on.
            before = self.sizes.get(alias, 0)
            self.sizes[alias] = model_bytes(model)
            self.known[alias] = ModelSummary.of(model, self.sizes[alias])
            logger.info(
                "model %s: IP-Adapters loaded (+%.2f GB)", alias, (self.sizes[alias] - before) / GB
            )
            self._make_room(0, keep=alias)
        return arguments

    def _load(self, alias: str) -> LoadedModel:
        """``alias``'s loader, unless it failed less than ``RETRY_LOAD_S`` ago: then
        ``ModelLoadFailed`` with that failure, at once. A failure is ``ModelLoadFailed``
        too (its cause the loader's error), so that a job says its model could not load
        (a missing file is not its source image missing)."""
        now = self.clock()
        failed = self.failed.get(alias)
        if failed is not None and now - failed[0] < RETRY_LOAD_S:
            raise ModelLoadFailed(
                f"model {alias!r} could not be loaded {now - failed[0]:.0f} s ago ({failed[1]}); "
                f"it is tried again {RETRY_LOAD_S // 60} minutes after that"
            )
        try:
            model = self.loaders[alias]()
        except Exception as exc:
            if is_out_of_memory(exc):  # room may come: not remembered, not wrapped
                raise
            first = (str(exc).strip().splitlines() or [""])[0]
            self.failed[alias] = (now, f"{type(exc).__name__}: {first}"[:300])
            raise ModelLoadFailed(
                f"model {alias!r} could not be loaded: {self.failed[alias][1]}"
            ) from exc
        self.failed.pop(alias, None)
        return model

    def _make_room(self, needed: int, keep: str = "") -> list[str]:
        """Send models out, least recently used first, until ``needed`` more bytes fit
        the budget (never ``keep``, the one coming in); the aliases sent out."""
        out: list[str] = []
        if self.budget is None:
            return out
        while self._used() + needed > self.budget:
            victims = [alias for alias in self._on_device if alias != keep]
            if not victims:
                if keep:  # alone over the budget: it runs, and says so
                    logger.warning(
                        "model %s alone (%.2f GB) is over MODEL_MEMORY_GB (%.2f GB)",
                        keep,
                        self.sizes.get(keep, 0) / GB,
                        self.budget / GB,
                    )
                break
            alias = victims[0]
            self._send_out(alias)
            out.append(alias)
        return out

    def _send_out(self, alias: str) -> None:
        model = self._on_device.pop(alias)
        size = self.sizes.get(alias, 0)
        room = available_ram()
        if not model.device.startswith(("cuda", "mps")):
            pass  # on the CPU the budget is RAM itself: dropped, loaded again from disk
        elif room is not None and room < size + max(size // 10, 2 * GB):
            logger.info("model %s dropped: CPU memory has no room to keep it", alias)
        else:
            try:
                _move(model, "cpu")
            except (MemoryError, RuntimeError) as exc:  # no room in RAM either: dropped
                logger.warning("model %s could not be kept in CPU memory (%s)", alias, exc)
            else:
                self._offloaded[alias] = model
                return
        del model
        gc.collect()
        _free_device_memory()

    def _used(self) -> int:
        return sum(self.sizes.get(alias, 0) for alias in self._on_device)


def available_ram() -> int | None:
    """Bytes of RAM the system can still give (Linux's MemAvailable), None when unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def default_budget(device: str) -> int:
    """``MODEL_MEMORY_GB`` when it is not set: what the device has, less a margin for a
    call's activations (a fifth, at least 2 GB); RAM on the CPU (three quarters)."""
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        total = torch.cuda.get_device_properties(torch.device(device)).total_memory
        return int(total - max(total // 5, 2 * GB))
    import os

    pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    return int(pages * page_size * 3 // 4)


def _move(model: LoadedModel, device: str) -> None:
    """Move a model's weights (the three pipelines share them) to ``device``."""
    model.text2img.to(device)
    adapters = model.ip_adapter  # IP-Adapters switched off are outside the UNet: theirs too
    if adapters is not None and getattr(adapters, "on", True) is False:
        for module in (*adapters.processors.values(), adapters.projection):
            module.to(device)
    if device == "cpu":
        _free_device_memory()


def _free_device_memory() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
