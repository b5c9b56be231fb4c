"""LoRAs on the tiny pipelines of every family (engine/loras.py): a tiny LoRA changes the
image, weight 0 and "no LoRA" give the pipeline's own image back, the image-to-image twin
sees it; which family a file is for, told from its header alone; the folder scan."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from devtools.tiny_lora import write_tiny_lora
from engine.loras import (
    LORA_FAMILIES,
    LoraError,
    LoraFile,
    adapter_name,
    base_family,
    lora_family,
    scan_lora_dir,
    takes_loras,
    use_loras,
)
from engine.model import LoadedModel, load_model


@pytest.fixture(scope="module")
def lora_dir(tmp_path_factory):
    """One tiny LoRA per family (``tiny-<family>``) and a second SD one (``tiny-sd.v2``: a
    dot, which PEFT's adapter names cannot hold)."""
    folder = tmp_path_factory.mktemp("loras")
    for family in LORA_FAMILIES:
        write_tiny_lora(folder, family)
    write_tiny_lora(folder / "tiny-sd.v2.safetensors", "sd", seed=1)
    return folder


@pytest.fixture(scope="module")
def loras(lora_dir) -> dict[str, LoraFile]:
    return scan_lora_dir(lora_dir)


@pytest.fixture(scope="module")
def models(tiny_model_dirs, dit_models) -> dict[str, LoadedModel]:
    """This module's own copies of the tiny models (loaded again from the session's folders,
    a fraction of a second each): LoRAs loaded here never reach another test's pipeline."""
    folders = dict(tiny_model_dirs)
    folders.update({f: m.text2img.config._name_or_path for f, m in dit_models.items()})
    loaded = {family: load_model(str(folder), "cpu") for family, folder in folders.items()}
    for model in loaded.values():
        for pipe in (model.text2img, model.img2img):
            pipe.set_progress_bar_config(disable=True)
    return loaded


@pytest.fixture(scope="module")
def loaded() -> dict[str, dict[str, None]]:
    """The LoRAs loaded into each of this module's pipelines: kept for each pipeline across
    its calls, as the worker keeps it."""
    return {family: {} for family in LORA_FAMILIES}


# An image-to-image input that the LoRAs do not touch.
PICTURE = Image.linear_gradient("L").resize((64, 64)).convert("RGB")


def draw(pipe, **extra) -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    return pipe(
        prompt="a fox",
        num_inference_steps=2,
        height=64,
        width=64,
        output_type="pt",
        generator=generator,
        **extra,
    ).images


@pytest.mark.parametrize("family", LORA_FAMILIES)
def test_a_tiny_lora_changes_the_image_and_off_gives_the_pipelines_own_back(
    family, models, loras, loaded
):
    model = models[family]
    pipe, lora, loaded = model.text2img, loras[f"tiny-{family}"], loaded[family]
    assert lora.family == family == base_family(model.defaults.family)
    assert takes_loras(pipe) and takes_loras(model.img2img) and takes_loras(model.inpaint)
    use_loras(pipe, [], loaded)  # nothing loaded: nothing to do
    plain = draw(pipe)

    use_loras(pipe, [(lora, 1.0)], loaded)
    assert lora.name in loaded
    with_lora = draw(pipe)
    assert (with_lora - plain).abs().max() > 1e-3, "the LoRA changes the image"

    use_loras(pipe, [(lora, 0.0)], loaded)
    assert (draw(pipe) - plain).abs().max() <= 1e-6, "weight 0: the image without it"
    use_loras(pipe, [], loaded)
    assert torch.equal(draw(pipe), plain), "no LoRA asked for: the pipeline's own image"

    use_loras(pipe, [(lora, 1.0)], loaded)  # on again, without a second load
    assert torch.equal(draw(pipe), with_lora)
    in_pipe = {name for names in pipe.get_list_adapters().values() for name in names}
    assert len(in_pipe) == len(loaded), "each loaded once, as ``loaded`` says"

    # The image-to-image twin shares the UNet or transformer: it sees the same LoRA.
    varied = draw(model.img2img, image=PICTURE, strength=0.7)
    use_loras(pipe, [], loaded)
    assert (varied - draw(model.img2img, image=PICTURE, strength=0.7)).abs().max() > 1e-3


def test_two_loras_at_once_each_with_its_weight(models, loras, loaded):
    pipe, loaded = models["sd"].text2img, loaded["sd"]
    first, second = loras["tiny-sd"], loras["tiny-sd.v2"]
    use_loras(pipe, [(first, 1.0)], loaded)
    alone = draw(pipe)
    use_loras(pipe, [(first, 1.0), (second, 0.5)], loaded)
    both = draw(pipe)
    assert {"tiny-sd", "tiny-sd.v2"} <= loaded.keys()
    assert (both - alone).abs().max() > 1e-3, "the second one counts"
    use_loras(pipe, [(first, 1.0), (second, 0.0)], loaded)
    assert (draw(pipe) - alone).abs().max() <= 1e-6, "and only as much as its weight"
    use_loras(pipe, [], loaded)


def test_past_the_cap_the_least_recently_used_lora_not_in_use_is_deleted(models, loras, loaded):
    """However many LoRAs members name, a pipeline keeps ``keep`` loaded: the least
    recently used one not in this call goes first."""
    pipe, loaded = models["sd"].text2img, loaded["sd"]
    first, second = loras["tiny-sd"], loras["tiny-sd.v2"]
    use_loras(pipe, [], loaded)
    for name in list(loaded):  # this module's earlier tests' adapters
        pipe.delete_adapters(adapter_name(name))
        del loaded[name]
    use_loras(pipe, [(first, 1.0)], loaded, keep=1)
    with_first = draw(pipe)
    use_loras(pipe, [(second, 1.0)], loaded, keep=1)
    assert list(loaded) == ["tiny-sd.v2"]
    assert list(pipe.get_list_adapters()["unet"]) == [adapter_name("tiny-sd.v2")]
    use_loras(pipe, [(first, 1.0)], loaded, keep=1)  # loaded again: the same image
    assert list(loaded) == ["tiny-sd"] and (draw(pipe) - with_first).abs().max() <= 1e-6
    use_loras(pipe, [(first, 1.0), (second, 0.5)], loaded, keep=1)  # both in use: both stay
    assert list(loaded) == ["tiny-sd", "tiny-sd.v2"]
    # Under the cap nothing goes: a third one with room for 8 keeps both.
    use_loras(pipe, [], loaded)
    pipe.delete_adapters(adapter_name("tiny-sd"))
    del loaded["tiny-sd"]
    use_loras(pipe, [(first, 1.0)], loaded, keep=8)
    assert list(loaded) == ["tiny-sd.v2", "tiny-sd"]
    use_loras(pipe, [], loaded)


def test_a_lora_of_another_family_is_refused_before_it_is_loaded(models, loras, loaded):
    pipe, loaded = models["sd"].text2img, loaded["sd"]
    before = (dict(loaded), pipe.get_list_adapters())
    with pytest.raises(LoraError, match=r"'tiny-sdxl' is for sdxl models, this one is sd"):
        use_loras(pipe, [(loras["tiny-sdxl"], 1.0)], loaded)
    assert (loaded, pipe.get_list_adapters()) == before


def test_a_file_that_does_not_fit_fails_and_leaves_the_pipeline_as_it_was(
    models, loras, loaded, tmp_path
):
    pipe, loaded = models["sd"].text2img, loaded["sd"]
    use_loras(pipe, [], loaded)
    plain = draw(pipe)
    before = (dict(loaded), pipe.get_list_adapters())
    # SDXL's tensors (wider cross-attention) under an SD label; then not a LoRA at all.
    misfit = LoraFile("misfit", loras["tiny-sdxl"].path, "sd")
    junk_path = tmp_path / "junk.safetensors"
    junk_path.write_bytes(b"not a safetensors file")
    for bad in (misfit, LoraFile("junk", junk_path, "sd")):
        with pytest.raises(LoraError, match=rf"LoRA '{bad.name}' \({bad.path.name}\)"):
            use_loras(pipe, [(bad, 1.0)], loaded)
        assert (loaded, pipe.get_list_adapters()) == before
    use_loras(pipe, [], loaded)
    assert torch.equal(draw(pipe), plain)


@pytest.mark.parametrize(
    ("weight", "message"), [(float("nan"), "must be a number"), (float("inf"), "must be a number")]
)
def test_a_weight_that_is_not_a_number_is_refused(models, loras, loaded, weight, message):
    with pytest.raises(LoraError, match=message):
        use_loras(models["sd"].text2img, [(loras["tiny-sd"], weight)], loaded["sd"])


def test_the_same_lora_twice_is_refused(models, loras, loaded):
    lora = loras["tiny-sd"]
    with pytest.raises(LoraError, match="named twice"):
        use_loras(models["sd"].text2img, [(lora, 1.0), (lora, 0.5)], loaded["sd"])


def test_a_pipeline_without_a_lora_loader_takes_none():
    class Plain:
        pass

    assert not takes_loras(Plain())
    with pytest.raises(LoraError, match="Plain takes no LoRAs"):
        use_loras(Plain(), [(LoraFile("x", Path("x.safetensors"), "sd"), 1.0)], set())
    use_loras(Plain(), [], set())  # nothing asked: nothing to refuse


@pytest.mark.parametrize(
    ("model_family", "family"),
    [
        ("sd", "sd"),
        ("sd-turbo", "sd"),
        ("sdxl", "sdxl"),
        ("sdxl-turbo", "sdxl"),
        ("flux", "flux"),
        ("flux-schnell", "flux"),
        ("sd3", "sd3"),
        ("z-image", "z-image"),
    ],
)
def test_base_family_of_each_model_family(model_family, family):
    assert base_family(model_family) == family


def test_base_family_of_an_unknown_family_is_an_error():
    with pytest.raises(ValueError, match="unknown model family 'turbo'"):
        base_family("turbo")


# ---- lora_family: the header alone (metadata, tensor names and shapes)


def write(path, shapes: dict[str, tuple[int, ...]], metadata: dict[str, str] | None = None):
    """A small safetensors file with these tensor names and shapes (zeros)."""
    save_file({key: torch.zeros(shape) for key, shape in shapes.items()}, str(path), metadata)
    return path


R = 4  # a LoRA's rank
KOHYA_SD = {
    "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.lora_down.weight": (
        R,
        768,
    ),
    "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.lora_up.weight": (320, R),
    "lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight": (R, 768),
}
KOHYA_SDXL = {
    "lora_unet_input_blocks_4_1_transformer_blocks_0_attn2_to_k.lora_down.weight": (R, 2048),
    "lora_unet_input_blocks_4_1_transformer_blocks_0_attn2_to_k.lora_up.weight": (640, R),
    "lora_unet_input_blocks_4_1_transformer_blocks_0_attn2_to_k.alpha": (),
    "lora_te2_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight": (R, 1280),
}
DIFFUSERS_SDXL_UNET = {  # no text encoder 2, names shared with SD: told by the width
    "unet.down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.lora_A.weight": (R, 2048),
    "unet.down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.lora_B.weight": (640, R),
}
SD2 = {  # SD 2.x: OpenCLIP's 1024-wide text, not a family the bot runs
    "unet.down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.lora_A.weight": (R, 1024),
}
DIFFUSERS_FLUX = {
    "transformer.transformer_blocks.0.attn.to_q.lora_A.weight": (R, 3072),
    "transformer.transformer_blocks.0.attn.add_q_proj.lora_A.weight": (R, 3072),
    "transformer.single_transformer_blocks.0.proj_mlp.lora_A.weight": (R, 3072),
}
FLUX_DOUBLE_ONLY = {  # no single blocks: FLUX.1's width tells it from SD3
    "transformer.transformer_blocks.0.attn.to_q.lora_A.weight": (R, 3072),
    "transformer.transformer_blocks.0.attn.add_q_proj.lora_A.weight": (R, 3072),
}
KOHYA_FLUX = {"lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight": (R, 3072)}
BFL_FLUX = {"diffusion_model.single_blocks.0.linear1.lora_A.weight": (R, 3072)}
DIFFUSERS_SD3 = {
    "transformer.transformer_blocks.0.attn.to_q.lora_A.weight": (R, 1536),
    "transformer.transformer_blocks.0.attn.add_q_proj.lora_A.weight": (R, 1536),
}
KOHYA_SD3 = {"lora_unet_joint_blocks_0_x_block_attn_qkv.lora_down.weight": (R, 1536)}
DIFFUSERS_Z_IMAGE = {
    "transformer.layers.0.attention.to_q.lora_A.weight": (R, 3840),
    "transformer.layers.0.feed_forward.w1.lora_A.weight": (R, 3840),
}
ORIGINAL_Z_IMAGE = {"diffusion_model.layers.0.attention.qkv.lora_A.weight": (R, 3840)}


@pytest.mark.parametrize(
    ("shapes", "family"),
    [
        (KOHYA_SD, "sd"),
        (KOHYA_SDXL, "sdxl"),
        (DIFFUSERS_SDXL_UNET, "sdxl"),
        (SD2, None),
        (DIFFUSERS_FLUX, "flux"),
        (FLUX_DOUBLE_ONLY, "flux"),
        (KOHYA_FLUX, "flux"),
        (BFL_FLUX, "flux"),
        (DIFFUSERS_SD3, "sd3"),
        (KOHYA_SD3, "sd3"),
        (DIFFUSERS_Z_IMAGE, "z-image"),
        (ORIGINAL_Z_IMAGE, "z-image"),
        ({"model.embed.weight": (8, 8)}, None),
    ],
    ids=[
        "kohya-sd",
        "kohya-sdxl",
        "diffusers-sdxl-unet",
        "sd2",
        "diffusers-flux",
        "flux-double-blocks-only",
        "kohya-flux",
        "bfl-flux",
        "diffusers-sd3",
        "kohya-sd3",
        "diffusers-z-image",
        "original-z-image",
        "not-a-lora",
    ],
)
def test_the_family_is_told_from_tensor_names_and_shapes(tmp_path, shapes, family):
    assert lora_family(write(tmp_path / "l.safetensors", shapes)) == family


@pytest.mark.parametrize(
    ("metadata", "family"),
    [
        ({"imaginebot.family": "z-image"}, "z-image"),
        ({"ss_base_model_version": "sd_v1"}, "sd"),
        ({"ss_base_model_version": "sdxl_base_v1-0"}, "sdxl"),
        ({"ss_base_model_version": "flux1"}, "flux"),
        ({"ss_base_model_version": "sd3"}, "sd3"),
        ({"modelspec.architecture": "stable-diffusion-xl-v1-base/lora"}, "sdxl"),
        ({"modelspec.architecture": "Flux.1-dev/lora"}, "flux"),
        ({"ss_base_model_version": "sd_v2"}, None),
        ({"ss_base_model_version": "flux2_klein_9b"}, None),  # FLUX.2, though named like FLUX.1
    ],
)
def test_the_family_stated_in_the_metadata_comes_first(tmp_path, metadata, family):
    # The tensors look like FLUX.1's: what the file says of itself wins.
    assert lora_family(write(tmp_path / "l.safetensors", KOHYA_FLUX, metadata)) == family


def test_a_file_that_is_not_safetensors_has_no_family(tmp_path):
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")
    assert lora_family(junk) is None and lora_family(empty) is None
    assert lora_family(tmp_path / "absent.safetensors") is None


# ---- scan_lora_dir


def test_the_scan_keeps_loras_by_name_and_leaves_out_the_rest_with_a_warning(
    tmp_path, lora_dir, caplog
):
    good = (lora_dir / "tiny-sd.safetensors").read_bytes()
    for name in ("b", "a_1.v2", "bad name!", "-flag", ".hidden", "x" * 65):
        (tmp_path / f"{name}.safetensors").write_bytes(good)
    (tmp_path / "junk.safetensors").write_bytes(b"junk")
    write(tmp_path / "unknown.safetensors", {"model.embed.weight": (8, 8)})
    (tmp_path / "notes.txt").write_text("not a LoRA")
    (tmp_path / "folder.safetensors").mkdir()
    with caplog.at_level(logging.WARNING, logger="engine.loras"):
        found = scan_lora_dir(tmp_path)
    assert list(found) == ["a_1.v2", "b"]
    assert found["b"] == LoraFile("b", tmp_path / "b.safetensors", "sd")
    warned = caplog.text
    for name in ("bad name!", "-flag", ".hidden", "x" * 65, "junk", "unknown", "folder"):
        assert f"LoRA {name}.safetensors left out" in warned, name
    assert "notes.txt" not in warned


def test_the_scan_reads_at_most_a_thousand_files(tmp_path, lora_dir, caplog):
    good = (lora_dir / "tiny-flux.safetensors").read_bytes()
    for index in range(1001):
        (tmp_path / f"l{index:04d}.safetensors").write_bytes(good)
    with caplog.at_level(logging.WARNING, logger="engine.loras"):
        found = scan_lora_dir(tmp_path)
    assert len(found) == 1000 and "l1000" not in found and found["l0999"].family == "flux"
    assert "1001 LoRA files" in caplog.text


def test_a_missing_folder_is_an_error_and_none_means_no_loras(tmp_path):
    with pytest.raises(ValueError, match="missing"):
        scan_lora_dir(tmp_path / "missing")
    assert scan_lora_dir(None) == {}
