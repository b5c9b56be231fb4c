"""A tiny random-weight Florence-2 (image -> text), written to disk for tests of /describe.

Nothing can be downloaded here, so everything is built from code: a BART-style byte-level
BPE tokenizer learned with the ``tokenizers`` library from a short built-in caption text,
Florence-2's special tokens (``<image>`` and the structural ones the real tokenizer has),
a CLIP image processor set to 64x64 pixels, and a ``Florence2Config`` with a two-stage
DaViT vision tower and a one-layer BART. Saved with ``save_pretrained``, it loads offline
through the same path as the real model: ``Florence2ForConditionalGeneration`` and
``AutoProcessor`` ``.from_pretrained(folder)`` (``DESCRIBE_MODEL=folder``).

Random weights sample tokens almost uniformly, so the model's ``generation_config``
suppresses every token that is not a whole word of the built-in text (byte pieces, word
fragments, special tokens): what it says is random, but it is words. About 0.5 MB on disk;
a caption takes a few hundredths of a second on a CPU. The 1000 ``<loc_N>``
tokens of the real tokenizer are left out: captions never use them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

# The processor's square input and what the vision tower makes of it: strides 4 then 2
# give an 8x8 grid, plus one temporal token.
TINY_DESCRIBE_IMAGE_SIZE = 64
_IMAGE_TOKENS = (TINY_DESCRIBE_IMAGE_SIZE // 8) ** 2 + 1
_HIDDEN = 32

_CORPUS = """
a cat sitting on a red sofa in a sunny room. a dog running on the beach at sunset.
the image shows a small house beside a quiet lake with mountains in the background.
a woman in a blue dress walking through a field of yellow flowers. a city street at
night with neon lights and wet pavement. an old man reading a book under a large tree.
a bowl of fresh fruit on a wooden table near a window. a castle on a green hill under
a cloudy sky. a red car parked in front of a white building. two children playing in
the snow with a brown dog. a sailing boat on calm water at dawn, soft light and mist.
a forest path covered with orange leaves in autumn. a portrait of a young girl with
long dark hair, looking at the camera. a cup of coffee and a notebook on a desk.
a bright kitchen with plants and a round table. a bridge over a river in the evening.
a horse standing in a meadow near a fence. a plate of food with bread and cheese.
the sky is clear and the sun is shining. there are people walking on the sidewalk.
a painting of a garden with roses, trees and a stone fountain. a close view of a bird
on a branch. a lighthouse on the rocks by the sea during a storm. a desert road with
tall cactus plants and distant hills. a cozy bedroom with a lamp, pillows and a rug.
"""

# Florence-2's structural tokens besides the image token (additional special tokens in the
# real tokenizer, dropped when decoding with ``skip_special_tokens``).
FLORENCE_SPECIAL_TOKENS = (
    "<od>",
    "</od>",
    "<ocr>",
    "</ocr>",
    "<cap>",
    "</cap>",
    "<ncap>",
    "</ncap>",
    "<dcap>",
    "</dcap>",
    "<grounding>",
    "</grounding>",
    "<seg>",
    "</seg>",
    "<sep>",
    "<region_cap>",
    "</region_cap>",
    "<proposal>",
    "</proposal>",
    "<poly>",
    "</poly>",
    "<and>",
)

# BART's order: <s> 0, <pad> 1, </s> 2, <unk> 3.
_BART_SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]


def build_bpe() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Learn a byte-level BPE (GPT-2/BART style) from the built-in text: every byte, then
    merges until each word of the text is one token; returns ``(vocab, merges)``."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=4000,  # a ceiling: training stops when every word is whole
        special_tokens=_BART_SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        min_frequency=1,
        show_progress=False,
    )
    tokenizer.train_from_iterator(_CORPUS.split("\n"), trainer)
    model = json.loads(tokenizer.to_str())["model"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
    return dict(model["vocab"]), [(a, b) for a, b in merges]


def build_tokenizer():
    """The tiny BART tokenizer with Florence-2's image token and structural tokens."""
    from transformers import BartTokenizer

    vocab, merges = build_bpe()
    tokenizer = BartTokenizer(
        vocab=vocab, merges=merges, extra_special_tokens={"image_token": "<image>"}
    )
    tokenizer.add_tokens(list(FLORENCE_SPECIAL_TOKENS), special_tokens=True)
    return tokenizer


