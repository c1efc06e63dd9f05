"""Command-line options generated from a settings model: each setting declared once.

A field of a pydantic settings model (``ServeSettings``) becomes a Typer option with
its name, type and help; its default stays the model's, so an option left out yields
to the field's environment variable, then to its default. A field names its option in
``json_schema_extra={"cli": "--rate-limit"}`` (``"--log/--no-log"`` for a switch);
without one the option is the field's name in kebab case without a unit suffix
(``poll_interval_s`` → ``--poll-interval``); ``{"cli": None}`` keeps a field off the
command line.

:func:`setting_options_of` marks a command instead, naming its model by import path:
the options are added by :func:`resolve_setting_options` when the command is built, so
listing the commands (``modelcycle --help``) imports neither the model nor pydantic.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Annotated, Any, get_args, get_origin

import typer

from modelcycle.core import ValidationError

if TYPE_CHECKING:
    from pydantic import BaseModel
    from pydantic.fields import FieldInfo

#: The attribute of a command function that names its settings model (see below).
SETTINGS_MARK = "__modelcycle_setting_options__"


def option_name(name: str, field: FieldInfo) -> str | None:
    """The option that sets field ``name`` (``None``: not on the command line)."""
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    if "cli" in extra:
        declared = extra["cli"]
        return None if declared is None else str(declared)
    stem = (name.removesuffix("_s") if name.endswith("_s") else name).replace("_", "-")
    return f"--{stem}/--no-{stem}" if field.annotation is bool else f"--{stem}"


def setting_options(model: type[BaseModel]) -> dict[str, str]:
    """``{field: option}`` for every field of ``model`` on the command line."""
    found = {name: option_name(name, field) for name, field in model.model_fields.items()}
    return {name: option for name, option in found.items() if option is not None}


def _parameter(name: str, field: FieldInfo, option: str) -> inspect.Parameter:
    kind = field.annotation
    many = get_origin(kind) is tuple
    shown = "/".join(f"{v}" for v in get_args(kind)) if "Literal" in str(kind) else None
    help_text = field.description or ""
    if shown:
        help_text += f" One of: {shown}."
    option_type: Any = list[str] if many else _plain(kind)
    info = typer.Option(
        option,
        help=help_text,
        show_default=_default_text(field),
        metavar=name.upper() if many else None,
    )
    return inspect.Parameter(
        name,
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[option_type | None, info],
    )


def _plain(kind: Any) -> Any:
    if kind in (int, float, bool, str):
        return kind
    args = [a for a in get_args(kind) if a is not type(None)]
    if len(args) == 1 and args[0] in (int, float, bool, str):
        return args[0]
    return str  # a Literal, or anything else pydantic parses from text


def _default_text(field: FieldInfo) -> str | bool:
    default = field.default
    if default in (None, ()):
        return False
    return str(default).lower() if isinstance(default, bool) else str(default)


def with_setting_options(
    model: type[BaseModel], *, exclude: tuple[str, ...] = ()
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Add an option for every command-line field of ``model`` to a command function.

    The function takes them as keyword arguments (``None`` when not given); build the
    settings with :func:`settings_from`.
    """

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(function, eval_str=True)
        own = [p for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
        added = [
            _parameter(name, model.model_fields[name], option)
            for name, option in setting_options(model).items()
            if name not in exclude
        ]
        function.__signature__ = signature.replace(parameters=[*own, *added])  # type: ignore[attr-defined]
        function.__annotations__ = {
            **{p.name: p.annotation for p in [*own, *added]},
            "return": signature.return_annotation,
        }
        return function

    return decorate


def setting_options_of(
    model: str, *, exclude: tuple[str, ...] = ()
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a command function to get the options of ``model`` (``"module:Class"``).

    The function is left as it is until :func:`resolve_setting_options` adds the options
    (then as :func:`with_setting_options` does): importing the command's module stays
    cheap.
    """

    def mark(function: Callable[..., Any]) -> Callable[..., Any]:
        setattr(function, SETTINGS_MARK, (model, exclude))
        return function

    return mark


def resolve_setting_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` with the options its :func:`setting_options_of` mark names (once)."""
    marked = function.__dict__.pop(SETTINGS_MARK, None)
    if marked is None:
        return function
    path, exclude = marked
    module, name = path.split(":")
    model = getattr(importlib.import_module(module), name)
    return with_setting_options(model, exclude=exclude)(function)


def settings_from(model: type[BaseModel], given: Mapping[str, Any], **values: Any) -> Any:
    """``model`` built from the options given (``None`` ones left to env and defaults).

    Raises
    ------
    ValidationError
        A value is refused; the message names the option and the rule.
    """
    from pydantic import ValidationError as PydanticValidationError

    options = setting_options(model)
    chosen = {name: value for name, value in given.items() if value is not None}
    chosen = {k: tuple(v) if isinstance(v, list) else v for k, v in chosen.items()}
    try:
        return model(**chosen, **values)
    except PydanticValidationError as exc:
        problems = "; ".join(
            f"{options.get(str(e['loc'][0]), str(e['loc'][0])).split('/')[0]}: {e['msg']}"
            for e in exc.errors()
        )
        raise ValidationError(f"options are not valid: {problems}") from None
