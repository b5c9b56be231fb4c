"""The ``imaginebot`` command: one job without Discord, a tiny model."""

from __future__ import annotations

from PIL import Image

from tests.processes import run_python as run


def test_cli_tiny_model_writes_a_loadable_pipeline(tmp_path, capsys):
    from bot.cli import main

    # In this process (the e2e tests run the command itself for their model).
    assert main(["tiny-model", str(tmp_path / "m"), "--family", "sdxl"]) == 0, capsys.readouterr()
    for part in ("model_index.json", "unet", "vae", "text_encoder", "text_encoder_2", "tokenizer"):
        assert (tmp_path / "m" / part).exists(), part
    assert (tmp_path / "m" / "tokenizer" / "vocab.json").exists() or (
        tmp_path / "m" / "tokenizer" / "tokenizer.json"
    ).exists()


def test_cli_tiny_model_describe_writes_a_loadable_florence2(tmp_path, capsys):
    from transformers import AutoProcessor, Florence2ForConditionalGeneration, Florence2Processor

    from bot.cli import main

    folder = tmp_path / "florence"
    assert main(["tiny-model", str(folder), "--family", "describe"]) == 0, capsys.readouterr()
    assert f"DESCRIBE_MODEL={folder}" in capsys.readouterr().out
    model = Florence2ForConditionalGeneration.from_pretrained(folder)
    processor = AutoProcessor.from_pretrained(folder)
    assert isinstance(processor, Florence2Processor)
    inputs = processor(text="<CAPTION>", images=Image.new("RGB", (40, 30)), return_tensors="pt")
    assert model.generate(**inputs, max_new_tokens=4).shape[-1] > 1


def test_cli_imagine_zoom_pan_and_vary_region(tmp_path, tiny_model_dirs, monkeypatch, capsys):
    """One job without Discord, then the canvas operations on its saved image and on a
    file, an image prompt, and the refusals (one model load per command: kept together)."""
    env = {
        "MODEL_ID": str(tiny_model_dirs["sd"]),
        "DATA_DIR": str(tmp_path / "data"),
        "DAILY_QUOTA": "0",  # the machine's own operator is not a Discord member with a quota
    }
    made = run(
        ["-m", "bot.cli", "imagine", "a fox --ar 3:2 --seed 7 --steps 2", "-o", "g.png"],
        tmp_path,
        **env,
    )
    assert made.returncode == 0, made.stderr
    with Image.open(tmp_path / "g.png") as grid:
        assert grid.width * 2 == grid.height * 3
    for k in range(1, 5):
        with Image.open(tmp_path / f"g_{k}.png") as image:
            assert image.text["prompt"] == "a fox" and image.text["seed"] == str(6 + k)
    # The rest in this process: the same main() as the command, without an interpreter
    # start (and its imports) each time.
    from bot.cli import main

    monkeypatch.chdir(tmp_path)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    # A saved job's image: the child job runs as its button would, stored with its recipe.
    assert main(["zoom", "1:2", "--factor", "1.5", "-o", "z.png"]) == 0, capsys.readouterr().err
    with Image.open(tmp_path / "z_1.png") as image:
        assert image.size == (192, 128) and image.text["kind"] == "zoom"
        assert image.text["prompt"] == "a fox"
    # An image file: painted through the engine with the prompt given; the canvas grows.
    pan = ["pan", "g_1.png", "up", "--prompt", "a fox --steps 2", "-o", "p.png"]
    assert main(pan) == 0, capsys.readouterr().err
    with Image.open(tmp_path / "p_4.png") as image:
        assert image.size == (192, 192) and image.text["kind"] == "pan"
    with Image.open(tmp_path / "p.png") as grid:
        assert grid.size == (384, 384)
    # An image prompt and --repeat: one grid per job, each with its images beside it.
    pictured = ["imagine", "a fox --steps 2 --repeat 2", "--image", "g_1.png", "-o", "i.png"]
    assert main(pictured) == 0, capsys.readouterr().err
    for k in (1, 2):
        with Image.open(tmp_path / f"i-{k}_1.png") as image:
            assert image.text["image"].endswith("/source.png") and image.size == (192, 128)
    (tmp_path / "notes.png").write_text("not an image")
    # Refused with the rule, before any model loads.
    capsys.readouterr()
    for argv, words in (
        (["imagine", "a fox --ar 9:1"], "--ar"),
        (["imagine", "a fox --iw 1"], "--iw needs an image"),
        (["imagine", "a fox", "--image", "notes.png"], "not a PNG, JPEG or WebP"),
        (["imagine", "a {b, c, d, e, f}"], "makes 5 prompts"),
        (["vary-region", "1", "0"], "cells are numbers 1 to 9"),
        (["vary-region", "g_1.png", "5"], "--prompt is needed"),
        (["zoom", "nothing-here"], "neither an image file nor JOB"),
    ):
        code = main([*argv, "-o", "x.png"])
        stderr = capsys.readouterr().err
        assert code == 2 and words in stderr, stderr
        assert not (tmp_path / "x.png").exists()


