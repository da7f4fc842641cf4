"""Expert Advisor templates: list them, check the trader's parameter values, render the source.

A template is ``resources/mql5/templates/<id>.mq5`` with ``{{key}}`` placeholders, and beside it
``<id>.json``::

    {"name": "...", "description": "...",
     "parameters": [{"key": "fast_period", "label": "Fast MA period", "type": "int",
                     "default": 10, "min": 1, "max": 500}, ...],
     "constraints": [{"left": "fast_period", "op": "<", "right": "slow_period",
                      "message": "The fast period must be shorter than the slow period."}]}

Types are ``int``, ``double``, ``string`` (``min``/``max`` bound its length), ``bool`` and
``enum`` (``choices``: MQL5 constants with a label each). A placeholder becomes an MQL5 literal
of its parameter's type, so the rendered file compiles as it stands.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from tnm_desktop.ea.config_files import input_text
from tnm_desktop.errors import UserError
from tnm_desktop.paths import resources_dir

ParamValue = int | float | str | bool

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_COMPARISONS = {"<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
                ">=": lambda a, b: a >= b, "!=": lambda a, b: a != b}


class ParamType(StrEnum):
    """The kinds of template parameter."""

    INT = "int"
    DOUBLE = "double"
    STRING = "string"
    BOOL = "bool"
    ENUM = "enum"


@dataclass(frozen=True, slots=True)
class Choice:
    """One value of an enum parameter: the MQL5 constant and what the trader reads."""

    value: str
    label: str


def _fmt(number: float) -> str:
    return f"{number:g}"


@dataclass(frozen=True, slots=True)
class TemplateParameter:
    """One parameter the trader fills in.

    Attributes:
        minimum: The smallest value (the shortest length for a string), or None.
        maximum: The largest value (the longest length for a string), or None.
        choices: The values of an enum parameter.
    """

    key: str
    label: str
    type: ParamType
    default: ParamValue
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[Choice, ...] = ()

    def check(self, raw: object) -> ParamValue:
        """Return ``raw`` as this parameter's value, or raise a UserError that names the parameter."""
        name = f"“{self.label}”"
        if self.type is ParamType.BOOL:
            if isinstance(raw, bool):
                return raw
            if isinstance(raw, str) and raw.strip().lower() in ("true", "false"):
                return raw.strip().lower() == "true"
            raise UserError(f"{name} must be yes or no.", code="template_parameter")
        if self.type is ParamType.ENUM:
            values = [c.value for c in self.choices]
            if isinstance(raw, str) and raw in values:
                return raw
            labels = ", ".join(c.label for c in self.choices)
            raise UserError(f"{name} must be one of: {labels}.", code="template_parameter")
        if self.type is ParamType.STRING:
            if not isinstance(raw, str):
                raise UserError(f"{name} must be text.", code="template_parameter")
            if any(ord(char) < 32 for char in raw):
                raise UserError(f"{name} cannot contain line breaks or tabs.", code="template_parameter")
            self._check_range(name, len(raw), "characters long")
            return raw
        number = self._number(name, raw)
        self._check_range(name, number, "")
        return number

    def _number(self, name: str, raw: object) -> int | float:
        value: object = raw.strip() if isinstance(raw, str) else raw
        if isinstance(value, str):
            try:
                value = int(value) if self.type is ParamType.INT and re.fullmatch(r"[+-]?\d+", value) else float(value)
            except ValueError:
                value = None
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise UserError(f"{name} must be a number.", code="template_parameter")
        if self.type is ParamType.INT:
            if isinstance(value, float) and not value.is_integer():
                raise UserError(f"{name} must be a whole number.", code="template_parameter")
            return int(value)
        return float(value)

    def _check_range(self, name: str, value: float, unit: str) -> None:
        low, high, suffix = self.minimum, self.maximum, f" {unit}" if unit else ""
        if (low is not None and value < low) or (high is not None and value > high):
            if low is not None and high is not None:
                bounds = f"between {_fmt(low)} and {_fmt(high)}{suffix}"
            elif low is not None:
                bounds = f"at least {_fmt(low)}{suffix}"
            else:
                bounds = f"at most {_fmt(high or 0)}{suffix}"
            shown = _fmt(value) if not unit else str(int(value))
            raise UserError(f"{name} must be {bounds} (it is {shown}).", code="template_parameter")

    def literal(self, value: ParamValue) -> str:
        """Return ``value`` as the MQL5 literal that replaces the placeholder."""
        if self.type is ParamType.BOOL:
            return "true" if value else "false"
        if self.type is ParamType.STRING:
            text = str(value).replace("\\", "\\\\").replace('"', '\\"')
            return f'"{text}"'
        if self.type is ParamType.DOUBLE:
            return input_text(float(value))
        return str(value)


