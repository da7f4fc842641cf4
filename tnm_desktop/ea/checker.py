"""A lightweight MQL5 checker: the mistakes traders make most, reported as MetaEditor reports them.

It finds, with MetaEditor's positions and wording:

====  ========  ==============================================================================
code  severity  message
====  ========  ==============================================================================
256   error     ``'Foo' - undeclared identifier`` (the code MetaEditor logs show for it)
131   error     ``'{' - unbalanced parentheses`` (any bracket left open or closed twice)
161   error     ``'}' - unexpected end of program`` (the file ends inside a bracket)
143   error     ``'Print' - semicolon expected`` (at the token after the missing ';', like MetaEditor)
112   error     ``'"' - unterminated string``;  114 the same for a character constant
161   error     ``'/*' - unterminated comment``
110   error     ``'@' - unknown symbol``
209   error     ``event handling function not found`` (no OnTick, OnTimer, OnInit… at all)
37    warning   an Expert Advisor without ``OnTick``, or a handler spelt with the wrong case
38    warning   ``OnStart``/``OnCalculate``: the program would build as a script or an indicator
====  ========  ==============================================================================

The codes other than 256 and 161 follow MetaEditor's numbering style but are this checker's
own. ``OnInit`` is optional in MQL5 and so not required here either. The checker is deliberately
cautious: a missing ';' is reported only where two statements certainly meet (see
:mod:`tnm_desktop.ea.mql5_scan`), and an ``#include`` it does not know turns the name checks off.
"""

from __future__ import annotations

from dataclasses import dataclass

from tnm_desktop.ea.mql5_lexer import Kind, Lexed, Token, tokenize
from tnm_desktop.ea.mql5_names import STANDARD_HEADERS, header_key
from tnm_desktop.ea.mql5_scan import Declared, Walk
from tnm_desktop.ea.port import Diagnostic, Severity

UNBALANCED = 131
END_OF_PROGRAM = 161
NO_EVENT_HANDLER = 209
HANDLER_WARNING = 37
NOT_AN_EXPERT = 38
MAX_DIAGNOSTICS = 100

EXPERT_HANDLERS = ("OnTick", "OnTimer", "OnChartEvent", "OnTrade", "OnTradeTransaction", "OnBookEvent",
                   "OnInit", "OnDeinit", "OnTester", "OnTesterInit", "OnTesterPass", "OnTesterDeinit")
