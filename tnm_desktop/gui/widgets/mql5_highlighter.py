"""Syntax highlighting for MQL5 source.

Lines are split by one small scanner (:func:`scan_line`) rather than a stack of independent
regular expressions, so a ``//`` inside a string or a quote inside a comment is not mistaken for
what it is not. The scanner carries one bit of state from line to line: inside a ``/* … */``
comment or not, which is what :meth:`QSyntaxHighlighter.setCurrentBlockState` is for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from PySide6.QtGui import QColor, QFont, QPalette, QSyntaxHighlighter, QTextCharFormat, QTextDocument


class Token(StrEnum):
    """The kinds of text the editor colours."""

    KEYWORD = "keyword"
    TYPE = "type"
    PREPROCESSOR = "preprocessor"
    STRING = "string"
    COMMENT = "comment"
    NUMBER = "number"
    BUILTIN = "builtin"
    CONSTANT = "constant"


KEYWORDS = frozenset("""
    if else for while do switch case default break continue return new delete this class struct
    enum union template typename virtual override final public private protected static const
    input sinput extern operator sizeof offsetof interface namespace using true false NULL
    EMPTY_VALUE WRONG_VALUE CLR_NONE
""".split())

TYPES = frozenset("""
    void bool char uchar short ushort int uint long ulong float double string datetime color
    vector matrix complex MqlTradeRequest MqlTradeResult MqlTradeCheckResult MqlTradeTransaction
    MqlTick MqlRates MqlDateTime MqlBookInfo MqlParam CTrade CPositionInfo CSymbolInfo
    COrderInfo CAccountInfo CDealInfo ENUM_TIMEFRAMES ENUM_MA_METHOD ENUM_APPLIED_PRICE
    ENUM_ORDER_TYPE ENUM_POSITION_TYPE ENUM_ORDER_TYPE_FILLING ENUM_TRADE_REQUEST_ACTIONS
    ENUM_SYMBOL_INFO_DOUBLE ENUM_SYMBOL_INFO_INTEGER ENUM_ACCOUNT_INFO_DOUBLE
""".split())

BUILTINS = frozenset("""
    OnInit OnDeinit OnTick OnTimer OnTrade OnTradeTransaction OnChartEvent OnTester OnTesterInit
    OnTesterDeinit OnCalculate OnStart OnBookEvent
    Print PrintFormat Alert Comment StringFormat DoubleToString IntegerToString TimeToString
    StringToDouble StringToInteger NormalizeDouble MathAbs MathMax MathMin MathFloor MathCeil
    MathRound MathPow MathSqrt MathLog ArraySize ArrayResize ArraySetAsSeries ArrayInitialize
    ArrayCopy ArrayFree iMA iATR iRSI iMACD iBands iStochastic iCCI iADX iCustom CopyBuffer
    CopyRates CopyClose CopyOpen CopyHigh CopyLow CopyTime IndicatorRelease SymbolInfoDouble
    SymbolInfoInteger SymbolInfoString SymbolInfoTick SymbolSelect AccountInfoDouble
    AccountInfoInteger AccountInfoString OrderSend OrderSendAsync OrderCheck OrderCalcMargin
    OrderCalcProfit OrdersTotal OrderGetTicket PositionsTotal PositionGetTicket PositionSelect
    PositionSelectByTicket PositionGetDouble PositionGetInteger PositionGetString HistorySelect
    HistoryDealsTotal HistoryDealGetTicket TimeCurrent TimeLocal TimeGMT TimeTradeServer
    EventSetTimer EventKillTimer GetLastError ResetLastError Sleep ZeroMemory TerminalInfoInteger
    MQLInfoInteger Bars iBars iTime iClose iOpen iHigh iLow Symbol Period Point Digits
    _Symbol _Period _Point _Digits _LastError
""".split())

# First match wins at each position; order matters (comments before operators, etc.).
_TOKEN = re.compile(r"""
    (?P<block>/\*)
  | (?P<line>//.*)
  | (?P<string>"(?:[^"\\]|\\.)*"?)
  | (?P<char>'(?:[^'\\]|\\.)*'?)
  | (?P<number>(?<![\w.])(?:0[xX][0-9A-Fa-f]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)[uUlLfF]*\b)
  | (?P<word>[A-Za-z_]\w*)