@dataclass(frozen=True, slots=True)
class Constraint:
    """A rule between two parameters (``left op right``) and the message when it fails."""

    left: str
    op: str
    right: str
    message: str


@dataclass(frozen=True, slots=True)
class EaTemplate:
    """An Expert Advisor template."""

    id: str
    name: str
    description: str
    parameters: tuple[TemplateParameter, ...]
    constraints: tuple[Constraint, ...]
    source_path: Path

    def parameter(self, key: str) -> TemplateParameter:
        """Return the parameter with this key (KeyError when there is none)."""
        for parameter in self.parameters:
            if parameter.key == key:
                return parameter
        raise KeyError(key)

    def defaults(self) -> dict[str, ParamValue]:
        """Return every parameter's default value."""
        return {p.key: p.default for p in self.parameters}


def templates_dir() -> Path:
    """Return the folder the shipped templates live in."""
    return resources_dir() / "mql5" / "templates"


def _parameter(raw: Mapping[str, Any]) -> TemplateParameter:
    kind = ParamType(raw["type"])
    choices = tuple(Choice(str(c["value"]), str(c.get("label", c["value"]))) if isinstance(c, dict)
                    else Choice(str(c), str(c)) for c in raw.get("choices", ()))
    if any(not _IDENTIFIER.match(c.value) for c in choices):
        raise ValueError(f"template parameter {raw['key']}: an enum choice must be an MQL5 constant")
    low, high = raw.get("min"), raw.get("max")
    parameter = TemplateParameter(key=str(raw["key"]), label=str(raw.get("label", raw["key"])), type=kind,
                                  default=raw["default"], minimum=None if low is None else float(low),
                                  maximum=None if high is None else float(high), choices=choices)
    return TemplateParameter(parameter.key, parameter.label, kind, parameter.check(parameter.default),
                             parameter.minimum, parameter.maximum, choices)


def load_template(metadata_path: Path) -> EaTemplate:
    """Read one template from its ``.json`` file (the ``.mq5`` sits beside it).

    Raises:
        ValueError: The template is inconsistent (a bug in the shipped resources).
    """
    raw = json.loads(metadata_path.read_text(encoding="utf-8"))
    source_path = metadata_path.with_suffix(".mq5")
    parameters = tuple(_parameter(p) for p in raw["parameters"])
    constraints = tuple(Constraint(c["left"], c["op"], c["right"], c["message"]) for c in raw.get("constraints", ()))
    keys = {p.key for p in parameters}
    used = set(PLACEHOLDER.findall(source_path.read_text(encoding="utf-8")))
    if used != keys or any(c.op not in _COMPARISONS or {c.left, c.right} - keys for c in constraints):
        raise ValueError(f"template {metadata_path.stem}: placeholders {sorted(used ^ keys)} or its constraints "
                         "do not match its parameters")
    return EaTemplate(id=metadata_path.stem, name=str(raw["name"]), description=str(raw.get("description", "")),
                      parameters=parameters, constraints=constraints, source_path=source_path)


def list_templates(directory: Path | None = None) -> list[EaTemplate]:
    """Return every template, by name."""
    folder = directory or templates_dir()
    return sorted((load_template(path) for path in folder.glob("*.json")), key=lambda t: t.name)


def get_template(template_id: str, directory: Path | None = None) -> EaTemplate:
    """Return one template by id, or raise a UserError."""
    for template in list_templates(directory):
        if template.id == template_id:
            return template
    raise UserError(f"There is no template called “{template_id}”.", code="template_unknown")


def validate_parameters(template: EaTemplate, values: Mapping[str, object]) -> dict[str, ParamValue]:
    """Return every parameter's value (defaults for those not given), checked.

    Raises:
        UserError: Listing every problem, one per line, each naming the parameter by its label.
    """
    problems = [f"“{key}” is not a parameter of {template.name}." for key in values
                if key not in {p.key for p in template.parameters}]
    checked: dict[str, ParamValue] = {}
    for parameter in template.parameters:
        try:
            checked[parameter.key] = parameter.check(values.get(parameter.key, parameter.default))
        except UserError as e:
            problems.append(e.message)
    for rule in template.constraints:
        if rule.left in checked and rule.right in checked \
                and not _COMPARISONS[rule.op](checked[rule.left], checked[rule.right]):
            problems.append(rule.message)
    if problems:
        raise UserError("\n".join(problems), code="template_parameters")
    return checked


def render_template(template: EaTemplate, values: Mapping[str, object]) -> str:
    """Return the template's MQL5 source with every placeholder filled in (values checked first)."""
    checked = validate_parameters(template, values)
    source = template.source_path.read_text(encoding="utf-8")
    return PLACEHOLDER.sub(lambda m: template.parameter(m.group(1)).literal(checked[m.group(1)]), source)
