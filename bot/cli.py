"""``imaginebot``: run the bot, run one job without Discord, write a tiny model or LoRA."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bot import canvas_cli, image_cli
from bot.cli_jobs import run_job
from bot.json_stdout import emit, json_only
from bot.settings import Settings, SettingsError, load_settings
from core.errors import UserError
from core.limits import Limits
from core.prompt import MAX_STYLE_REFS, parse_prompts

if TYPE_CHECKING:
    from core.model import Job, Requester
    from core.references import GivenReferences
    from core.services import Services
    from devtools.bench import BenchOptions


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``imaginebot`` command."""
    # Files the bot writes (database, images) are its own: no access for others.
    os.umask(0o077)
    parser = argparse.ArgumentParser(prog="imaginebot", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser("run", help="start the bot (same as python -m bot)")

    imagine = commands.add_parser(
        "imagine", help="run one job through the engine, without Discord, and write the grid"
    )
    imagine.add_argument("prompt", help='the prompt with its parameters, e.g. "a fox --ar 3:2"')
    imagine.add_argument("-o", "--output", type=Path, default=Path("grid.png"))
    imagine.add_argument(
        "--image", type=Path, help="an image prompt: a PNG, JPEG or WebP file (10 MB at most)"
    )
    imagine.add_argument(
        "--sref", type=Path, action="append", default=[], help="a style reference file (up to 4)"
    )
    imagine.add_argument("--oref", type=Path, help="an omni reference file")

    tiny = commands.add_parser(
        "tiny-model", help="write a tiny random-weight diffusers pipeline to DIR"
    )
    tiny.add_argument("directory", type=Path)
    tiny.add_argument(
        "--family",
        choices=["sd", "sdxl", "flux", "sd3", "z-image", "describe", "video"],
        default="sd",
        help="describe: a tiny Florence-2 for /describe (use DESCRIBE_MODEL=DIR); "
        "video: a tiny LTX-Video (use VIDEO_MODEL=DIR)",
    )
    tiny.add_argument("--seed", type=int, default=0, help="seed of the random weights")
    tiny.add_argument(
        "--inpainting",
        action="store_true",
        help="a dedicated inpainting checkpoint (9-channel UNet; sd only)",
    )

    tiny_lora = commands.add_parser(
        "tiny-lora", help="write a tiny random LoRA for the tiny model of a family to DIR"
    )
    tiny_lora.add_argument("directory", type=Path, help="a folder (or a .safetensors path)")
    tiny_lora.add_argument(
        "--family", choices=["sd", "sdxl", "flux", "sd3", "z-image"], default="sd"
    )
    tiny_lora.add_argument("--seed", type=int, default=0, help="seed of the random weights")

    canvas_cli.add_commands(commands)
    image_cli.add_commands(commands)

    bench = commands.add_parser(
        "bench", help="measure the job path against the bare pipeline (see README)"
    )
    source = bench.add_mutually_exclusive_group()
    source.add_argument("--model", help="a diffusers folder or hub id (default: MODEL_ID)")
    source.add_argument(
        "--arch",
        choices=["sd15", "sdxl", "sd-turbo"],
        help="a full-size architecture with random weights, built in code (no download)",
    )
    bench.add_argument("--size", type=_size, help="image size WxH (default: the model's)")
    bench.add_argument("--steps", type=int, help="sampler steps (default: the model's)")
    bench.add_argument("--jobs", type=int, default=8, help="jobs submitted at once (8)")
    bench.add_argument("--users", type=int, default=4, help="users they come from (4)")
    bench.add_argument("--device", default=None, help="auto, cuda, cuda:N, mps or cpu")
    bench.add_argument("--max-batch-images", type=int, help="default: MAX_BATCH_IMAGES")
    bench.add_argument(
        "--rounds", type=int, default=5, help="rounds of bare and job-path runs, interleaved (5)"
    )
    bench.add_argument(
        "--workers",
        type=int,
        help="throughput with 1 worker and with N (one per GPU, or one per CPU core), side by side",
    )
    bench.add_argument(
        "--engine",
        choices=["local", "ray"],
        default="local",
        help="ray: the local engine against Ray Serve replicas, same workers (needs .[ray])",
    )
    bench.add_argument("--json", action="store_true", help="print the report as JSON")
    bench.add_argument(
        "--output-only",
        action="store_true",
        help="only the output path: what a finished job costs after the pipeline (no model)",
    )
    bench.add_argument(
        "--scale",
        action="store_true",
        help="the member-facing paths, the queue and a restart as the data grows to 1M jobs",
    )
    bench.add_argument(
        "--sizes",
        type=_sizes,
        default=None,
        help="with --scale: the job counts to measure at (default 10000,100000,1000000)",
    )
    bench.add_argument(
        "--filter",
        action="store_true",
        help="only the blocked-word check: hostile 1500-character prompts against 500 entries",
    )

    args = parser.parse_args(argv)
    if args.command == "bench":
        return _bench(args)
    if args.command == "run":
        from bot.__main__ import main as run_main

        return run_main()
    if args.command == "tiny-model":
        return _tiny_model(args.directory, args.family, args.seed, args.inpainting)
    if args.command == "tiny-lora":
        return _tiny_lora(args.directory, args.family, args.seed)
    try:
        settings = load_settings()
        if args.command == "imagine":
            # Bad parameters are refused before the model loads (seconds, on any machine).
            prompts = parse_prompts(args.prompt, max_steps=Limits.from_settings(settings).max_steps)
            # A bad file is refused before the model loads.
            image = None if args.image is None else image_cli.read_image(args.image)
            given = _references(args.sref, args.oref)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except UserError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    if args.command in image_cli.COMMANDS:
        return image_cli.run(settings, args)
    if args.command != "imagine":
        return canvas_cli.run(settings, args)
    if image is None and any(p.image_weight is not None for p in prompts):
        print("error: --iw needs an image: give one with --image PATH", file=sys.stderr)
        return 2
    return asyncio.run(_imagine(settings, args.prompt, args.output, image, given))


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not WxH, e.g. 512x512") from None
    if width < 64 or height < 64 or width % 8 or height % 8:
        raise argparse.ArgumentTypeError("sides must be multiples of 8, at least 64")
    return width, height


def _bench(args: argparse.Namespace) -> int:
    with json_only(args.json):  # stdout the report's alone: jq reads it
        return _bench_run(args)


def _bench_run(args: argparse.Namespace) -> int:
    from bot.logs import configure_logging
    from devtools.bench import BenchOptions, run_bench
    from devtools.bench_report import format_report

    if args.filter:
        return _filter_bench(args.json)
    if args.scale:
        return _data_bench(args.json, args.sizes)
    if args.output_only:
        return _output_bench(args.json, args.rounds)

    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.rounds < 1:
        print("error: --rounds must be at least 1", file=sys.stderr)
        return 2
    if args.workers is not None and args.workers < 2 and args.engine != "ray":
        print(
            "error: --workers must be at least 2 (it compares N workers with one)", file=sys.stderr
        )
        return 2
    if args.jobs < 1 or args.users < 1 or args.users > args.jobs:
        print("error: --jobs and --users must be at least 1, users at most jobs", file=sys.stderr)
        return 2
    configure_logging("WARNING")
    options = BenchOptions(
        model=None if args.arch else (args.model or settings.model_id),
        arch=args.arch,
        size=args.size,
        steps=args.steps,
        jobs=args.jobs,
        users=args.users,
        device=args.device or settings.device,
        max_batch_images=args.max_batch_images or settings.max_batch_images,
        rounds=args.rounds,
        ray_address=settings.ray_address,
    )
    if args.engine == "ray" or args.workers:
        return _scale_bench(options, args.workers or 1, args.json, ray=args.engine == "ray")
    report = asyncio.run(run_bench(options))
    emit(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


def _scale_bench(options: BenchOptions, workers: int, as_json: bool, *, ray: bool) -> int:
    from devtools import scale_bench

    try:
        if ray:
            report = asyncio.run(scale_bench.run_ray_bench(options, workers))
            text = scale_bench.format_ray_report(report)
        else:
            report = asyncio.run(scale_bench.run_scale_bench(options, workers))
            text = scale_bench.format_scale_report(report)
    except ImportError as exc:
        print(
            f'error: --engine ray needs Ray ({exc.name}): pip install -e ".[ray]"', file=sys.stderr
        )
        return 2
    except ValueError as exc:  # more workers than devices or cores, no --model
        print(f"error: {exc}", file=sys.stderr)
        return 2
    emit(json.dumps(report, indent=2) if as_json else text)
    return 0


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not job counts, e.g. 10000,100000") from None
    if not sizes or min(sizes) < 1000:
        raise argparse.ArgumentTypeError("each size is at least 1000 jobs")
    return sizes


def _data_bench(as_json: bool, sizes: tuple[int, ...] | None) -> int:
    from devtools.bench_report import format_data_report
    from devtools.data_bench import SIZES, run_data_bench

    report = asyncio.run(run_data_bench(sizes or SIZES))
    emit(json.dumps(report, indent=2) if as_json else format_data_report(report))
    return 0


def _output_bench(as_json: bool, rounds: int) -> int:
    from devtools.output_bench import format_output_report, run_output_bench

    report = asyncio.run(run_output_bench(rounds=max(1, rounds)))
    emit(json.dumps(report, indent=2) if as_json else format_output_report(report))
    return 0


def _filter_bench(as_json: bool) -> int:
    from devtools.filter_bench import filter_benchmark

    report = filter_benchmark()
    if as_json:
        emit(json.dumps(report, indent=2))
    else:
        mb = 1024 * 1024
        slowest = max(report["filter_ms_by_prompt"].items(), key=lambda item: item[1])
        emit(
            f"blocked-word check: {report['prompts']} hostile prompts of "
            f"{report['prompt_chars']} characters against {report['entries']} entries\n"
            f"  per prompt: median {report['filter_ms_median']:.2f} ms, "
            f"worst {report['filter_ms_max']:.2f} ms; slowest prompt's median "
            f"{slowest[1]:.2f} ms ({slowest[0]}), {report['filter_steps_max']} steps at most\n"
            f"  compiling the list (once per change): {report['compile_ms']:.2f} ms, "
            f"{report['compiled_bytes'] / mb:.2f} MB; long phrases of letter runs "
            f"{report['compile_phrases_ms']:.2f} ms, "
            f"{report['compiled_phrases_bytes'] / mb:.2f} MB; "
            f"100 random characters each {report['compile_hostile_ms']:.2f} ms, "
            f"{report['compiled_hostile_bytes'] / mb:.2f} MB\n"
            f"  ordinary words: {report['ordinary_words_bytes'] / mb:.1f} MB"
        )
    return 0


def _tiny_model(directory: Path, family: str, seed: int, inpainting: bool = False) -> int:
    from bot.logs import configure_logging
    from devtools.tiny import write_tiny_model
    from devtools.tiny_dit import DIT_FAMILIES, write_tiny_dit_model

    configure_logging("WARNING")
    if inpainting and family != "sd":
        print("error: --inpainting makes an sd model only", file=sys.stderr)
        return 2
    if family == "describe":
        from devtools.tiny_describe import write_tiny_describe_model

        write_tiny_describe_model(directory, seed=seed)
        print(f"wrote a tiny Florence-2 to {directory} (use DESCRIBE_MODEL={directory})")
        return 0
    if family == "video":
        from devtools.tiny_video import write_tiny_video_model

        write_tiny_video_model(directory, seed=seed)
        print(f"wrote a tiny LTX-Video pipeline to {directory} (use VIDEO_MODEL={directory})")
        return 0
    if family in DIT_FAMILIES:
        write_tiny_dit_model(directory, family, seed=seed)  # type: ignore[arg-type]
    else:
        write_tiny_model(directory, family, seed=seed, inpainting=inpainting)  # type: ignore[arg-type]
    print(f"wrote a tiny {family} pipeline to {directory} (use MODEL_ID={directory})")
    return 0


def _tiny_lora(target: Path, family: str, seed: int) -> int:
    from bot.logs import configure_logging
    from devtools.tiny_lora import write_tiny_lora

    configure_logging("WARNING")
    if target.suffix != ".safetensors":  # a folder, made if need be: tiny-<family>.safetensors
        target.mkdir(parents=True, exist_ok=True)
    try:
        path = write_tiny_lora(target, family, seed=seed)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote a tiny {family} LoRA to {path} (for a tiny-model --family {family} model)")
    return 0


def _references(style: list[Path], omni: Path | None) -> GivenReferences | None:
    """``--sref PATH`` (up to 4) and ``--oref PATH``, read and checked before any model
    loads (``UserError`` saying what is wrong)."""
    from core.references import GivenReferences

    if len(style) > MAX_STYLE_REFS:
        raise UserError(f"--sref takes up to {MAX_STYLE_REFS} files (got {len(style)})")
    given = GivenReferences(
        tuple(image_cli.read_image(path) for path in style),
        None if omni is None else image_cli.read_image(omni),
    )
    return given or None


async def _imagine(
    settings: Settings,
    prompt: str,
    output: Path,
    image: bytes | None = None,
    given: GivenReferences | None = None,
) -> int:
    async def admit(services: Services, who: Requester) -> list[Job]:
        return await services.jobs.imagine_all(who, prompt, image, given)

    return await run_job(settings, admit, output)


if __name__ == "__main__":
    sys.exit(main())
