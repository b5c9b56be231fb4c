"""What a failed pipeline call was (engine/faults.py): out of memory, a lost device, or a
job's own error."""

from __future__ import annotations

import pytest
import torch

from engine.faults import WorkerLost, is_device_lost, is_out_of_memory

OUT_OF_MEMORY = [
    torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
    RuntimeError("CUDA out of memory. Tried to allocate 20.00 MiB"),
    RuntimeError("MPS backend out of memory (MPS allocated: 9.00 GB)"),
]
DEVICE_LOST = [
    WorkerLost("the replica died"),
    RuntimeError("CUDA error: an illegal memory access was encountered"),
    RuntimeError("CUDA error: device-side assert triggered"),
    RuntimeError("unspecified launch failure"),
    RuntimeError("No CUDA GPUs are available"),
    RuntimeError("Uncorrectable ECC error encountered"),
]
THE_JOBS_OWN = [
    ValueError("height must be divisible by 8"),
    RuntimeError("Expected all tensors to be on the same device"),
    KeyError("unet"),
]


@pytest.mark.parametrize("error", OUT_OF_MEMORY)
def test_out_of_memory_is_recognised_and_is_no_lost_device(error):
    assert is_out_of_memory(error)
    assert not is_device_lost(error)  # the worker retries smaller instead


@pytest.mark.parametrize("error", DEVICE_LOST)
def test_a_lost_device_is_recognised(error):
    assert is_device_lost(error)
    assert not is_out_of_memory(error)


@pytest.mark.parametrize("error", THE_JOBS_OWN)
def test_a_jobs_own_error_is_neither(error):
    assert not is_out_of_memory(error)
    assert not is_device_lost(error)


def test_an_accelerator_error_is_a_lost_device():
    accelerator_error = getattr(torch, "AcceleratorError", None)
    if accelerator_error is None:
        pytest.skip("torch before 2.8 has no AcceleratorError")
    assert is_device_lost(accelerator_error("something the driver said"))
