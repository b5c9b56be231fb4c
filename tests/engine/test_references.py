"""Image references through the IP-Adapter (engine/references.py), on the real engine path:
a worker with a Resident over the tiny SD and SDXL pipelines and a tiny adapter folder laid
out as h94/IP-Adapter. Each role changes the image, scale 0 and a call without references
give the plain image back (the swap), image-to-image takes them too, a family without an
adapter and an adapter of another width are refused by name, the adapter loads once."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bot.app import load_engine
from devtools.tiny_ip_adapter import write_tiny_ip_adapter
from engine import Engine, JobSpec
from engine.model import LoadedModel, load_model
from engine.ray_replica import files_of, with_local_files
from engine.references import IpAdapterError, IpAdapters, switch_off, use_references
from engine.resident import Resident
from engine.types import Reference
from tests.bot.discord_app.offline import make_settings

FAMILIES = ("sd", "sdxl")


@pytest.fixture(scope="module")
def adapter_dir(tmp_path_factory, loaded_models) -> Path:
    """Both families' tiny adapters in one folder, as in h94/IP-Adapter (the UNets are
    only read for their widths)."""
    folder = tmp_path_factory.mktemp("ip-adapter")
    for family in FAMILIES:
        write_tiny_ip_adapter(folder, loaded_models[family].text2img, family)
    return folder


@pytest.fixture(scope="module")
def models(tiny_model_dirs) -> dict[str, LoadedModel]:
    """This module's own copies of the tiny models: the adapters loaded into them never
    reach another test's pipeline."""
    return {family: load_model(str(tiny_model_dirs[family]), "cpu") for family in FAMILIES}


@pytest.fixture(scope="module")
def pictures(tmp_path_factory) -> list[Path]:
    """Six different reference images (PNG): random colour blocks of their own seed."""
    folder = tmp_path_factory.mktemp("references")
    paths = []
    for seed in range(6):
        blocks = np.random.default_rng(seed).integers(0, 256, (4, 4, 3), dtype=np.uint8)
        path = folder / f"ref{seed}.png"
        Image.fromarray(blocks).resize((64, 64), Image.Resampling.NEAREST).save(path)
        paths.append(path)
    return paths


def engine_for(model: LoadedModel, adapters: dict[str, str]) -> Engine:
    alias = model.defaults.family
    return Engine(Resident({}, default=alias, loaded={alias: model}, ip_adapters=adapters))


def spec(job_id: int, *references: Reference, **extra) -> JobSpec:
    values = {
        "job_id": job_id,
        "prompt": "a lighthouse",
        "negative": "",
        "width": 64,
        "height": 64,
        "steps": 2,
        "guidance": 5.0,
        "seed": 7,
        "num_images": 1,
        "references": references,
    }
    return JobSpec(**{**values, **extra})


async def draw(engine: Engine, *specs: JobSpec) -> list[np.ndarray]:
    """Each job's first image as floats 0..255, run one after another."""
    images = []
    for each in specs:
        output = await engine.submit(each)
        images.append(np.asarray(output.images[0], np.float32))
    return images


def difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).mean())


def refs(role: str, paths: list[Path], scale: float = 1.0) -> list[Reference]:
    return [Reference(role, path, scale) for path in paths]


@pytest.mark.parametrize("family", FAMILIES)
async def test_each_role_changes_the_image_and_the_adapter_loads_once(
    family, models, adapter_dir, pictures, caplog
):
    model = models[family]
    switch_off(model)
    caplog.set_level(logging.INFO, logger="engine.references")
    async with engine_for(model, {family: str(adapter_dir)}) as engine:
        assert engine.ip_adapters == {family: str(adapter_dir)}
        plain, style, omni, blend2, blend5, both = await draw(
            engine,
            spec(1),
            spec(2, *refs("style", pictures[:1])),
            spec(3, *refs("omni", pictures[:1])),
            spec(4, *refs("blend", pictures[:2])),
            spec(5, *refs("blend", pictures[:5])),
            spec(6, *refs("style", pictures[1:3], 0.8), *refs("omni", pictures[:1], 0.6)),
        )
        adapters = model.ip_adapter
        again = (await draw(engine, spec(7, *refs("style", pictures[:1]))))[0]
    for name, image in (("style", style), ("omni", omni), ("blend2", blend2), ("blend5", blend5)):
        assert difference(image, plain) > 1.0, f"{name} changes the image"
    assert difference(blend2, blend5) > 0.25, "each of the blend's images counts"
    assert difference(both, style) > 1.0 and difference(both, omni) > 1.0, "style and omni"
    assert np.array_equal(again, style), "the same references: the same image"
    loads = [r for r in caplog.records if "IP-Adapter" in r.getMessage() and "loaded" in r.msg]
    assert len(loads) == 1, "loaded once, then switched"
    assert isinstance(adapters, IpAdapters) and model.ip_adapter is adapters
    assert model.img2img.image_encoder is model.text2img.image_encoder is not None
    assert model.inpaint.feature_extractor is model.text2img.feature_extractor is not None


