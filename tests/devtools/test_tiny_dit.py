"""Tiny FLUX.1, SD3 and Z-Image pipelines (devtools/tiny_dit.py): written by ``imaginebot
tiny-model --family flux|sd3|z-image``, loaded back through the product's own loading code, and
each of text-to-image, image-to-image and inpainting drawn from the loaded components."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from devtools.tiny_dit import build_t5_tokenizer


def test_the_t5_tokenizer_written_from_code_spells_any_word():
    tokenizer = build_t5_tokenizer()
    known = tokenizer("a fox in the snow")["input_ids"]
    assert known[-1] == tokenizer.eos_token_id and tokenizer.unk_token_id not in known
    assert len(known) == 6, "a word of the built-in text is one piece"
    spelled = tokenizer("zebra")["input_ids"]
    assert tokenizer.unk_token_id not in spelled and len(spelled) > 2, "others, letter by letter"
    assert tokenizer.decode(known, skip_special_tokens=True) == "a fox in the snow"


@pytest.mark.parametrize(
    ("family", "classes"),
    [
        ("flux", ("FluxPipeline", "FluxImg2ImgPipeline", "FluxInpaintPipeline")),
        (
            "sd3",
            (
                "StableDiffusion3Pipeline",
                "StableDiffusion3Img2ImgPipeline",
                "StableDiffusion3InpaintPipeline",
            ),
        ),
        ("z-image", ("ZImagePipeline", "ZImageImg2ImgPipeline", "ZImageInpaintPipeline")),
    ],
)
def test_a_tiny_family_is_written_by_the_cli_and_loads_through_the_real_path(
    tmp_path, capsys, family, classes
):
    from bot.cli import main
    from engine.model import load_model

    directory = tmp_path / family
    assert main(["tiny-model", str(directory), "--family", family]) == 0
    assert f"MODEL_ID={directory}" in capsys.readouterr().out
    model = load_model(str(directory), "cpu")  # from_pretrained, as MODEL_ID=DIR loads
    pipelines = (model.text2img, model.img2img, model.inpaint)
    assert tuple(type(pipe).__name__ for pipe in pipelines) == classes
    assert model.img2img.transformer is model.text2img.transformer, "one set of weights"

    def draw(seed: int):
        generator = torch.Generator().manual_seed(seed)
        return model.text2img(
            prompt="a fox", num_inference_steps=2, height=64, width=64, generator=generator
        ).images[0]

    first = draw(1)
    assert first.size == (64, 64)
    assert list(draw(1).getdata()) == list(first.getdata()), "the same seed, the same image"
    varied = model.img2img(
        prompt="a fox",
        image=first,
        strength=0.6,
        num_inference_steps=3,
        height=64,
        width=64,
        generator=torch.Generator().manual_seed(2),
    ).images[0]
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (0, 0, 32, 64))
    painted = model.inpaint(
        prompt="a fox",
        image=first,
        mask_image=mask,
        num_inference_steps=2,
        height=64,
        width=64,
        generator=torch.Generator().manual_seed(3),
    ).images[0]
    assert varied.size == painted.size == (64, 64)
