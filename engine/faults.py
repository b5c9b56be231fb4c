"""When a pipeline call fails: out of memory (the worker retries smaller), a job's own
error (that job fails), or a lost device (the worker is retired and its batch goes back to
the queue, for another worker)."""

from __future__ import annotations

from dataclasses import dataclass


class WorkerLost(Exception):
    """The worker's device (or the worker itself) is gone: it runs nothing more."""


@dataclass(frozen=True, slots=True)
class Returned:
    """A batch the worker gives back: its jobs that have no outcome yet go back to the
    queue (once each when the batch had started: ``started``). ``retired``: the worker
    is lost and takes no more work."""

    error: BaseException
    started: bool
    retired: bool


def is_out_of_memory(exc: BaseException) -> bool:
    """True when ``exc`` says the device ran out of memory (the one test of it: the
    worker retries smaller on it, the runner tells the job's owner so)."""
    import torch

    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower()


# What CUDA (and the driver) say when a device can no longer run anything: the context
# is gone, and every later call on it fails the same way. Not out-of-memory, which the
# worker recovers from.
_DEVICE_LOST = (
    "cuda error",
    "device-side assert",
    "illegal memory access",
    "unspecified launch failure",
    "device lost",
    "gpu is lost",
    "no cuda gpus are available",
    "cuda driver",
    "ecc error",
)


def is_device_lost(exc: BaseException) -> bool:
    """True when ``exc`` says the worker's device is gone (not a job's own error)."""
    import torch

    if isinstance(exc, WorkerLost):
        return True
    if is_out_of_memory(exc):
        return False
    accelerator_error = getattr(torch, "AcceleratorError", None)  # CUDA errors, torch 2.8+
    if accelerator_error is not None and isinstance(exc, accelerator_error):
        return True
    message = str(exc).lower()
    return any(marker in message for marker in _DEVICE_LOST)


def free_memory() -> None:
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