@pytest.mark.parametrize("family", FAMILIES)
async def test_scale_0_and_a_call_without_references_give_the_plain_image_back(
    family, models, adapter_dir, pictures
):
    model = models[family]
    unet = model.text2img.unet
    switch_off(model)
    own = unet.attn_processors
    async with engine_for(model, {family: str(adapter_dir)}) as engine:
        [plain] = await draw(engine, spec(1))
        [styled] = await draw(engine, spec(2, *refs("style", pictures[:2])))
        assert unet.encoder_hid_proj is not None, "on for the call"
        zero = await draw(
            engine,
            spec(3, *refs("style", pictures[:1], 0.0)),
            spec(4, *refs("omni", pictures[:1], 0.0)),
            spec(5, *refs("blend", pictures[:3], 0.0)),
        )
        [after] = await draw(engine, spec(6))
    assert difference(styled, plain) > 1.0
    for image in zero:  # diffusers skips an adapter at scale 0: not a pixel apart
        assert np.array_equal(image, plain), "scale 0: the image without references"
    assert np.array_equal(after, plain), "off again: exactly the plain image"
    assert unet.encoder_hid_proj is None and unet.config.encoder_hid_dim_type is None
    assert unet.attn_processors == own, "the UNet's own processors, the very same"


@pytest.mark.parametrize("family", FAMILIES)
async def test_image_to_image_with_a_reference(family, models, adapter_dir, pictures, tmp_path):
    model = models[family]
    source = tmp_path / "source.png"
    Image.linear_gradient("L").resize((64, 64)).convert("RGB").save(source)
    varied = {"source_image": source, "strength": 1.0, "steps": 3}
    async with engine_for(model, {family: str(adapter_dir)}) as engine:
        plain, styled, blended, plain_again = await draw(
            engine,
            spec(1, **varied),
            spec(2, *refs("omni", pictures[:1]), **varied),
            spec(3, *refs("blend", pictures[2:4]), **varied),
            spec(4, **varied),
        )
    assert difference(styled, plain) > 1.0 and difference(blended, plain) > 1.0
    assert np.array_equal(plain_again, plain)


async def test_inpainting_with_a_reference(models, adapter_dir, pictures, tmp_path):
    from engine.types import Paint

    source = tmp_path / "source.png"
    Image.linear_gradient("L").resize((64, 64)).convert("RGB").save(source)
    painted = {"source_image": source, "strength": 1.0, "paint": Paint("region", cells=(5,))}
    async with engine_for(models["sd"], {"sd": str(adapter_dir)}) as engine:
        plain, omni = await draw(
            engine, spec(1, **painted), spec(2, *refs("omni", pictures[:1]), **painted)
        )
    assert difference(omni, plain) > 0.1


@pytest.mark.parametrize("family", ["flux", "sd3"])
async def test_a_family_without_an_adapter_refuses_references_naming_it(
    family, dit_models, adapter_dir, pictures
):
    adapters = {"sd": str(adapter_dir), "sdxl": str(adapter_dir), family: str(adapter_dir)}
    model = dit_models[family]
    async with engine_for(model, adapters) as engine:
        with pytest.raises(IpAdapterError, match=rf"\({family}[-a-z]*\) takes no image references"):
            await engine.submit(spec(1, *refs("style", pictures[:1])))
        assert len((await engine.submit(spec(2))).images) == 1, "without: it draws"
    assert model.ip_adapter is None


async def test_an_adapter_that_is_off_is_named(models, pictures):
    async with engine_for(models["sd"], {}) as engine:
        with pytest.raises(IpAdapterError, match="IP_ADAPTER_SD is off"):
            await engine.submit(spec(1, *refs("omni", pictures[:1])))


async def test_an_adapter_for_another_text_width_is_refused_naming_both(
    tiny_model_dirs, loaded_models, pictures, tmp_path
):
    model = load_model(str(tiny_model_dirs["sd"]), "cpu")
    # SDXL's tensors (64 wide) where SD's (32) belong: as SD 1.5's on an SD 2.x model.
    misfit = write_tiny_ip_adapter(tmp_path / "misfit", loaded_models["sdxl"].text2img, "sd")
    async with engine_for(model, {"sd": str(misfit)}) as engine:
        [plain] = await draw(engine, spec(1))
        with pytest.raises(IpAdapterError, match="text width of 64, model tiny-sd's UNet has 32"):
            await engine.submit(spec(2, *refs("style", pictures[:1])))
        [after] = await draw(engine, spec(3))
    # The model as it was (the failure is remembered, no adapter is in its UNet).
    assert isinstance(model.ip_adapter, IpAdapterError)
    assert model.text2img.unet.encoder_hid_proj is None
    assert np.array_equal(after, plain), "the model as it was"


