"""Tiny random-weight diffusion-transformer pipelines (FLUX.1, SD3, Z-Image), written to
disk.

As ``devtools.tiny`` does for SD and SDXL: nothing is downloaded, tokenizers included.
The CLIP tokenizer is the one ``devtools.tiny`` learns from its built-in text; the T5
tokenizer is a Unigram model over the same words, built in code (transformers 5's
``T5Tokenizer`` takes its vocabulary as pieces and scores); Z-Image's Qwen tokenizer is a
byte-level BPE with no merges (every byte a token) and Qwen's chat markers. The
transformer, the VAE and the text encoders are made from configs as diffusers' own tests
make them (``tests/pipelines/<family>/``), small enough to run a few steps on a CPU in a second, and
saved with ``save_pretrained`` so that they load through the product's real path
(``MODEL_ID=DIR``: ``AutoPipelineForText2Image.from_pretrained``).
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Literal

from devtools.tiny import (
    _CORPUS,
    _load_tokenizer,
    _text_config,
    tiny_vae,
    write_clip_tokenizer,
)

DitFamily = Literal["flux", "sd3", "z-image"]
DIT_FAMILIES: tuple[DitFamily, ...] = ("flux", "sd3", "z-image")

_T5_HIDDEN = 32  # the transformer's joint attention width: T5's model width
_LATENT_CHANNELS = 16  # as the real FLUX.1 and SD3 VAEs (SD3 inpainting asks for 16)
_VAE_CHANNELS = (16, 32)  # a VAE that downsamples 2x


def build_t5_tokenizer():
    """A T5 tokenizer (Unigram, SentencePiece-style pieces) over the built-in words."""
    from transformers import T5Tokenizer

    words = sorted(set(re.findall(r"[a-z]+|[0-9]", _CORPUS.lower())))
    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    pieces += [(f"▁{word}", -1.0 - index / 1000) for index, word in enumerate(words)]
    # Single letters (with and without the word marker): any lowercase word can be spelled.
    pieces += [(f"▁{letter}", -8.0) for letter in "abcdefghijklmnopqrstuvwxyz"]
    pieces += [(letter, -9.0) for letter in "abcdefghijklmnopqrstuvwxyz0123456789"]
    seen: set[str] = set()
    unique = [(p, s) for p, s in pieces if not (p in seen or seen.add(p))]
    return T5Tokenizer(vocab=unique, extra_ids=0, model_max_length=64)


# The chat template Z-Image wraps a prompt in (a user turn, then the assistant's), as Qwen's.
_QWEN_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def build_qwen_tokenizer():
    """A Qwen2 tokenizer: byte-level BPE without merges, Qwen's markers, its chat template."""
    from transformers import Qwen2Tokenizer

    from devtools.tiny import _bytes_to_unicode

    vocab = {char: index for index, char in enumerate(_bytes_to_unicode().values())}
    markers = ["<|im_start|>", "<|im_end|>"]
    for token in ["<|endoftext|>", *markers]:
        vocab[token] = len(vocab)
    tokenizer = Qwen2Tokenizer(vocab=vocab, merges=[], additional_special_tokens=markers)
    tokenizer.chat_template = _QWEN_TEMPLATE
    return tokenizer


def tiny_transformer(family: DitFamily):
    """The tiny pipeline's diffusion transformer of ``family`` (random weights from torch's
    current seed), sized as diffusers' own tests size them."""
    import torch
    from diffusers import FluxTransformer2DModel, SD3Transformer2DModel, ZImageTransformer2DModel

    if family == "flux":
        # Latents are packed in 2x2 patches: 4 channels become 16 transformer inputs.
        return FluxTransformer2DModel(
            patch_size=1,
            in_channels=4 * _LATENT_CHANNELS,
            num_layers=1,
            num_single_layers=1,
            attention_head_dim=16,
            num_attention_heads=2,
            joint_attention_dim=_T5_HIDDEN,
            pooled_projection_dim=32,
            axes_dims_rope=[4, 4, 8],
        )
    if family == "sd3":
        return SD3Transformer2DModel(
            sample_size=32,
            patch_size=1,
            in_channels=_LATENT_CHANNELS,
            num_layers=2,
            attention_head_dim=8,
            num_attention_heads=4,
            caption_projection_dim=32,
            joint_attention_dim=_T5_HIDDEN,
            pooled_projection_dim=64,
            out_channels=_LATENT_CHANNELS,
        )
    if family != "z-image":
        raise ValueError(f"family must be one of {', '.join(DIT_FAMILIES)} (got {family!r})")
    transformer = ZImageTransformer2DModel(
        all_patch_size=(2,),
        all_f_patch_size=(1,),
        in_channels=_LATENT_CHANNELS,
        dim=32,
        n_layers=2,
        n_refiner_layers=1,
        n_heads=2,
        n_kv_heads=2,
        qk_norm=True,
        cap_feat_dim=16,
        rope_theta=256.0,
        axes_dims=[8, 4, 4],
        axes_lens=[256, 32, 32],
    )
    with torch.no_grad():  # made with torch.empty: fixed, so that no NaN comes out
        transformer.x_pad_token.fill_(1.0)
        transformer.cap_pad_token.fill_(1.0)
    return transformer