""", re.VERBOSE)
_PREPROCESSOR = re.compile(r"^\s*#\s*\w+")
_INCLUDE_PATH = re.compile(r"\s*<[^>]*>")  # #include <Trade\Trade.mqh> names a file, like a string
_CONSTANT = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$")  # PERIOD_H1, MODE_SMA, INIT_SUCCEEDED


@dataclass(frozen=True, slots=True)
class Span:
    """A coloured stretch of one line."""

    start: int
    length: int
    token: Token


def scan_line(text: str, in_comment: bool) -> tuple[list[Span], bool]:
    """Split one line into coloured spans.

    Args:
        text: The line, without its line break.
        in_comment: Whether the line starts inside a ``/* … */`` comment.

    Returns:
        The spans, and whether the next line starts inside a block comment.
    """
    spans: list[Span] = []
    pos = 0
    if in_comment:
        end = text.find("*/")
        if end < 0:
            return [Span(0, len(text), Token.COMMENT)] if text else [], True
        spans.append(Span(0, end + 2, Token.COMMENT))
        pos = end + 2
    elif (pre := _PREPROCESSOR.match(text)) is not None:
        spans.append(Span(0, pre.end(), Token.PREPROCESSOR))
        pos = pre.end()
        if pre.group().rstrip().endswith("include") and (path := _INCLUDE_PATH.match(text, pos)):
            spans.append(Span(path.start(), path.end() - path.start(), Token.STRING))
            pos = path.end()
    while (m := _TOKEN.search(text, pos)) is not None:
        kind = m.lastgroup
        if kind == "block":
            end = text.find("*/", m.end())
            if end < 0:
                spans.append(Span(m.start(), len(text) - m.start(), Token.COMMENT))
                return spans, True
            spans.append(Span(m.start(), end + 2 - m.start(), Token.COMMENT))
            pos = end + 2
            continue
        token = _classify(kind, m.group())
        if token is not None:
            spans.append(Span(m.start(), m.end() - m.start(), token))
        pos = m.end()
    return spans, False


def _classify(kind: str | None, word: str) -> Token | None:
    if kind == "line":
        return Token.COMMENT
    if kind in ("string", "char"):
        return Token.STRING
    if kind == "number":
        return Token.NUMBER
    if word in KEYWORDS:
        return Token.KEYWORD
    if word in TYPES:
        return Token.TYPE
    if word in BUILTINS:
        return Token.BUILTIN
    if _CONSTANT.match(word):
        return Token.CONSTANT
    return None


# Colours chosen for contrast on a white and on a near-black editor background.
_LIGHT = {Token.KEYWORD: "#0b3fa8", Token.TYPE: "#0f7f86", Token.PREPROCESSOR: "#8a3ab9",
          Token.STRING: "#b1361e", Token.COMMENT: "#6a7a6a", Token.NUMBER: "#a25f00",
          Token.BUILTIN: "#6f42c1", Token.CONSTANT: "#7a4a00"}
_DARK = {Token.KEYWORD: "#6cb6ff", Token.TYPE: "#4ec9b0", Token.PREPROCESSOR: "#d38bff",
         Token.STRING: "#f0a07a", Token.COMMENT: "#8c9a8c", Token.NUMBER: "#e5c07b",
         Token.BUILTIN: "#c8a2ff", Token.CONSTANT: "#e6b673"}


def is_dark(palette: QPalette) -> bool:
    """Whether a palette paints light text on a dark background."""
    return palette.color(QPalette.ColorRole.Base).lightness() < 128


class Mql5Highlighter(QSyntaxHighlighter):
    """Colours MQL5 keywords, types, preprocessor lines, strings, comments, numbers and built-ins.

    Args:
        document: The document to highlight.
        dark: Use the colours for a dark editor background.
    """

    _IN_COMMENT = 1

    def __init__(self, document: QTextDocument, *, dark: bool = False) -> None:
        super().__init__(document)
        self._formats: dict[Token, QTextCharFormat] = {}
        self.set_dark(dark)

    def set_dark(self, dark: bool) -> None:
        """Switch between the light- and dark-background colours."""
        colours = _DARK if dark else _LIGHT
        self._formats = {}
        for token, colour in colours.items():
            fmt = QTextCharFormat()
            fmt.setForeground(QColor(colour))
            if token in (Token.KEYWORD, Token.PREPROCESSOR):
                fmt.setFontWeight(QFont.Weight.Bold)
            if token is Token.COMMENT:
                fmt.setFontItalic(True)
            self._formats[token] = fmt
        self.rehighlight()

    def format_for(self, token: Token) -> QTextCharFormat:
        """The character format used for ``token``."""
        return self._formats[token]

    def highlightBlock(self, text: str) -> None:  # Qt override
        spans, in_comment = scan_line(text, self.previousBlockState() == self._IN_COMMENT)
        for span in spans:
            self.setFormat(span.start, span.length, self._formats[span.token])
        self.setCurrentBlockState(self._IN_COMMENT if in_comment else 0)
