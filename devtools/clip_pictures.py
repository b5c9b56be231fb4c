"""The README's picture of Animate: a few frames of a clip made from a drawing.

``python -m devtools.clip_pictures docs/animate [--model DIR]``: draws a picture with
Pillow (a house under a sun), animates it through the video model (``engine.video``, as
the Animate button does: the drawing held at the first frame, low motion) and writes
``frames.png``: the drawing, then frames of the clip side by side, each labelled. Without
``--model`` a tiny random-weight LTX-Video is built here: it paints noise after the first
frame (which the pipeline holds to the drawing through its VAE), so the picture shows the
path and the clip's shape, not a real model's motion.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from devtools.pictures import GAP, LABEL_HEIGHT, drawing
from engine import encode_png

SHOWN = 5  # frames in the strip


def strip(
    source: Image.Image, frames: list[Image.Image], fps: int, height: int = 160
) -> Image.Image:
    """The source, then ``frames`` (evenly spaced through the clip), labelled with times."""
    font = ImageFont.load_default(size=13)
    picked = [frames[round(i * (len(frames) - 1) / (SHOWN - 1))] for i in range(SHOWN)]
    times = [round(i * (len(frames) - 1) / (SHOWN - 1)) / fps for i in range(SHOWN)]
    panels = [("drawing", source)] + [(f"{t:.1f} s", f) for t, f in zip(times, picked, strict=True)]
    scaled = [
        (label, im.resize((round(im.width * height / im.height), height))) for label, im in panels
    ]
    width = sum(image.width for _, image in scaled) + GAP * (len(scaled) + 1)
    out = Image.new("RGB", (width, height + LABEL_HEIGHT + GAP), (255, 255, 255))
    draw = ImageDraw.Draw(out)
    x = GAP
    for label, image in scaled:
        out.paste(image, (x, GAP))
        draw.text((x, GAP + height + 3), label, fill=(60, 60, 60), font=font)
        x += image.width + GAP
    return out


def make_picture(directory: Path, model_id: str) -> Path:
    """Animate the drawing on ``model_id``; write and return ``frames.png``."""
    from core.clips import clip_size
    from engine.clip_jobs import VideoOffer
    from engine.video import ClipPlan, load_video_model, run_clip

    directory.mkdir(parents=True, exist_ok=True)
    offer = VideoOffer.of(model_id)
    source = drawing(clip_size(3, 2, offer.defaults.native_size))  # as Animate sizes a clip
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "source.png"
        path.write_bytes(encode_png(source))
        plan = ClipPlan(
            source=path,
            prompt="a red house under a yellow sun, a light wind in the grass",
            width=source.width,
            height=source.height,
            frames=offer.frames,
            fps=offer.fps,
            steps=offer.defaults.steps,
            guidance=offer.defaults.guidance,
            seed=7,
        )
        frames = run_clip(load_video_model(model_id, "auto"), plan)
    shown = [Image.fromarray(frame) for frame in frames]
    out = directory / "frames.png"
    out.write_bytes(encode_png(strip(source, shown, offer.fps)))
    return out


def main(argv: list[str] | None = None) -> int:
    """Write the picture to the directory given."""
    parser = argparse.ArgumentParser(prog="python -m devtools.clip_pictures", description=__doc__)
    parser.add_argument("directory", type=Path)
    parser.add_argument("--model", help="an LTX-Video folder or hub id (default: a tiny one)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        model_id = args.model
        if model_id is None:
            from devtools.tiny_video import write_tiny_video_model

            model_id = str(write_tiny_video_model(Path(tmp) / "tiny-video"))
        print(make_picture(args.directory, model_id))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