OTHER_PROGRAM_HANDLERS = ("OnStart", "OnCalculate")
_OPENERS = {"(": ")", "[": "]", "{": "}"}
_CLOSERS = {value: key for key, value in _OPENERS.items()}


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The checker's verdict on one source.

    Attributes:
        diagnostics: Errors and warnings, in file order.
        notes: What was not checked and why (the log's ``information:`` lines).
    """

    diagnostics: tuple[Diagnostic, ...]
    notes: tuple[str, ...]

    @property
    def errors(self) -> int:
        """Return the number of errors."""
        return sum(d.severity is Severity.ERROR for d in self.diagnostics)

    @property
    def warnings(self) -> int:
        """Return the number of warnings."""
        return len(self.diagnostics) - self.errors


def match_brackets(tokens: tuple[Token, ...]) -> tuple[dict[int, int], list[tuple[int, str, Token]]]:
    """Pair every bracket with its partner; return the pairs and the problems (code, message, token)."""
    pairs: dict[int, int] = {}
    problems: list[tuple[int, str, Token]] = []
    stack: list[int] = []
    for index, token in enumerate(tokens):
        if token.kind is not Kind.PUNCT:
            continue
        if token.text in _OPENERS:
            stack.append(index)
        elif token.text in _CLOSERS:
            wanted = _CLOSERS[token.text]
            if not any(tokens[k].text == wanted for k in stack):
                problems.append((UNBALANCED, f"'{token.text}' - unbalanced parentheses", token))
                continue
            while tokens[stack[-1]].text != wanted:  # brackets opened inside and never closed
                unclosed = tokens[stack.pop()]
                problems.append((UNBALANCED, f"'{unclosed.text}' - unbalanced parentheses", unclosed))
            opener = stack.pop()
            pairs[opener], pairs[index] = index, opener
    for index in stack:
        problems.append((UNBALANCED, f"'{tokens[index].text}' - unbalanced parentheses", tokens[index]))
    if stack:
        last = tokens[-1]
        problems.append((END_OF_PROGRAM, f"'{last.text}' - unexpected end of program", last))
    return pairs, problems


def _declared_by_directives(lexed: Lexed, declared: Declared) -> list[str]:
    notes: list[str] = []
    for directive in lexed.directives:
        if directive.name == "include":
            name = directive.argument.strip().strip('<>"')
            classes = STANDARD_HEADERS.get(header_key(name))
            if classes is None:
                declared.checked = False
                notes.append(f"{name} is not known to the simulated compiler, so undeclared names and missing "
                             "semicolons were not checked")
            else:
                declared.types.update(classes)
        elif directive.name == "define" and directive.argument:
            name = directive.argument.split("(", 1)[0].split()[0]
            declared.values.add(name)
            declared.macros.add(name)
    return notes


def _declared_types(tokens: tuple[Token, ...], declared: Declared) -> None:
    for index, token in enumerate(tokens[:-1]):
        following = tokens[index + 1]
        if token.text in ("class", "struct", "union", "interface", "enum", "typename") \
                and following.kind is Kind.IDENT:
            declared.types.add(following.text)
        elif token.text == "typedef":
            end = next((k for k in range(index, len(tokens)) if tokens[k].text == ";"), len(tokens))
            body = tokens[index + 1:end]
            pointer = next((body[k + 2] for k in range(len(body) - 2)
                            if body[k].text == "(" and body[k + 1].text == "*"), None)
            named = pointer or next((t for t in reversed(body) if t.kind is Kind.IDENT), None)
            if named is not None:
                declared.types.add(named.text)


def _handler_findings(declared: Declared, first: Token | None) -> list[tuple[int, Severity, str, Token | None]]:
    functions = declared.functions
    found: list[tuple[int, Severity, str, Token | None]] = []
    for name, token in functions.items():
        wanted = next((h for h in EXPERT_HANDLERS + OTHER_PROGRAM_HANDLERS if h.lower() == name.lower()), None)
        if wanted is not None and wanted != name and wanted not in functions:
            found.append((HANDLER_WARNING, Severity.WARNING, f"'{name}' - MQL5 names are case-sensitive: this is "
                          f"not the '{wanted}' event handler and is never called", token))
    for name in OTHER_PROGRAM_HANDLERS:
        if name in functions:
            found.append((NOT_AN_EXPERT, Severity.WARNING, f"'{name}' - this handler makes the program a "
                          f"{'script' if name == 'OnStart' else 'custom indicator'}, not an Expert Advisor",
                          functions[name]))
    if not any(h in functions for h in EXPERT_HANDLERS + OTHER_PROGRAM_HANDLERS):
        found.append((NO_EVENT_HANDLER, Severity.ERROR, "event handling function not found", first))
    elif "OnTick" not in functions and not any(h in functions for h in OTHER_PROGRAM_HANDLERS) \
            and not any(name.lower() == "ontick" for name in functions):
        found.append((HANDLER_WARNING, Severity.WARNING, "'OnTick' - function not found: the Expert Advisor "
                      "will not react to new prices", first))
    return found


def check_source(source: str, file_name: str) -> CheckResult:
    """Check an Expert Advisor's source.

    Args:
        source: The MQL5 text.
        file_name: The path the diagnostics name (as MetaEditor names the compiled file).
    """
    lexed = tokenize(source)
    tokens = lexed.tokens
    # An open string or comment swallows brackets: report it alone, then the brackets, then the rest.
    located: list[tuple[int, int, int, Severity, str]] = [
        (p.line, p.column, p.code, Severity.ERROR, p.message) for p in lexed.problems]
    pairs, bracket_problems = match_brackets(tokens)
    if not located:
        located = [(t.line, t.column, code, Severity.ERROR, message) for code, message, t in bracket_problems]
    notes: list[str] = []
    if located:
        notes.append("the other checks run once these errors are fixed")
    else:
        declared = Declared()
        notes += _declared_by_directives(lexed, declared)
        _declared_types(tokens, declared)
        Walk(tokens, pairs, declared, check=False).run()
        located += [(f.token.line, f.token.column, f.code, Severity.ERROR, f.message)
                    for f in Walk(tokens, pairs, declared, check=True).run()]
        first = tokens[0] if tokens else None
        for code, severity, message, token in _handler_findings(declared, first):
            line, column = (token.line, token.column) if token else (1, 1)
            located.append((line, column, code, severity, message))
    located.sort(key=lambda item: (item[0], item[1]))
    diagnostics = tuple(Diagnostic(file=file_name, line=line, column=column, code=code, severity=severity,
                                   message=message) for line, column, code, severity, message in located)
    return CheckResult(diagnostics[:MAX_DIAGNOSTICS], tuple(notes))