def _z_image(seed: int):
    """Z-Image: a Qwen3 text encoder and a single-stream transformer (diffusers' test sizes)."""
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, ZImagePipeline
    from transformers import Qwen3Config, Qwen3Model

    tokenizer = build_qwen_tokenizer()
    torch.manual_seed(seed)
    transformer = tiny_transformer("z-image")
    encoder = Qwen3Model(
        Qwen3Config(
            hidden_size=16,
            intermediate_size=16,
            num_hidden_layers=2,
            num_attention_heads=2,
            num_key_value_heads=2,
            head_dim=8,
            vocab_size=len(tokenizer),
            max_position_embeddings=512,
        )
    )
    return ZImagePipeline(
        transformer=transformer,
        vae=_vae(0.1159, 0.3611),  # FLUX.1's VAE constants, as Z-Image uses it
        scheduler=FlowMatchEulerDiscreteScheduler(),
        text_encoder=encoder,
        tokenizer=tokenizer,
    )


def _t5_encoder(vocab_size: int):
    from transformers import T5Config, T5EncoderModel

    config = T5Config(
        vocab_size=vocab_size,
        d_model=_T5_HIDDEN,
        d_ff=37,
        d_kv=8,
        num_layers=2,
        num_heads=4,
        relative_attention_num_buckets=8,
        decoder_start_token_id=0,
        pad_token_id=0,
        eos_token_id=1,
    )
    # eval: T5 has dropout (0.1), which would make the in-memory pipeline draw differently
    # each call (from_pretrained loads in eval mode).
    return T5EncoderModel(config).eval()


def _vae(shift: float, scale: float):
    """The 16-channel VAE of these families, without the quant convolutions (as theirs)."""
    return tiny_vae(
        _VAE_CHANNELS,
        _LATENT_CHANNELS,
        64,
        use_quant_conv=False,
        use_post_quant_conv=False,
        shift_factor=shift,
        scaling_factor=scale,
    )


def build_tiny_dit_pipeline(family: DitFamily = "flux", *, seed: int = 0):
    """A tiny random-weight FLUX.1 or SD3 text-to-image pipeline, in memory."""
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline, StableDiffusion3Pipeline
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    if family not in DIT_FAMILIES:
        raise ValueError(f"family must be one of {', '.join(DIT_FAMILIES)} (got {family!r})")
    if family == "z-image":
        return _z_image(seed)
    with tempfile.TemporaryDirectory(prefix="imaginebot-tok-") as tmp:
        write_clip_tokenizer(Path(tmp))
        clip_tokenizer = _load_tokenizer(Path(tmp))
    t5_tokenizer = build_t5_tokenizer()
    torch.manual_seed(seed)
    t5 = _t5_encoder(len(t5_tokenizer))
    scheduler = FlowMatchEulerDiscreteScheduler()
    if family == "flux":
        transformer = tiny_transformer("flux")
        return FluxPipeline(
            scheduler=scheduler,
            vae=_vae(0.0609, 1.5035),
            text_encoder=CLIPTextModel(_text_config(clip_tokenizer)),  # its pooled output
            tokenizer=clip_tokenizer,
            text_encoder_2=t5,
            tokenizer_2=t5_tokenizer,
            transformer=transformer,
        )
    # SD3: two CLIP encoders (their projected outputs concatenated) and T5.
    clip = CLIPTextModelWithProjection(_text_config(clip_tokenizer, projection_dim=32))
    clip_2 = CLIPTextModelWithProjection(_text_config(clip_tokenizer, projection_dim=32))
    transformer = tiny_transformer("sd3")
    return StableDiffusion3Pipeline(
        scheduler=scheduler,
        vae=_vae(0.0609, 1.5035),
        text_encoder=clip,
        tokenizer=clip_tokenizer,
        text_encoder_2=clip_2,
        tokenizer_2=clip_tokenizer,
        text_encoder_3=t5,
        tokenizer_3=t5_tokenizer,
        transformer=transformer,
    )


def write_tiny_dit_model(directory: Path | str, family: DitFamily = "flux", *, seed: int = 0):
    """Write a tiny FLUX.1 or SD3 pipeline to ``directory`` with ``save_pretrained``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    pipe = build_tiny_dit_pipeline(family, seed=seed)
    pipe.save_pretrained(str(directory), safe_serialization=True)
    return directory
