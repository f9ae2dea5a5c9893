"""Form widgets generated from a task's Params model: a new field appears in the UI with no UI code.

Each pydantic field becomes a :class:`WidgetSpec` (pure data, no gradio): its kind comes from the
type (Literal / enum -> dropdown, bool -> checkbox, a bounded number -> slider, other numbers -> a
number box, text -> textbox), its range from ``ge``/``le``/``gt``/``lt``, its help text from the
field's description and its value from the model's default. :func:`make_widget` turns a spec into
the gradio component; :func:`params_from_values` turns the submitted values back into params.
"""

from __future__ import annotations

import enum
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from annotated_types import Ge, Gt, Le, Lt, MaxLen
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from genserve.webui.i18n import Translator

# NOTE: a slider is only usable when its range is small enough to pick a value by dragging;
# wider ranges (seeds, durations up to 600 s) get a number box with the same bounds.
MAX_SLIDER_STEPS = 1000
LONG_TEXT = 200  # max_length above this: a multi-line textbox


@dataclass(frozen=True)
class WidgetSpec:
    name: str
    kind: str  # "dropdown" | "checkbox" | "slider" | "number" | "textbox"
    label: str
    info: str
    default: Any
    optional: bool = False  # None is allowed: an empty widget means "not set"
    choices: tuple[Any, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    integer: bool = False
    lines: int = 1
    extra: dict[str, Any] = field(default_factory=dict)


def label_of(name: str) -> str:
    return name.replace("_", " ").capitalize()


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0], len(args) < len(typing.get_args(annotation))
    return annotation, False


def _bounds(info: FieldInfo) -> tuple[float | None, float | None, int | None]:
    low = high = max_len = None
    for meta in info.metadata:
        if isinstance(meta, Ge):
            low = float(meta.ge)  # type: ignore[arg-type]
        elif isinstance(meta, Gt):
            low = float(meta.gt)  # type: ignore[arg-type]
        elif isinstance(meta, Le):
            high = float(meta.le)  # type: ignore[arg-type]
        elif isinstance(meta, Lt):
            high = float(meta.lt)  # type: ignore[arg-type]
        elif isinstance(meta, MaxLen):
            max_len = meta.max_length
    return low, high, max_len


def widget_spec(name: str, info: FieldInfo) -> WidgetSpec:
    """How one Params field is shown."""
    annotation, optional = _unwrap_optional(info.annotation)
    default = None if info.is_required() else info.get_default(call_default_factory=True)
    if isinstance(default, enum.Enum):
        default = default.value
    common: dict[str, Any] = {
        "name": name,
        "label": info.title or label_of(name),
        "info": info.description or "",
        "default": default,
        "optional": optional,
    }
    # 1. a fixed set of values: Literal[...] or an Enum
    if typing.get_origin(annotation) is typing.Literal:
        return WidgetSpec(kind="dropdown", choices=typing.get_args(annotation), **common)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return WidgetSpec(kind="dropdown", choices=tuple(m.value for m in annotation), **common)
    # 2. yes / no
    if annotation is bool:
        return WidgetSpec(kind="checkbox", **common)
    low, high, max_len = _bounds(info)
    # 3. numbers: a slider when bounded on both sides and not too fine-grained, else a number box
    if annotation in (int, float):
        integer = annotation is int
        step = 1.0 if integer else _float_step(low, high)
        if low is not None and high is not None and not optional and (high - low) / step <= MAX_SLIDER_STEPS:
            return WidgetSpec(kind="slider", minimum=low, maximum=high, step=step, integer=integer, **common)
        return WidgetSpec(kind="number", minimum=low, maximum=high, step=step, integer=integer, **common)
    # 4. text (and anything else, which the Params model then validates)
    lines = 3 if max_len is not None and max_len > LONG_TEXT else 1
    return WidgetSpec(kind="textbox", lines=lines, extra={"max_length": max_len}, **common)


