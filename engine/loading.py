"""One model built at a time in the process.

diffusers builds a model's modules on the meta device inside accelerate's
``init_empty_weights``, which swaps ``torch.nn.Module.register_parameter`` for the whole
process (not the thread) while it runs. A model built on another thread at that moment
(Florence-2 for /describe, loaded in the background at start, while a worker loads the video
model for a first clip) gets parameters on the meta device and fails with "Cannot copy out
of meta tensor". So every load (pipelines, LoRAs, IP-Adapters, the classifier, the
captioning model) holds ``LOADING``: a load waits for the one in progress (seconds from
disk), and none sees another's patch.
"""

from __future__ import annotations

import threading
from pathlib import Path

LOADING = threading.RLock()  # reentrant: a load may load its parts


def fetched(source: str) -> str:
    """``source`` as a pipeline's ``from_pretrained`` should read it under ``LOADING``: a
    folder as it is; a hub id's pipeline files downloaded first, outside the lock (tens of
    GB for a video model must not hold every other load in the process), then their folder
    in the hub's cache (offline, ``HF_HUB_OFFLINE``, it is found there or the call fails)."""
    if Path(source).expanduser().is_dir():
        return source
    from diffusers import DiffusionPipeline

    return str(DiffusionPipeline.download(source))
