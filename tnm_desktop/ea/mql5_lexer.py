"""Split MQL5 source into tokens and preprocessor directives, with MetaEditor's positions.

Lines and columns are 1-based; a column counts characters (a tab is one), which is what an
editor's cursor position uses to jump to the spot. Lexical problems (a string or comment left
open, a character MQL5 does not know) are collected, not raised, so that the checker can report
all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

# Longest first, so that "<<=" wins over "<<" and "<".
_OPERATORS = sorted(
    ("<<=", ">>=", "->", "++", "--", "<<", ">>", "<=", ">=", "==", "!=", "&&", "||", "+=", "-=", "*=", "/=", "%=",
     "&=", "|=", "^=", "::", "{", "}", "(", ")", "[", "]", ";", ",", ".", "?", ":", "~", "!", "+", "-", "*", "/",
     "%", "<", ">", "=", "&", "|", "^"),
    key=len, reverse=True)


class Kind(Enum):
    """What a token is."""

    IDENT = "identifier"
    NUMBER = "number"
    STRING = "string"
    CHAR = "character"
    PUNCT = "punctuation"


@dataclass(frozen=True, slots=True)
class Token:
    """One token and where it starts."""

    kind: Kind
    text: str
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class Directive:
    """A preprocessor line: ``#include <Trade\\Trade.mqh>`` has name ``include``."""

    name: str
    argument: str
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class LexProblem:
    """A lexical error: the MetaEditor-like code and message, and where."""

    code: int
    message: str
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class Lexed:
    """The tokens, directives and problems of one source."""

    tokens: tuple[Token, ...]
    directives: tuple[Directive, ...]
    problems: tuple[LexProblem, ...]


# MetaEditor-like codes of the lexical problems (see checker.py for the full table).
UNTERMINATED_STRING = 112
UNTERMINATED_CHAR = 114
UNKNOWN_SYMBOL = 110
UNTERMINATED_COMMENT = 161


def _word_char(char: str) -> bool:
    return char == "_" or char.isalnum()


