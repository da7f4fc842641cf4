"""EA templates: what ships, parameter checks a trader understands, and sources that compile."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import pytest
from tnm_desktop.ea.checker import check_source
from tnm_desktop.ea.templates import (
    PLACEHOLDER,
    EaTemplate,
    ParamType,
    get_template,
    list_templates,
    load_template,
    render_template,
    templates_dir,
    validate_parameters,
)
from tnm_desktop.errors import UserError

TEMPLATES = list_templates()


def clean(source: str) -> bool:
    return check_source(source, "Template.mq5").diagnostics == ()


def test_at_least_three_real_expert_advisors_ship() -> None:
    assert {t.id for t in TEMPLATES} >= {"ma_cross", "atr_breakout", "rsi_reversion"}
    for template in TEMPLATES:
        source = template.source_path.read_text(encoding="utf-8")
        assert template.name and template.description
        # What the brief asks of every template: the trade class, inputs, handlers, indicator
        # handles released, one position per symbol and magic, risk-based volume.
        for needle in ("#include <Trade\\Trade.mqh>", "CTrade", "input ", "int OnInit()", "void OnDeinit(",
                       "void OnTick()", "CopyBuffer(", "IndicatorRelease(", "POSITION_MAGIC",
                       "SYMBOL_TRADE_TICK_VALUE", "SYMBOL_TRADE_TICK_SIZE", "SYMBOL_VOLUME_STEP"):
            assert needle in source, f"{template.id} lacks {needle}"


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t.id)
def test_placeholders_and_parameters_match(template: EaTemplate) -> None:
    used = set(PLACEHOLDER.findall(template.source_path.read_text(encoding="utf-8")))
    assert used == {p.key for p in template.parameters}
    assert "{{" not in render_template(template, {})


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t.id)
def test_defaults_render_to_a_clean_source(template: EaTemplate) -> None:
    assert validate_parameters(template, {}) == template.defaults()
    assert clean(render_template(template, {}))


def edge_values(template: EaTemplate) -> list[dict[str, object]]:
    """Every parameter at each of its extremes, one at a time, each still meeting the constraints."""
    cases: list[dict[str, object]] = []
    for parameter in template.parameters:
        if parameter.type is ParamType.ENUM:
            values: list[object] = [c.value for c in parameter.choices]
        elif parameter.type is ParamType.BOOL:
            values = [True, False]
        elif parameter.type is ParamType.STRING:
            values = ["", 'Quote " and back\\slash', "x" * int(parameter.maximum or 31)]
        else:
            bounds = [v for v in (parameter.minimum, parameter.maximum) if v is not None]
            values = [int(v) if parameter.type is ParamType.INT else v for v in bounds]
        for value in values:
            case = {parameter.key: value}
            try:
                validate_parameters(template, case)
            except UserError:
                continue  # an extreme that breaks a constraint with the defaults: covered below
            cases.append(case)
    return cases


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t.id)
def test_edge_parameters_render_to_clean_sources(template: EaTemplate) -> None:
    cases = edge_values(template)
    assert len(cases) >= len(template.parameters)
    for case in cases:
        source = render_template(template, case)
        assert clean(source), case


def test_extremes_together_render_clean() -> None:
    template = get_template("rsi_reversion")
    for oversold, exit_level, overbought in itertools.product((1, 49), (50,), (51, 99)):
        values = {"oversold": oversold, "exit_level": exit_level, "overbought": overbought, "risk_percent": 10,
                  "use_trend_filter": True, "trend_period": 1000, "take_profit_points": 100000}
        assert clean(render_template(template, values))


def test_values_become_mql5_literals() -> None:
    template = get_template("ma_cross")
    source = render_template(template, {"fast_period": "12", "risk_percent": 2, "close_on_opposite": "false",
                                        "ma_method": "MODE_LWMA", "comment": 'My "cross"'})
    assert re.search(r"InpFastPeriod\s+= 12;", source)
    assert re.search(r"InpRiskPercent\s+= 2\.0;", source)
    assert re.search(r"InpCloseOnOpposite\s+= false;", source)
    assert re.search(r"InpMaMethod\s+= MODE_LWMA;", source)
    assert 'InpComment          = "My \\"cross\\"";' in source


@pytest.mark.parametrize(("values", "message"), [
    ({"fast_period": 0}, "“Fast MA period” must be between 1 and 500 (it is 0)."),
    ({"fast_period": 2.5}, "“Fast MA period” must be a whole number."),
    ({"fast_period": "ten"}, "“Fast MA period” must be a number."),
    ({"risk_percent": 25}, "“Risk per trade (% of balance)” must be between 0.01 and 10 (it is 25)."),
    ({"risk_percent": float("nan")}, "“Risk per trade (% of balance)” must be a number."),
    ({"close_on_opposite": "maybe"}, "“Close on the opposite cross” must be yes or no."),
    ({"ma_method": "MODE_FAST"}, "“MA method” must be one of: Simple, Exponential, Smoothed, Linear weighted."),
    ({"comment": "x" * 32}, "“Order comment” must be between 0 and 31 characters long (it is 32)."),
    ({"comment": "two\nlines"}, "“Order comment” cannot contain line breaks or tabs."),
    ({"fast_period": 50, "slow_period": 20}, "The fast period must be shorter than the slow period."),
    ({"lots": 1}, "“lots” is not a parameter of Moving-average cross."),
])
def test_invalid_values_get_a_clear_message(values: dict[str, object], message: str) -> None:
    with pytest.raises(UserError) as raised:
        validate_parameters(get_template("ma_cross"), values)
    assert raised.value.message == message
    assert raised.value.code == "template_parameters"


def test_every_problem_is_listed_at_once() -> None:
    with pytest.raises(UserError) as raised:
        validate_parameters(get_template("rsi_reversion"), {"rsi_period": 1, "oversold": 60, "comment": 5})
    assert raised.value.message.split("\n") == [
        "“RSI period” must be between 2 and 200 (it is 1).",
        "“Oversold level” must be between 1 and 49 (it is 60).",
        "“Order comment” must be text.",
    ]


def test_an_unknown_template_is_a_user_error() -> None:
    with pytest.raises(UserError, match="no template called “grid_martingale”"):
        get_template("grid_martingale")


def test_templates_live_in_the_resources_folder() -> None:
    assert templates_dir().is_dir()
    assert all(t.source_path.parent == templates_dir() for t in TEMPLATES)


def test_a_template_whose_placeholders_do_not_match_is_refused(tmp_path: Path) -> None:
    (tmp_path / "bad.mq5").write_text("input int A = {{a}};\ninput int B = {{b}};\n", encoding="utf-8")
    (tmp_path / "bad.json").write_text(json.dumps({"name": "Bad", "parameters": [
        {"key": "a", "label": "A", "type": "int", "default": 1}]}), encoding="utf-8")
    with pytest.raises(ValueError, match=r"placeholders \['b'\]"):
        load_template(tmp_path / "bad.json")
