"""A running clip's preview frame (engine/video_preview.py): the latent-to-RGB map fitted to
the model's own VAE, and previews in a clip's progress through the real engine and the tiny
LTX-Video loaded from disk."""

from __future__ import annotations

import functools
from types import SimpleNamespace

import pytest
import torch
from PIL import Image

from engine import VIDEO_ALIAS, Engine, JobSpec, Progress, VideoOffer
from engine.handle import JobStarted
from engine.resident import Resident
from engine.video import ClipPlan, load_video_model
from engine.video_preview import clip_preview, fit_projection, projection


class LinearVae(torch.nn.Module):
    """A VAE whose latent pixel is a known linear map of its patch's mean colour (plus a
    per-channel offset), normalised with a mean and a standard deviation as LTX-Video's
    is: the fitted map must invert it exactly."""

    spatial_compression_ratio = 4

    def __init__(self, channels: int = 6) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(3)
        self.mix = torch.nn.Parameter(torch.randn(channels, 3, generator=generator))
        self.offset = torch.randn(channels, generator=generator)
        self.latents_mean = torch.randn(channels, generator=generator)
        self.latents_std = torch.rand(channels, generator=generator) + 0.5
        self.config = SimpleNamespace(scaling_factor=0.7)

    def encode(self, video: torch.Tensor) -> SimpleNamespace:
        scale = self.spatial_compression_ratio
        means = torch.nn.functional.avg_pool3d(video, (1, scale, scale))  # B x 3 x F x h x w
        latents = torch.einsum("cr,brfhw->bcfhw", self.mix, means)
        latents = latents + self.offset.view(1, -1, 1, 1, 1)
        return SimpleNamespace(latent_dist=SimpleNamespace(mode=lambda: latents))

    def normalised(self, rgb: tuple[float, float, float]) -> torch.Tensor:
        """What the pipeline would hold for a flat patch of ``rgb`` (in [-1, 1])."""
        latent = self.mix @ torch.tensor(rgb) + self.offset
        return (latent - self.latents_mean) / self.latents_std


def test_the_fitted_map_inverts_a_linear_vae_on_colours_it_never_saw():
    vae = LinearVae()
    factors, bias = fit_projection(vae)
    assert factors.shape == (6, 3) and bias.shape == (3,)
    for rgb in [(1.0, -1.0, -1.0), (-1.0, 1.0, -1.0), (0.25, 0.5, -0.75), (0.0, 0.0, 0.0)]:
        got = vae.normalised(rgb).detach() @ factors + bias
        assert torch.allclose(got, torch.tensor(rgb), atol=0.02), (rgb, got)


def test_the_map_is_fitted_once_per_vae():
    vae = LinearVae()
    assert projection(vae) is projection(vae)
    assert projection(LinearVae()) is not projection(vae)


def test_a_vae_that_cannot_be_fitted_turns_previews_off_not_the_clip(caplog):
    """The fit runs in the middle of a clip's call: if it fails (out of memory beside the
    model, say), the clip goes on without previews, and the fit is not tried each step."""
    vae, calls = LinearVae(), []

    def failing(video):
        calls.append(1)
        raise RuntimeError("CUDA out of memory")

    vae.encode = failing
    pipe = SimpleNamespace(
        vae=vae, vae_spatial_compression_ratio=4, vae_temporal_compression_ratio=8
    )
    packed = torch.zeros(2 * 2 * 2, 6)  # 2 latent frames of 2x2, 6 channels
    assert clip_preview(pipe, packed, 8, 8, 9) is None
    assert clip_preview(pipe, packed, 8, 8, 9) is None
    assert calls == [1]
    assert any("clip previews are off" in r.getMessage() for r in caplog.records)


@pytest.fixture(scope="module")
def video_dir(tmp_path_factory):
    from devtools.tiny_video import write_tiny_video_model

    return write_tiny_video_model(tmp_path_factory.mktemp("video") / "tiny-video")


async def test_a_running_clip_reports_previews_of_its_shape(sd_model, video_dir, tmp_path):
    source = tmp_path / "source.png"
    Image.new("RGB", (64, 96), (200, 40, 40)).save(source)
    resident = Resident.single(sd_model)
    resident.loaders[VIDEO_ALIAS] = functools.partial(
        load_video_model, str(video_dir), "cpu", place=False
    )
    resident.video = VideoOffer.of(str(video_dir))
    plan = ClipPlan(source, "a fox runs", width=64, height=96, frames=17, steps=3, seed=2)
    spec = JobSpec(
        job_id=1, prompt="a fox runs", negative="", width=64, height=96, steps=3,
        guidance=1.0, seed=2, num_images=1, model=VIDEO_ALIAS, clip=plan,
    )  # fmt: skip
    progress: list[Progress] = []
    async with Engine(resident, preview_interval=0.0, progress_interval=0.0) as engine:
        handle = engine.submit(spec)
        async for update in handle.events():
            if not isinstance(update, JobStarted):
                progress.append(update)
        output = await handle
    assert output.clip.shape == (17, 96, 64, 3)
    previews = [p.preview for p in progress if p.preview is not None]
    # Every step but the last has one (the last is the clip itself).
    assert [p.step for p in progress if p.preview is not None] == [1, 2]
    assert all(isinstance(p, Image.Image) for p in previews)
    assert {p.size for p in previews} == {(171, 256)}  # the clip's 2:3, at 256 px
    first, second = (torch.tensor(list(p.getdata()), dtype=torch.float32) for p in previews)
    assert (first - second).abs().mean() > 0, "each preview shows its own step"