class _Scanner:
    def __init__(self, source: str) -> None:
        self.text = source.replace("\r\n", "\n").replace("\r", "\n")
        self.pos = 0
        self.line = 1
        self.column = 1
        self.tokens: list[Token] = []
        self.directives: list[Directive] = []
        self.problems: list[LexProblem] = []
        self.line_has_token = False
        # One entry per open #ifdef/#ifndef: True while in its #else branch. Only the first branch
        # is kept, so that both branches of a condition do not count twice (braces, statements).
        self.conditions: list[bool] = []

    def emit(self, token: Token) -> None:
        if not any(self.conditions):
            self.tokens.append(token)

    def problem(self, problem: LexProblem) -> None:
        if not any(self.conditions):
            self.problems.append(problem)

    def peek(self, ahead: int = 0) -> str:
        index = self.pos + ahead
        return self.text[index] if index < len(self.text) else ""

    def advance(self, count: int = 1) -> None:
        for _ in range(count):
            if self.pos >= len(self.text):
                return
            if self.text[self.pos] == "\n":
                self.line += 1
                self.column = 1
                self.line_has_token = False
            else:
                self.column += 1
            self.pos += 1

    def run(self) -> Lexed:
        while self.pos < len(self.text):
            char = self.peek()
            if char in " \t\f\v\n":
                self.advance()
            elif char == "/" and self.peek(1) == "/":
                self.skip_line()
            elif char == "/" and self.peek(1) == "*":
                self.skip_block_comment()
            elif char == "#" and not self.line_has_token:
                self.directive()
            else:
                self.line_has_token = True
                self.token()
        return Lexed(tuple(self.tokens), tuple(self.directives), tuple(self.problems))

    def skip_line(self) -> None:
        while self.pos < len(self.text) and self.peek() != "\n":
            self.advance()

    def skip_block_comment(self) -> None:
        line, column = self.line, self.column
        end = self.text.find("*/", self.pos + 2)
        if end < 0:
            self.problem(LexProblem(UNTERMINATED_COMMENT, "'/*' - unterminated comment", line, column))
            self.advance(len(self.text) - self.pos)
            return
        self.advance(end + 2 - self.pos)

    def directive(self) -> None:
        line, column = self.line, self.column
        parts: list[str] = []
        while self.pos < len(self.text) and self.peek() != "\n":
            if self.peek() == "\\" and self.peek(1) == "\n":  # a continued line
                self.advance(2)
                continue
            if self.peek() == "/" and self.peek(1) == "/":
                self.skip_line()
                break
            if self.peek() == "/" and self.peek(1) == "*":
                self.skip_block_comment()
                parts.append(" ")
                continue
            parts.append(self.peek())
            self.advance()
        body = "".join(parts)[1:].strip()
        name, _, argument = body.partition(" ")
        name = name.strip()
        if name in ("ifdef", "ifndef", "if"):
            self.conditions.append(False)
        elif name == "else" and self.conditions:
            self.conditions[-1] = True
        elif name == "endif" and self.conditions:
            self.conditions.pop()
        elif not any(self.conditions):
            self.directives.append(Directive(name, argument.strip(), line, column))

    def token(self) -> None:
        line, column, char = self.line, self.column, self.peek()
        if char in ("C", "D") and self.peek(1) == "'":  # color C'1,2,3' and datetime D'2024.01.01' literals
            self.advance()
            self.quoted("'", Kind.NUMBER, line, column, prefix=char)
        elif _word_char(char) and not char.isdigit():
            start = self.pos
            while _word_char(self.peek()):
                self.advance()
            self.emit(Token(Kind.IDENT, self.text[start:self.pos], line, column))
        elif char.isdigit() or (char == "." and self.peek(1).isdigit()):
            self.number(line, column)
        elif char == '"':
            self.quoted('"', Kind.STRING, line, column)
        elif char == "'":
            self.quoted("'", Kind.CHAR, line, column)
        else:
            operator = next((op for op in _OPERATORS if self.text.startswith(op, self.pos)), None)
            if operator is None:
                self.problem(LexProblem(UNKNOWN_SYMBOL, f"'{char}' - unknown symbol", line, column))
                self.advance()
                return
            self.advance(len(operator))
            self.emit(Token(Kind.PUNCT, operator, line, column))

    def number(self, line: int, column: int) -> None:
        start = self.pos
        if self.peek() == "0" and self.peek(1) in ("x", "X"):
            self.advance(2)
            while self.peek().isalnum():
                self.advance()
        else:
            while self.peek().isdigit() or self.peek() == ".":
                self.advance()
            signed = self.peek(1) in ("+", "-") and self.peek(2).isdigit()
            if self.peek() in ("e", "E") and (self.peek(1).isdigit() or signed):
                self.advance(2)
                while self.peek().isdigit():
                    self.advance()
        self.emit(Token(Kind.NUMBER, self.text[start:self.pos], line, column))

    def quoted(self, quote: str, kind: Kind, line: int, column: int, *, prefix: str = "") -> None:
        start = self.pos
        self.advance()
        while self.pos < len(self.text) and self.peek() not in (quote, "\n"):
            self.advance(2 if self.peek() == "\\" and self.peek(1) != "\n" else 1)
        if self.peek() != quote:  # a literal cannot run past the end of its line
            code, what = (UNTERMINATED_STRING, "string") if quote == '"' else (UNTERMINATED_CHAR, "character constant")
            self.problem(LexProblem(code, f"'{quote}' - unterminated {what}", line, column))
            self.emit(Token(kind, prefix + self.text[start:self.pos] + quote, line, column))
            return
        self.advance()
        self.emit(Token(kind, prefix + self.text[start:self.pos], line, column))


def tokenize(source: str) -> Lexed:
    """Return the tokens, directives and lexical problems of an MQL5 source."""
    return _Scanner(source.removeprefix("\ufeff")).run()