def spoken_token_ids(tokenizer) -> list[int]:
    """Ids of the tokens a caption is made of: whole words of the built-in text (with their
    leading space), ``.``, ``,`` and the end token."""
    words = set(re.findall(r"[a-z]+", _CORPUS))
    spoken = [
        index
        for token, index in tokenizer.get_vocab().items()
        if (token.startswith("Ġ") and token[1:] in words) or token in {".", ","}
    ]
    return sorted({*spoken, tokenizer.eos_token_id})


def build_processor(tokenizer):
    """Florence-2's processor over the tiny tokenizer and a 64x64 CLIP image processor."""
    from transformers import CLIPImageProcessor, Florence2Processor

    side = TINY_DESCRIBE_IMAGE_SIZE
    image_processor = CLIPImageProcessor(
        size={"height": side, "width": side},
        crop_size={"height": side, "width": side},
        do_center_crop=False,
        resample=3,  # bicubic, as Florence-2's own
        image_mean=[0.485, 0.456, 0.406],
        image_std=[0.229, 0.224, 0.225],
    )
    image_processor.image_seq_length = _IMAGE_TOKENS
    return Florence2Processor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        post_processor_config={"pure_text": {}},
    )


def build_model(tokenizer, *, seed: int = 0):
    """A random-weight ``Florence2ForConditionalGeneration`` sized for the tiny tokenizer."""
    import torch
    from transformers import (
        Florence2Config,
        Florence2ForConditionalGeneration,
        GenerationConfig,
    )

    vision_config = {
        "depths": [1, 1],
        "patch_size": [7, 3],
        "patch_stride": [4, 2],
        "patch_padding": [3, 1],
        "patch_prenorm": [False, True],
        "embed_dim": [16, _HIDDEN],
        "num_heads": [1, 2],
        "num_groups": [1, 2],
        "window_size": 4,
        "drop_path_rate": 0.0,
        "projection_dim": _HIDDEN,
        "max_position_embeddings": TINY_DESCRIBE_IMAGE_SIZE // 8,
        "max_temporal_embeddings": 4,
    }
    special = {"bos_token_id": 0, "pad_token_id": 1, "eos_token_id": 2}
    text_config = {
        "model_type": "bart",
        "vocab_size": len(tokenizer),
        "d_model": _HIDDEN,
        "encoder_layers": 1,
        "decoder_layers": 1,
        "encoder_attention_heads": 2,
        "decoder_attention_heads": 2,
        "encoder_ffn_dim": 64,
        "decoder_ffn_dim": 64,
        "max_position_embeddings": 256,
        "decoder_start_token_id": 2,
        "forced_eos_token_id": 2,
        **special,
    }
    torch.manual_seed(seed)
    config = Florence2Config(
        text_config=text_config,
        vision_config=vision_config,
        image_token_id=tokenizer.image_token_id,
    )
    model = Florence2ForConditionalGeneration(config).eval()
    # The forced first token (<s>) cannot be suppressed; decoding drops it anyway.
    spoken = {*spoken_token_ids(tokenizer), tokenizer.bos_token_id}
    model.generation_config = GenerationConfig(
        decoder_start_token_id=2,
        forced_bos_token_id=0,
        suppress_tokens=[i for i in range(len(tokenizer)) if i not in spoken],
        # Random weights rarely pick the end token: past ten tokens it grows likelier, so
        # the tiny captions run a few dozen words, like real ones, and tests stay quick.
        exponential_decay_length_penalty=(10, 1.2),
        **special,
    )
    return model


def write_tiny_describe_model(folder: Path | str, *, seed: int = 0) -> Path:
    """Write the tiny Florence-2 and its processor to ``folder`` (made if need be)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer()
    build_processor(tokenizer).save_pretrained(str(folder))
    build_model(tokenizer, seed=seed).save_pretrained(str(folder), safe_serialization=True)
    return folder
