"""The NSFW output classifier: a Hugging Face image-classification model, loaded once,
run by the NSFW step (``engine.nsfw_step``) on a thread of its own, after the worker."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from engine.loading import LOADING

logger = logging.getLogger(__name__)

_NSFW_LABELS = ("nsfw", "porn", "hentai", "sexy", "explicit", "nude", "unsafe")


@dataclass
class NsfwClassifier:
    """Scores images; ``flags`` says which reach ``threshold``."""

    model: Any
    processor: Any
    nsfw_ids: list[int]
    threshold: float
    device: str

    @classmethod
    def load(cls, model_id: str, device: str = "cpu", threshold: float = 0.5) -> NsfwClassifier:
        """Load a classifier (hub id or local folder) whose labels name NSFW classes."""
        from transformers import AutoImageProcessor, AutoModelForImageClassification

        with LOADING:  # never beside another thread's load (engine.loading)
            processor = AutoImageProcessor.from_pretrained(model_id)
            model = AutoModelForImageClassification.from_pretrained(model_id)
        model = model.to(device).eval()
        labels = {int(i): str(label) for i, label in model.config.id2label.items()}
        nsfw_ids = [i for i, label in labels.items() if label.lower() in _NSFW_LABELS]
        if not nsfw_ids:
            raise ValueError(f"no NSFW class among its labels {sorted(labels.values())}")
        logger.info("NSFW classifier %s: classes %s", model_id, [labels[i] for i in nsfw_ids])
        return cls(model, processor, nsfw_ids, threshold, device)

    def scores(self, images: list) -> list[float]:
        """The probability of the NSFW classes for each image (on one thread at a time)."""
        import torch

        inputs = self.processor(
            images=[image.convert("RGB") for image in images], return_tensors="pt"
        )
        with torch.inference_mode():
            logits = self.model(**{k: v.to(self.device) for k, v in inputs.items()}).logits
        probabilities = logits.float().softmax(dim=-1)[:, self.nsfw_ids].sum(dim=-1)
        return [float(p) for p in probabilities.cpu()]

    def flags(self, images: list) -> list[bool]:
        """Which images are NSFW."""
        return [score >= self.threshold for score in self.scores(images)]
