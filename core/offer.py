"""Which model and LoRAs a job runs: what a member asks for (``--model``, ``--lora``,
``/settings model``), or a button's parent, checked against what the bot offers
(``MODELS``, ``LORA_DIR``) with a message that lists what it does offer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.derive import refuse_unsupported
from core.errors import BadParameter, UnknownJob, UserError
from core.model import Job, OfferedLora, OfferedModel
from core.prompt import ParsedPrompt

if TYPE_CHECKING:
    from engine import Engine, Model

LISTED = 20  # names a refusal lists at most


def _names(names: list[str]) -> str:
    shown = ", ".join(f"`{name}`" for name in names[:LISTED])
    return shown + (f" and {len(names) - LISTED} more" if len(names) > LISTED else "")


def model_for(engine: Engine, asked: str | None, mine: dict[str, Any]) -> tuple[str, Model]:
    """The alias and model of a new /imagine: ``--model`` (``asked``), else the member's
    ``/settings model``, else the default; a model not offered is refused."""
    if asked is not None:
        if asked not in engine.models:
            if len(engine.models) == 1:
                offers = "This bot offers one model: remove `--model`."
            else:
                offers = f"This bot offers {_names(list(engine.models))}."
            raise BadParameter("--model", f"`--model {asked}` is not a model here. {offers}")
        return asked, engine.models[asked]
    saved = mine.get("model")
    if saved is None:
        return engine.default_model, engine.model
    if saved not in engine.models:
        raise UserError(
            f"Your `/settings model` ({saved}) is no longer offered here: choose another "
            f"({_names(list(engine.models))}) with `/settings model`, or `/settings reset`."
        )
    return saved, engine.models[saved]


def for_prompts(
    engine: Engine, prompts: list[ParsedPrompt], mine: dict[str, Any]
) -> list[tuple[Model, tuple[tuple[str, float], ...], str]]:
    """Each /imagine prompt's model (``model_for``), LoRAs (``loras_for``) and negative
    (its ``--no``, else the member's saved one where the family takes one), what its
    family cannot do refused."""
    chosen = []
    for parsed in prompts:
        alias, model = model_for(engine, parsed.model, mine)
        refuse_unsupported([parsed], model.defaults, _named(engine, alias))
        negative = parsed.negative
        if negative is None:
            negative = mine.get("negative", "") if model.defaults.negative else ""
        chosen.append((model, loras_for(engine, parsed.loras, alias, model), negative))
    return chosen


def check_form(engine: Engine, parent: Job, parsed: ParsedPrompt) -> None:
    """A form's text (remix, Custom Zoom, Vary (Region)) keeps the parent's model and
    LoRAs, and what their family cannot do is refused."""
    if parsed.model is not None or parsed.loras:
        name = "--model" if parsed.model is not None else "--lora"
        raise BadParameter(
            name,
            f"A new image from a button keeps its job's model and LoRAs: remove "
            f"`{name}`, or start a new /imagine with it.",
        )
    typed = {"--sref": parsed.style_refs, "--sw": parsed.style_weight}
    typed |= {"--oref": parsed.omni_ref, "--ow": parsed.omni_weight}
    for name, value in typed.items():
        if value:
            raise BadParameter(
                name,
                f"A new image from a button keeps its job's references: remove `{name}`, "
                "or start a new /imagine with it.",
            )
    alias, model = parent_model(engine, parent)
    refuse_unsupported([parsed], model.defaults, _named(engine, alias))


def _named(engine: Engine, alias: str) -> str:
    """How a refusal names a model: by its alias where the bot offers several."""
    return alias if len(engine.models) > 1 else ""


def parent_model(engine: Engine, parent: Job) -> tuple[str, Model]:
    """The alias and model of a button's job: its parent's (children keep their model)."""
    alias = engine.alias_of(parent.params.model)
    if alias is None:
        raise UnknownJob(
            f"Job {parent.id} was made with a model this bot no longer offers "
            f"({parent.params.model}); start a new /imagine."
        )
    gone = [name for name, _ in parent.params.loras if name not in engine.loras]
    if gone:
        raise UnknownJob(
            f"Job {parent.id} was made with a LoRA this bot no longer offers "
            f"({gone[0]}); start a new /imagine."
        )
    return alias, engine.models[alias]


def loras_for(
    engine: Engine, asked: tuple[tuple[str, float], ...], alias: str, model: Model
) -> tuple[tuple[str, float], ...]:
    """``--lora`` checked: each one in ``LORA_DIR`` and of the model's family (a LoRA
    changes a model's layers; another family's do not fit)."""
    from engine import base_family

    family = base_family(model.defaults.family)
    for name, _ in asked:
        lora = engine.loras.get(name)
        if lora is None:
            offers = (
                f"This bot offers {_names(sorted(engine.loras))}."
                if engine.loras
                else "This bot offers none."
            )
            raise BadParameter("--lora", f"`{name}` is not a LoRA here. {offers}")
        if lora.family != family:
            raise BadParameter(
                "--lora",
                f"The LoRA `{name}` is for {lora.family} models, and `{alias}` is of the "
                f"{model.defaults.family} family: choose a LoRA for it, or another "
                "`--model`.",
            )
    return asked


def alias_shown(engine: Engine, job: Job) -> str | None:
    """The alias a job's message names: None for the default model's jobs."""
    alias = engine.alias_of(job.params.model)
    if alias == engine.default_model:
        return None
    return alias or job.params.model or None


def offered(engine: Engine) -> tuple[list[OfferedModel], list[OfferedLora]]:
    """What /info lists: every model (alias, name, family, default steps; the default
    first) and every LoRA (name, family)."""
    models = [
        OfferedModel(
            alias, m.name, m.defaults.family, m.defaults.steps, alias == engine.default_model
        )
        for alias, m in sorted(engine.models.items(), key=lambda i: i[0] != engine.default_model)
    ]
    loras = [OfferedLora(name, lora.family) for name, lora in sorted(engine.loras.items())]
    return models, loras
