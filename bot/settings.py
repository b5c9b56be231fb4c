"""Settings from the environment or ``.env``: one object, built once, passed down."""

from __future__ import annotations

import contextlib
import ipaddress
import re
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_NSFW_MODEL = "Falconsai/nsfw_image_detection"
# Florence-2 base (0.23 B parameters, MIT): transformers runs it natively (no remote code),
# about 0.5 GB in half precision, beside any image model on one GPU.
DEFAULT_DESCRIBE_MODEL = "florence-community/Florence-2-base"
# h94/IP-Adapter (Apache-2.0): SD 1.5 and SDXL adapters, plain and Plus, with the ViT-H
# image encoder they share (engine.references reads this layout).
DEFAULT_IP_ADAPTER = "h94/IP-Adapter"
DEFAULT_MEDIA_HOSTS = "cdn.discordapp.com,media.discordapp.net"
# LTX-Video 0.9.8 13B distilled (engine.video): 8 steps, 480p clips in seconds on one
# large GPU; loaded by a worker when a clip first needs it. "off": no Animate.
DEFAULT_VIDEO_MODEL = "Lightricks/LTX-Video-0.9.8-13B-distilled"


class SettingsError(Exception):
    """A missing or invalid setting; the message names it in one line."""


class Settings(BaseSettings):
    """Every setting of the product (see ``.env.example``)."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        case_sensitive=False,
        extra="ignore",
    )

    discord_token: SecretStr | None = None
    model_id: str = "stabilityai/sdxl-turbo"
    device: str = "auto"
    engine: Literal["local", "ray"] = "local"
    ray_address: str = ""
    ray_replicas: int = Field(1, ge=1, le=64)
    data_dir: Path = Path("./data")
    dev_guild_id: int | None = None
    owner_ids: str = ""
    admin_role_id: int | None = None
    daily_quota: int = Field(50, ge=0)
    global_daily_quota: int = Field(200, ge=0)
    max_blocked_words: int = Field(500, ge=1)
    max_queued_per_user: int = Field(5, ge=1)
    max_queue: int = Field(200, ge=1)
    max_steps: int = Field(50, ge=1, le=500)
    max_batch_images: int | None = Field(None, ge=1)
    max_upscale_side: int = Field(2048, ge=128)
    nsfw_filter: Literal["off", "blur", "block"] = "blur"
    nsfw_model: str = DEFAULT_NSFW_MODEL
    nsfw_threshold: float = Field(0.5, ge=0.0, le=1.0)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    models: str = ""
    model_memory_gb: float | None = Field(None, gt=0)
    lora_dir: Path | None = None
    describe_model: str = DEFAULT_DESCRIBE_MODEL
    ip_adapter_sd: str = DEFAULT_IP_ADAPTER
    ip_adapter_sdxl: str = DEFAULT_IP_ADAPTER
    media_hosts: str = DEFAULT_MEDIA_HOSTS
    video_model: str = DEFAULT_VIDEO_MODEL
    video_cost: int = Field(8, ge=1, le=100)
    fast_minutes_daily: float = Field(30.0, ge=0)
    global_fast_minutes_daily: float = Field(120.0, ge=0)
    relax: Literal["on", "off"] = "on"
    max_relax_per_user: int = Field(2, ge=1)
    metrics_port: int | None = Field(None, ge=1, le=65535)  # None: no metrics served
    metrics_host: str = "127.0.0.1"
    keep_images_days: int = Field(0, ge=0)

    @field_validator("media_hosts")
    @classmethod
    def _check_media_hosts(cls, value: str) -> str:
        parse_hosts(value)
        return value

    @field_validator("metrics_host")
    @classmethod
    def _check_metrics_host(cls, value: str) -> str:
        host = value.strip()
        with contextlib.suppress(ValueError):
            return str(ipaddress.ip_address(host))
        if not _HOST_NAME.fullmatch(host.lower()):
            raise ValueError("must be an IP address (127.0.0.1, 0.0.0.0, ::1) or a host name")
        return host

    @field_validator("models")
    @classmethod
    def _check_models(cls, value: str) -> str:
        parse_models(value)
        return value

    @field_validator("device")
    @classmethod
    def _check_device(cls, value: str) -> str:
        parts = [part.strip() for part in value.strip().lower().split(",")]
        single = {"auto", "cpu", "cuda", "mps", "cuda:all"}
        for part in parts:
            if part not in single and not (part.startswith("cuda:") and part[5:].isdigit()):
                raise ValueError(
                    "must be auto, cuda, cuda:N, mps or cpu, a comma list of cuda:N, or cuda:all"
                )
        if len(parts) > 1 and not all(p.startswith("cuda:") and p[5:].isdigit() for p in parts):
            raise ValueError("a list names GPUs: cuda:0,cuda:1 (or use cuda:all)")
        if len(set(parts)) != len(parts):
            raise ValueError("names a GPU twice: one worker per GPU")
        return ",".join(parts)

    @field_validator("owner_ids")
    @classmethod
    def _check_owner_ids(cls, value: str) -> str:
        for part in value.split(","):
            if part.strip() and not part.strip().isdigit():
                raise ValueError("must be comma-separated user ids")
        return value

    @field_validator("engine", mode="before")
    @classmethod
    def _lower_engine(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator(
        "dev_guild_id",
        "admin_role_id",
        "max_batch_images",
        "model_memory_gb",
        "lora_dir",
        "metrics_port",
        mode="before",
    )
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def owner_id_set(self) -> frozenset[int]:
        """``OWNER_IDS`` as ints."""
        return frozenset(int(p) for p in self.owner_ids.split(",") if p.strip())

    def devices(self) -> list[str]:
        """One device per worker: ``DEVICE`` as a list, ``cuda:all`` as every visible GPU
        (a ``SettingsError`` when there is none)."""
        if self.device != "cuda:all":
            return self.device.split(",")
        import torch

        count = torch.cuda.device_count()
        if count == 0:
            raise SettingsError("DEVICE=cuda:all but no CUDA GPU is visible to the bot")
        return [f"cuda:{index}" for index in range(count)]

    def model_sources(self) -> tuple[dict[str, str], str]:
        """Every model offered, alias -> source (``MODELS``, with ``MODEL_ID`` among them),
        and the default's alias: ``MODEL_ID`` itself when it is an alias in ``MODELS``, the
        alias ``MODELS`` gives the same source, else ``default``."""
        listed = parse_models(self.models)
        wanted = self.model_id.strip()
        if wanted in listed:
            return listed, wanted
        same = [alias for alias, source in listed.items() if source == wanted]
        if same:
            return listed, same[0]
        return {DEFAULT_ALIAS: wanted, **listed}, DEFAULT_ALIAS

    def ip_adapters(self) -> dict[str, str]:
        """The IP-Adapter source of each family that has one (``off``: none)."""
        sources = {"sd": self.ip_adapter_sd.strip(), "sdxl": self.ip_adapter_sdxl.strip()}
        return {family: source for family, source in sources.items() if source.lower() != "off"}

    @property
    def media_host_set(self) -> frozenset[str]:
        """``MEDIA_HOSTS`` as lowercase ``host`` or ``host:port`` names."""
        return parse_hosts(self.media_hosts)

    def batch_images(self, device: str) -> int:
        """``MAX_BATCH_IMAGES``, or its default for the device (16 on CUDA, 8 elsewhere)."""
        from engine import default_batch_images

        if self.max_batch_images is not None:
            return self.max_batch_images
        return default_batch_images(device)

    def require_token(self) -> str:
        """The bot token, or a ``SettingsError`` naming ``DISCORD_TOKEN``."""
        token = self.discord_token.get_secret_value().strip() if self.discord_token else ""
        if not token:
            raise SettingsError(
                "DISCORD_TOKEN is not set: put the bot token in the environment or .env"
            )
        return token


DEFAULT_ALIAS = "default"  # MODEL_ID's alias when MODELS gives it none
VIDEO_ALIAS = "video"  # VIDEO_MODEL's, on the workers (engine.clip_jobs.VIDEO_ALIAS)
MAX_MODELS = 16
_ALIAS = re.compile(r"[a-z0-9][a-z0-9._-]{0,31}")


def parse_models(value: str) -> dict[str, str]:
    """``MODELS`` (``alias=source,alias=source``) as alias -> source, in order; a
    ``ValueError`` that says what is wrong."""
    models: dict[str, str] = {}
    for part in (p.strip() for p in value.split(",")):
        if not part:
            continue
        alias, sep, source = (x.strip() for x in part.partition("="))
        if not sep or not source:
            raise ValueError(f"{part!r} is not alias=model (turbo=stabilityai/sdxl-turbo)")
        if not _ALIAS.fullmatch(alias):
            raise ValueError(
                f"alias {alias!r}: lowercase letters, digits, '.', '_' or '-', at most 32"
            )
        if alias == DEFAULT_ALIAS:
            raise ValueError(f"the alias {DEFAULT_ALIAS!r} is MODEL_ID's: choose another")
        if alias == VIDEO_ALIAS:
            raise ValueError(f"the alias {VIDEO_ALIAS!r} is VIDEO_MODEL's: choose another")
        if alias in models:
            raise ValueError(f"the alias {alias!r} is given twice")
        twice = [a for a, s in models.items() if s == source]
        if twice:
            raise ValueError(f"{source!r} is named twice ({twice[0]} and {alias})")
        models[alias] = source
    if len(models) > MAX_MODELS:
        raise ValueError(f"at most {MAX_MODELS} models (got {len(models)})")
    return models


_HOST_NAME = re.compile(r"[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?")  # METRICS_HOST's, no port
_HOST = re.compile(r"[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?(:[0-9]{1,5})?")


def parse_hosts(value: str) -> frozenset[str]:
    """``MEDIA_HOSTS`` (``host[:port],...``) as a set; a ``ValueError`` for anything else
    (a scheme, a path, a wildcard)."""
    hosts = {part.strip().lower() for part in value.split(",") if part.strip()}
    for host in hosts:
        if not _HOST.fullmatch(host):
            raise ValueError(f"{host!r} is not a host name (cdn.discordapp.com, host:port)")
    return frozenset(hosts)


def load_settings(**overrides: object) -> Settings:
    """Build the settings; an invalid one raises ``SettingsError`` naming it in one line."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]).upper() if error.get("loc") else "settings"
        value = error.get("input")
        shown = "" if "token" in name.lower() else f" (got {value!r})"
        raise SettingsError(f"invalid setting {name}: {error['msg']}{shown}") from None
