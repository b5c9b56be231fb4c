"""Tiny random LoRAs (devtools/tiny_lora.py), written by ``imaginebot tiny-lora DIR --family F``:
diffusers' format, our family in the metadata, the tiny model's layer shapes. That each
loads into its tiny pipeline and changes the image: tests/engine/test_loras.py."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors import safe_open

from devtools.tiny import tiny_unet
from devtools.tiny_dit import tiny_transformer
from devtools.tiny_lora import write_tiny_lora
from engine.loras import LORA_FAMILIES, lora_family


def read(path):
    with safe_open(str(path), framework="pt") as lora:
        return dict(lora.metadata()), {key: lora.get_tensor(key) for key in lora.keys()}  # noqa: SIM118


def test_the_cli_writes_a_tiny_lora_into_a_folder(tmp_path, capsys):
    from bot.cli import main

    folder = tmp_path / "loras"  # made if need be
    assert main(["tiny-lora", str(folder), "--family", "sdxl", "--seed", "3"]) == 0
    path = folder / "tiny-sdxl.safetensors"
    assert str(path) in capsys.readouterr().out
    metadata, tensors = read(path)
    assert metadata["imaginebot.family"] == "sdxl" and lora_family(path) == "sdxl"
    # diffusers' own adapter config, as save_lora_weights writes it: rank and targets.
    config = json.loads(metadata["lora_adapter_metadata"])
    assert config["unet.r"] == 4 and set(config["unet.target_modules"]) == {
        "to_q",
        "to_k",
        "to_v",
        "to_out.0",
    }
    assert tensors and all(key.startswith("unet.") for key in tensors)
    ups = [value for key, value in tensors.items() if ".lora_B." in key]
    assert ups and all(value.abs().sum() > 0 for value in ups), "lora_B is not zero"


def test_the_cli_refuses_a_family_it_does_not_know(tmp_path, capsys):
    from bot.cli import main

    with pytest.raises(SystemExit) as exited:
        main(["tiny-lora", str(tmp_path), "--family", "sd2"])
    assert exited.value.code == 2 and "invalid choice" in capsys.readouterr().err


def test_a_file_path_is_written_as_given_and_the_seed_decides_the_weights(tmp_path):
    first = write_tiny_lora(tmp_path / "a.safetensors", "z-image", seed=1)
    again = write_tiny_lora(tmp_path / "b.safetensors", "z-image", seed=1)
    other = write_tiny_lora(tmp_path / "c.safetensors", "z-image", seed=2)
    assert first == tmp_path / "a.safetensors"
    (_, a), (_, b), (_, c) = read(first), read(again), read(other)
    assert all(key.startswith("transformer.") for key in a)
    assert all(torch.equal(a[key], b[key]) for key in a), "the same seed, the same LoRA"
    assert any(not torch.equal(a[key], c[key]) for key in a)
    with pytest.raises(ValueError, match=r"ends in \.safetensors"):
        write_tiny_lora(tmp_path / "lora.bin", "sd")
    with pytest.raises(ValueError, match="family must be one of"):
        write_tiny_lora(tmp_path, "sd2")


@pytest.mark.parametrize("family", LORA_FAMILIES)
def test_each_lora_has_the_shapes_of_its_tiny_model(tmp_path, family):
    _, tensors = read(write_tiny_lora(tmp_path, family))
    denoiser = tiny_unet(family) if family in ("sd", "sdxl") else tiny_transformer(family)
    modules = dict(denoiser.named_modules())
    seen = set()
    for key, value in tensors.items():
        prefix, rest = key.split(".", 1)
        assert prefix == ("unet" if family in ("sd", "sdxl") else "transformer")
        name, part = rest.rsplit(".lora_", 1)
        layer = modules[name]
        if part.startswith("A"):
            assert value.shape == (4, layer.in_features), key
        else:
            assert value.shape == (layer.out_features, 4), key
        seen.add(name)
    assert {name.rsplit(".", 1)[-1] for name in seen} >= {"to_q", "to_k", "to_v"}
