"""The actions of the job buttons, as their custom ids carry them (``core.model`` re-exports
``Action``)."""

from __future__ import annotations

import enum


class Action(enum.StrEnum):
    """Button actions as they appear in custom ids (``action:job:index``)."""

    UPSCALE = "u"
    VARY_STRONG = "v"
    VARY_SUBTLE = "s"
    UPSCALE_CREATIVE = "c"
    REROLL = "r"
    ZOOM_OUT_2 = "z"
    ZOOM_OUT_1_5 = "y"
    PAN_LEFT = "a"  # not vi's h: "h:..." is /history's
    # j k l: down, up, right, as in vi
    PAN_DOWN = "j"
    PAN_UP = "k"
    PAN_RIGHT = "l"
    VARY_REGION = "g"  # opens the region picker
    CUSTOM_ZOOM = "m"  # opens the Custom Zoom form
    CANCEL = "x"
    ANIMATE_LOW = "i"  # Animate (Low motion), on an upscaled image
    ANIMATE_HIGH = "o"  # Animate (High motion)
    EXTEND_LOW = "e"  # Extend (Low motion), on a clip
    EXTEND_HIGH = "t"  # Extend (High motion)
    ENHANCE = "n"  # E1-E4, on a draft grid

    @property
    def motion(self) -> str | None:
        """The motion of an Animate or Extend button."""
        low = (Action.ANIMATE_LOW, Action.EXTEND_LOW)
        high = (Action.ANIMATE_HIGH, Action.EXTEND_HIGH)
        return "low" if self in low else "high" if self in high else None

    @property
    def zoom(self) -> float | None:
        """The zoom-out factor of a zoom button."""
        return {Action.ZOOM_OUT_2: 2.0, Action.ZOOM_OUT_1_5: 1.5}.get(self)

    @property
    def pan(self) -> str | None:
        """The direction of a pan button."""
        return {
            Action.PAN_LEFT: "left",
            Action.PAN_DOWN: "down",
            Action.PAN_UP: "up",
            Action.PAN_RIGHT: "right",
        }.get(self)

    @property
    def starts_a_job(self) -> bool:
        """Pressing it starts a child job at once (with remix off): all but Cancel and
        the two that open a form first (Vary (Region), Custom Zoom)."""
        return self not in (Action.CANCEL, Action.VARY_REGION, Action.CUSTOM_ZOOM)

    @property
    def remixable(self) -> bool:
        """With remix on, it first opens a form to edit the prompt: the buttons that make
        new images from the prompt (not the upscales, which keep the image)."""
        keeps = (Action.UPSCALE, Action.UPSCALE_CREATIVE, Action.ENHANCE)  # the image as it is
        return self.starts_a_job and self not in keeps