async def test_a_missing_adapter_file_is_named(models, pictures, tmp_path):
    model = load_model(str(Path(models["sd"].text2img.config._name_or_path)), "cpu")
    async with engine_for(model, {"sd": str(tmp_path)}) as engine:
        with pytest.raises(IpAdapterError, match=r"has no models/ip-adapter_sd15\.safetensors"):
            await engine.submit(spec(1, *refs("style", pictures[:1])))
        failure = model.ip_adapter
        assert isinstance(failure, IpAdapterError)
        # Not tried again with every batch: the same error, until a restart.
        (tmp_path / "models").mkdir()
        with pytest.raises(IpAdapterError) as again:
            await engine.submit(spec(2, *refs("style", pictures[:1])))
        assert again.value is failure
        # Jobs without references still run on it.
        assert (await engine.submit(spec(3))).images


def test_prefetch_needs_nothing_for_a_folder(adapter_dir, monkeypatch):
    import huggingface_hub

    from engine.references import prefetch

    def no_download(*args, **kwargs):
        raise AssertionError("a folder is not downloaded")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", no_download)
    prefetch(str(adapter_dir), "sd")
    prefetch("flux-family/none", "flux")  # no adapter for the family: nothing either


def test_the_kept_adapter_follows_the_model_to_its_dtype(models, adapter_dir, pictures):
    """Switched off, the model moves (engine.resident does so between devices); switched
    on again, the kept IP modules are moved to where it is now (float64 and back: the
    weights come back exactly)."""
    model = models["sd"]
    references = tuple(refs("style", pictures[:1]))
    sources = {"sd": str(adapter_dir)}
    use_references(model, references, sources)
    switch_off(model)
    try:
        model.text2img.to(dtype=torch.float64)
        arguments = use_references(model, references, sources)
        ip = model.ip_adapter
        kept = [*ip.processors.values(), ip.projection]
        assert {p.dtype for module in kept for p in module.parameters()} == {torch.float64}
        assert [len(images) for images in arguments["ip_adapter_image"]] == [1, 1]
    finally:
        switch_off(model)
        model.text2img.to(dtype=torch.float32)


def test_style_layers_only_for_style_every_layer_for_omni_and_blend(models, adapter_dir, pictures):
    model = models["sdxl"]
    sources = {"sdxl": str(adapter_dir)}
    try:
        style = (*refs("style", pictures[:2], 0.7), *refs("omni", pictures[:1], 0.4))
        arguments = use_references(model, style, sources)
        scales = {name: list(p.scale) for name, p in model.ip_adapter.processors.items()}
        on = {name for name, scale in scales.items() if scale[0] == 0.7}
        assert on and all(name.startswith("up_blocks.0.attentions.1.") for name in on)
        assert all(scale[1] == 0.4 for scale in scales.values())
        assert [len(images) for images in arguments["ip_adapter_image"]] == [2, 1]
        use_references(model, tuple(refs("blend", pictures[:5], 0.9)), sources)
        blend = [list(p.scale) for p in model.ip_adapter.processors.values()]
        assert all(scale == [0.9, 0.0] for scale in blend)
    finally:
        switch_off(model)


async def test_the_bots_engine_offers_the_settings_adapters(tiny_model_dirs, adapter_dir, pictures):
    """``load_engine`` gives each worker ``IP_ADAPTER_SD``/``_SDXL`` (``off``: none)."""
    settings = make_settings(
        model_id=str(tiny_model_dirs["sd"]),
        device="cpu",
        nsfw_filter="off",
        ip_adapter_sd=str(adapter_dir),
        ip_adapter_sdxl="off",
    )
    engine = await asyncio.to_thread(load_engine, settings, nsfw_filter=False)
    assert engine.ip_adapters == {"sd": str(adapter_dir)}
    async with engine:
        plain, styled = await draw(engine, spec(1), spec(2, *refs("style", pictures[:1])))
    assert difference(styled, plain) > 1.0


def test_a_replica_gets_the_reference_files_with_the_batch(pictures, tmp_path):
    job = spec(1, *refs("blend", pictures[:2]))
    files = files_of([job])
    assert set(files) == {str(path) for path in pictures[:2]}
    here = tmp_path / "replica"
    here.mkdir()
    [moved] = with_local_files([job], files, here)
    assert [r.path.parent for r in moved.references] == [here, here]
    assert [r.path.read_bytes() for r in moved.references] == [p.read_bytes() for p in pictures[:2]]
    assert dataclasses.replace(moved, references=job.references) == job


def test_the_adapters_count_against_the_memory_budget(tiny_model_dirs, adapter_dir, pictures):
    model = load_model(str(tiny_model_dirs["sd"]), "cpu")
    resident = Resident(
        {}, default="sd", loaded={"sd": model}, ip_adapters={"sd": str(adapter_dir)}
    )
    before = resident.sizes["sd"]
    arguments = resident.use_references(model, tuple(refs("omni", pictures[:1])))
    assert len(arguments["ip_adapter_image"]) == 2
    # The image encoder and both adapters are measured once they are in.
    assert resident.sizes["sd"] > before
    assert resident.known["sd"].memory == resident.sizes["sd"]