def test_cli_imagine_with_a_model_of_models_and_a_lora(
    tmp_path, tiny_model_dirs, monkeypatch, capsys
):
    """Issue 25: ``--model`` picks a model of ``MODELS`` (``MODEL_ID`` the default) and
    ``--lora`` one of ``LORA_DIR``; each image's PNG recipe names both as A1111 does. A
    model that is not offered is refused on stderr, listing those that are."""
    from devtools.tiny_lora import write_tiny_lora

    loras = tmp_path / "loras"
    loras.mkdir()
    write_tiny_lora(loras, "sdxl")
    write_tiny_lora(loras, "sd")
    env = {
        "MODEL_ID": str(tiny_model_dirs["sd"]),
        "MODELS": f"xl={tiny_model_dirs['sdxl']}",
        "LORA_DIR": str(loras),
        "DATA_DIR": str(tmp_path / "data"),
        "DAILY_QUOTA": "0",
    }
    prompt = "a fox --model xl --lora tiny-sdxl:0.7 --steps 2 --seed 5"
    made = run(["-m", "bot.cli", "imagine", prompt, "-o", "grid.png"], tmp_path, **env)
    assert made.returncode == 0, made.stderr
    with Image.open(tmp_path / "grid.png") as grid:
        assert grid.size == (256, 256)  # four of the tiny SDXL's 128x128
    for k in range(1, 5):
        with Image.open(tmp_path / f"grid_{k}.png") as image:
            first, _, rest = image.text["parameters"].partition("\n")
            assert first == "a fox <lora:tiny-sdxl:0.7>", image.text["parameters"]
            assert "Model: tiny-sdxl" in rest and f"Seed: {4 + k}" in rest, rest
            assert image.text["model"] == "tiny-sdxl"
    # The refusal, in this process (the same main() as the command).
    monkeypatch.chdir(tmp_path)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    from bot.cli import main

    capsys.readouterr()
    code = main(["imagine", "a fox --model nope --steps 2", "-o", "x.png"])
    stderr = capsys.readouterr().err
    assert code != 0, stderr
    assert "--model nope" in stderr and "`default`" in stderr and "`xl`" in stderr, stderr
    assert not (tmp_path / "x.png").exists()