def _float_step(low: float | None, high: float | None) -> float:
    if low is None or high is None:
        return 0.01
    span = high - low
    return 0.01 if span <= 5 else 0.1 if span <= 100 else 1.0


def form_specs(model: type[BaseModel]) -> list[WidgetSpec]:
    """One spec per field of ``model``, in declaration order."""
    return [widget_spec(name, info) for name, info in model.model_fields.items()]


def make_widget(spec: WidgetSpec, elem_prefix: str = "", t: Translator | None = None) -> Any:
    """The gradio component for ``spec`` (created inside the current Blocks context), its label
    and help text in ``t``'s language (the field's title and description are the catalogue keys)."""
    import gradio as gr

    t = t or Translator()
    elem_id = f"{elem_prefix}param-{spec.name}"
    common: dict[str, Any] = {"label": t(spec.label), "info": t(spec.info), "elem_id": elem_id}
    if spec.kind == "dropdown":
        return gr.Dropdown(choices=list(spec.choices), value=spec.default, **common)
    if spec.kind == "checkbox":
        return gr.Checkbox(value=bool(spec.default), **common)
    if spec.kind == "slider":
        assert spec.minimum is not None and spec.maximum is not None
        return gr.Slider(
            minimum=spec.minimum, maximum=spec.maximum, step=spec.step, value=spec.default, **common
        )
    if spec.kind == "number" and spec.optional:
        # NOTE: gr.Number shows (and returns) 0 for an empty value; an optional number ("empty =
        # random seed") needs a box that can stay empty. The Params model converts the text.
        return gr.Textbox(
            value="" if spec.default is None else str(spec.default),
            placeholder=t("{range} (empty = not set)", range=_range_hint(spec, t)),
            **common,
        )
    if spec.kind == "number":
        return gr.Number(
            value=spec.default,
            minimum=spec.minimum,
            maximum=spec.maximum,
            step=spec.step or 1.0,
            precision=0 if spec.integer else None,
            **common,
        )
    return gr.Textbox(
        value=spec.default or "", lines=spec.lines, max_length=spec.extra.get("max_length"), **common
    )


def params_from_values(specs: list[WidgetSpec], values: list[Any] | tuple[Any, ...]) -> dict[str, Any]:
    """The submitted widget values as raw params, only those that differ from the defaults (the job
    records what the user chose, and a backend warns only about parameters it was really given).
    Empty optional fields are left out; whole numbers of integer fields become ints; the Params
    model validates the rest."""
    params: dict[str, Any] = {}
    for spec, value in zip(specs, values, strict=True):
        if isinstance(value, str) and spec.kind == "number":
            value = value.strip()
        empty = value is None or (value == "" and spec.kind != "textbox")
        if empty and (spec.optional or spec.kind == "number"):
            continue
        if spec.integer and isinstance(value, float) and value.is_integer():
            value = int(value)
        if _same(value, spec.default):
            continue
        params[spec.name] = value
    return params


def _same(value: Any, default: Any) -> bool:
    number = (int, float)
    if isinstance(value, bool) or isinstance(default, bool):
        return value is default
    if isinstance(value, number) and isinstance(default, number):
        return float(value) == float(default)
    return bool(value == default)


def _range_hint(spec: WidgetSpec, t: Translator) -> str:
    def show(v: float | None) -> str:
        return "" if v is None else str(int(v)) if spec.integer else f"{v:g}"

    if spec.minimum is not None and spec.maximum is not None:
        return t("{low} to {high}", low=show(spec.minimum), high=show(spec.maximum))
    if spec.minimum is not None:
        return t("at least {low}", low=show(spec.minimum))
    return t("a number")


def values_from_params(specs: list[WidgetSpec], params: dict[str, Any]) -> list[Any]:
    """Widget values for ``params`` (a preset, a suggestion, a past job); missing ones get defaults."""
    values = []
    for spec in specs:
        value = params.get(spec.name, spec.default)
        if spec.kind == "number" and spec.optional:  # shown in a textbox (see make_widget)
            value = "" if value is None else str(value)
        values.append(value)
    return values
