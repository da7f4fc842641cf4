"""The simulated compiler's MQL5 checker: broken sources and where it must say what."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tnm_desktop.ea.checker import check_source
from tnm_desktop.ea.port import Severity
from tnm_desktop.ea.templates import list_templates, render_template

FILE = r"C:\TNM\build\Test\Test.mq5"
Finding = tuple[int, int, int | None, str]  # line, column, code, message

# Each case: a broken source and the (line, column, code, message) MetaEditor-style findings.
BROKEN = {
    "missing ; before a declaration on the next line": (
        "void OnTick()\n{\n   double lots = 0.1\n   double price = SymbolInfoDouble(_Symbol, SYMBOL_ASK);\n"
        "   Print(lots, price);\n}\n",
        [(4, 4, 143, "'double' - semicolon expected")]),
    "missing ; before a call on the next line": (
        "void OnTick()\n{\n   int count = PositionsTotal()\n   Print(count);\n}\n",
        [(4, 4, 143, "'Print' - semicolon expected")]),
    "missing ; before the closing brace": (
        "void OnTick()\n{\n   Print(\"tick\")\n}\n",
        [(4, 1, 143, "'}' - semicolon expected")]),
    "missing ; after return before the closing brace": (
        "int Twice(const int v)\n{\n   return v * 2\n}\nvoid OnTick() { Print(Twice(2)); }\n",
        [(4, 1, 143, "'}' - semicolon expected")]),
    "missing ; after an enum": (
        "enum ENUM_SIDE { SIDE_BUY, SIDE_SELL }\ninput ENUM_SIDE InpSide = SIDE_BUY;\n"
        "void OnTick() { Print(InpSide); }\n",
        [(2, 1, 143, "'input' - semicolon expected")]),
    "missing ; between two inputs": (
        "input int InpFast = 10\ninput int InpSlow = 30;\nvoid OnTick() { Print(InpFast + InpSlow); }\n",
        [(2, 1, 143, "'input' - semicolon expected")]),
    "misspelt input": (
        "input int InpFastPeriod = 10;\nvoid OnTick()\n{\n   int period = InpFastPeriodd * 2;\n"
        "   Print(period);\n}\n",
        [(4, 17, 256, "'InpFastPeriodd' - undeclared identifier")]),
    "MQL4's Ask does not exist in MQL5": (
        "void OnTick()\n{\n   double price = Ask;\n   Print(price);\n}\n",
        [(3, 19, 256, "'Ask' - undeclared identifier")]),
    "CTrade without its include": (
        "CTrade trade;\nvoid OnTick()\n{\n   trade.Buy(0.1);\n}\n",
        [(1, 1, 256, "'CTrade' - undeclared identifier")]),
    "a local used outside its block": (
        "void OnTick()\n{\n   if(PositionsTotal() > 0)\n   {\n      int open = 1;\n   }\n   Print(open);\n}\n",
        [(7, 10, 256, "'open' - undeclared identifier")]),
    "an undeclared function": (
        "void OnTick()\n{\n   OpenBuy(0.1);\n}\n",
        [(3, 4, 256, "'OpenBuy' - undeclared identifier")]),
    "a brace left open": (
        "void OnTick()\n{\n   if(PositionsTotal() == 0)\n   {\n      Print(1);\n}\n",
        [(2, 1, 131, "'{' - unbalanced parentheses"), (6, 1, 161, "'}' - unexpected end of program")]),
    "one parenthesis too many": (
        "void OnTick()\n{\n   Print((1 + 2)));\n}\n",
        [(3, 18, 131, "')' - unbalanced parentheses")]),
    "a bracket closing a parenthesis": (
        "void OnTick()\n{\n   Print(1];\n}\n",
        [(3, 9, 131, "'(' - unbalanced parentheses"), (3, 11, 131, "']' - unbalanced parentheses")]),
    "a string left open": (
        "void OnTick()\n{\n   Print(\"hello);\n}\n",
        [(3, 10, 112, "'\"' - unterminated string")]),
    "a character constant left open": (
        "void OnTick()\n{\n   ushort c = 'a;\n   Print(c);\n}\n",
        [(3, 15, 114, "''' - unterminated character constant")]),
    "a comment left open": (
        "void OnTick()\n{\n   /* close later\n   Print(1);\n}\n",
        [(3, 4, 161, "'/*' - unterminated comment")]),
    "a character MQL5 does not know": (
        "void OnTick()\n{\n   int a = 1 @ 2;\n}\n",
        [(3, 14, 110, "'@' - unknown symbol")]),
    "no event handler at all": (
        "int counter = 0;\nint Next() { return counter + 1; }\n",
        [(1, 1, 209, "event handling function not found")]),
}

WARNED = {
    "an Expert Advisor without OnTick": (
        "int OnInit()\n{\n   return(INIT_SUCCEEDED);\n}\n",
        [(1, 1, 37, "'OnTick' - function not found: the Expert Advisor will not react to new prices")]),
    "OnTick spelt with the wrong case": (
        "int OnInit() { return(INIT_SUCCEEDED); }\nvoid Ontick() { Print(1); }\n",
        [(2, 6, 37, "'Ontick' - MQL5 names are case-sensitive: this is not the 'OnTick' event handler and is "
                    "never called")]),
    "a script's handler in an Expert Advisor": (
        "void OnStart()\n{\n   Print(1);\n}\n",
        [(1, 6, 38, "'OnStart' - this handler makes the program a script, not an Expert Advisor")]),
}


def findings(source: str) -> list[Finding]:
    return [(d.line, d.column, d.code, d.message) for d in check_source(source, FILE).diagnostics]


@pytest.mark.parametrize(("source", "expected"), BROKEN.values(), ids=BROKEN.keys())
def test_broken_sources_get_metaeditor_style_errors_at_the_right_place(source: str, expected: list[Finding]) -> None:
    result = check_source(source, FILE)
    assert findings(source) == expected
    assert all(d.severity is Severity.ERROR and d.file == FILE for d in result.diagnostics)


@pytest.mark.parametrize(("source", "expected"), WARNED.values(), ids=WARNED.keys())
def test_handler_mistakes_are_warnings(source: str, expected: list[Finding]) -> None:
    result = check_source(source, FILE)
    assert findings(source) == expected
    assert result.errors == 0 and result.warnings == len(expected)


VALID = {
    "OnInit is optional, as in MetaEditor": "void OnTick()\n{\n   Print(_Symbol, _Period, _Point, _Digits);\n}\n",
    "a statement continued on the next line": (
        "void OnTick()\n{\n   double spread = SymbolInfoDouble(_Symbol, SYMBOL_ASK)\n"
        "                 - SymbolInfoDouble(_Symbol, SYMBOL_BID);\n   string text = \"spread \"\n"
        "                 + DoubleToString(spread, _Digits);\n   Print(text);\n}\n"),
    "return with its value on the next line": "int Two()\n{\n   return\n      2;\n}\nvoid OnTick() { Print(Two()); }\n",
    "input groups take no semicolon": (
        "input group \"Risk\"\ninput double InpRisk = 1.0;\ninput group \"Exits\"\ninput int InpStop = 300;\n"
        "void OnTick() { Print(InpRisk * InpStop); }\n"),
    "a macro that ends with its own semicolon": (
        "#define LOG(text) Print(__FUNCTION__, \": \", text);\nvoid OnTick()\n{\n   LOG(\"tick\")\n   Print(1);\n}\n"),
    "both branches of #ifdef open a brace": (
        "void OnTick()\n{\n#ifdef __MQL5__\n   if(_Period == PERIOD_H1) {\n#else\n   if(_Period == PERIOD_H4) {\n"
        "#endif\n      Print(1);\n   }\n}\n"),
    "classes, structs, templates, enums and the standard library": (
        "#include <Trade\\Trade.mqh>\n#include <Trade\\SymbolInfo.mqh>\nenum ENUM_MODE { MODE_ONE = 1, MODE_TWO };\n"
        "struct Signal { int dir; double price; double Score() const { return price * dir; } };\n"
        "class CBox\n{\nprivate:\n   int m_n;\npublic:\n   CBox(const int n) : m_n(n) {}\n"
        "   int Get() const { return m_n + Twice(); }\n   int Twice() const;\n};\n"
        "int CBox::Twice() const { return m_n * 2; }\ntemplate<typename T> T Larger(T a, T b) { return a > b ? a : b; }\n"
        "CSymbolInfo info;\nvoid OnTick()\n{\n   CBox box(3);\n   Signal s = {};\n   MqlTick tick;\n"
        "   if(!SymbolInfoTick(_Symbol, tick))\n      return;\n   for(int i = 0, j = 2; i < 5; i++) { s.dir = i + j; }\n"
        "   double x = (double)box.Get() + Larger(1, 2) + s.Score();\n   ENUM_MODE mode = MODE_TWO;\n"
        "   switch(mode) { case MODE_ONE: x++; break; default: break; }\n"
        "   color c = clrRed; datetime d = D'2024.01.01 00:00'; color g = C'128,128,128';\n"
        "   printf(\"%f %d %s %d\", x, c, TimeToString(d), g);\n}\n"),
}


@pytest.mark.parametrize("source", VALID.values(), ids=VALID.keys())
def test_valid_code_gets_no_finding(source: str) -> None:
    assert findings(source) == []


def test_an_unknown_include_turns_the_name_checks_off_and_says_so() -> None:
    source = "#include \"MyHelpers.mqh\"\nvoid OnTick()\n{\n   OpenBuy(0.1)\n   Print(1);\n}\n"
    result = check_source(source, FILE)
    assert result.diagnostics == ()
    assert result.notes == ("MyHelpers.mqh is not known to the simulated compiler, so undeclared names and missing "
                            "semicolons were not checked",)


@pytest.mark.parametrize("template", list_templates(), ids=lambda t: t.id)
def test_every_template_checks_clean(template: object) -> None:
    from tnm_desktop.ea.templates import EaTemplate
    assert isinstance(template, EaTemplate)
    assert findings(render_template(template, {})) == []


def test_every_semicolon_removed_from_a_template_statement_line_is_caught() -> None:
    # Statement lines whose ';' ends the line: removing it must always be reported.
    for template in list_templates():
        source = render_template(template, {})
        lines = source.split("\n")
        for number, line in enumerate(lines):
            code = line.split("//")[0].rstrip()
            if not code.endswith(";") or code.lstrip().startswith(("for", "return;")):
                continue
            broken = "\n".join([*lines[:number], code[:-1], *lines[number + 1:]])
            assert check_source(broken, FILE).errors, f"{template.id} line {number + 1}: {code.strip()}"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("{}()[];,\"'/*#\\\n abcX=+<>:.&~0123456789_")), max_size=200))
def test_the_checker_never_fails_on_any_text(source: str) -> None:
    result = check_source(source, FILE)
    assert all(d.line >= 1 and d.column >= 1 for d in result.diagnostics)