def test_cli_describe_blend_and_references(
    tmp_path, tiny_model_dirs, loaded_models, monkeypatch, capsys
):
    """Issue 26 without Discord: ``describe`` prints four prompts (the captioning model
    only), ``blend`` writes a grid, ``--sref``/``--oref PATH`` take local files; bad
    files are refused before any model loads (``--sw`` alone once it has)."""
    from bot.cli import main
    from devtools.tiny_describe import write_tiny_describe_model
    from devtools.tiny_ip_adapter import write_tiny_ip_adapter
    from tests.images import drawing

    write_tiny_describe_model(tmp_path / "florence")
    write_tiny_ip_adapter(tmp_path / "adapter", loaded_models["sd"].text2img, "sd")
    env = {
        "MODEL_ID": str(tiny_model_dirs["sd"]),
        "DATA_DIR": str(tmp_path / "data"),
        "DAILY_QUOTA": "0",
        "DESCRIBE_MODEL": str(tmp_path / "florence"),
        "IP_ADAPTER_SD": str(tmp_path / "adapter"),
    }
    monkeypatch.chdir(tmp_path)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    drawing().save(tmp_path / "a.png")
    drawing((200, 300)).save(tmp_path / "b.png")
    capsys.readouterr()
    assert main(["describe", "a.png"]) == 0, capsys.readouterr().err
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(".")[0] for line in lines] == ["1", "2", "3", "4"]
    assert all(line.endswith(" --ar 3:2") for line in lines) and len(set(lines)) == 4
    blend = ["blend", "a.png", "b.png", "--dimensions", "landscape", "-o", "blend.png"]
    assert main(blend) == 0, capsys.readouterr().err
    with Image.open(tmp_path / "blend.png") as grid:
        assert grid.width > grid.height  # 3:2
    refs = ["imagine", "a fox --steps 2 --sw 500", "--sref", "a.png", "--oref", "b.png"]
    assert main([*refs, "-o", "s.png"]) == 0, capsys.readouterr().err
    with Image.open(tmp_path / "s_1.png") as image:
        assert image.size == (128, 128)
        assert image.text["style references"].endswith("/ref-1.png")
        assert image.text["omni references"].endswith("/ref-2.png")
        assert "IP-Adapter style: 1 at 0.8818" in image.text["parameters"]
    (tmp_path / "notes.png").write_text("not an image")
    capsys.readouterr()
    for argv, words in (
        (["blend", "a.png", "-o", "x.png"], "2 to 5 images"),
        (["blend", "a.png", "notes.png", "-o", "x.png"], "not a PNG, JPEG or WebP"),
        (["imagine", "a fox", "--sref", "notes.png", "-o", "x.png"], "not a PNG"),
        (["imagine", "a fox --sw 5", "-o", "x.png"], "--sw"),
        (["describe", "notes.png"], "not a PNG"),
    ):
        code = main(argv)
        stderr = capsys.readouterr().err
        assert code == 2 and words in stderr, (argv, stderr)
        assert not (tmp_path / "x.png").exists()


def test_cli_tiny_model_video_writes_a_loadable_ltx_pipeline(tmp_path, capsys):
    from diffusers import DiffusionPipeline, LTXConditionPipeline

    from bot.cli import main

    folder = tmp_path / "ltx"
    assert main(["tiny-model", str(folder), "--family", "video"]) == 0, capsys.readouterr()
    assert f"VIDEO_MODEL={folder}" in capsys.readouterr().out
    pipe = DiffusionPipeline.from_pretrained(folder)
    assert isinstance(pipe, LTXConditionPipeline)
    assert (pipe.vae_spatial_compression_ratio, pipe.vae_temporal_compression_ratio) == (32, 8)


def test_cli_animate_writes_a_clip(tmp_path, tiny_model_dirs, monkeypatch, capsys):
    """Issue 27 without Discord: ``animate`` makes the clip Animate makes (the tiny
    LTX-Video of VIDEO_MODEL) from an image file, written as an MP4."""
    from bot.cli import main
    from devtools.tiny_video import write_tiny_video_model
    from engine import read_clip
    from tests.images import drawing

    video = write_tiny_video_model(tmp_path / "tiny-video")
    env = {
        "MODEL_ID": str(tiny_model_dirs["sd"]),
        "DATA_DIR": str(tmp_path / "data"),
        "DAILY_QUOTA": "0",
        "VIDEO_MODEL": str(video),
    }
    monkeypatch.chdir(tmp_path)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    drawing().save(tmp_path / "house.png")
    argv = ["animate", "house.png", "--motion", "high", "--loop", "--prompt", "a house"]
    assert main([*argv, "-o", "clip.mp4"]) == 0, capsys.readouterr().err
    frames, fps = read_clip((tmp_path / "clip.mp4").read_bytes())
    assert frames.shape == (9, 64, 64, 3) and fps == 8  # the tiny model's clip.json
    capsys.readouterr()
    assert main(["animate", "nothing-here", "-o", "x.mp4"]) == 2
    assert "neither an image file nor JOB" in capsys.readouterr().err
