"""Walk MQL5 tokens with their scopes: find declarations, undeclared names and missing ';'.

Not a compiler: a single walk over the tokens that knows enough of the grammar to tell a
declaration (``Type name``, a function header, enum members, parameters) from a use, which block
it is in (function body, class body, enum, initializer list) and where a statement ends.

It runs twice. The first walk (``check=False``) collects what the file declares at global and
class level, so that a function may use a function or global defined further down; the second
walk reports. Whenever it cannot be sure (a class with a base class it cannot see, an include it
does not know, a macro in the statement), it stays silent: the simulated compiler must never
reject code MetaEditor accepts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tnm_desktop.ea.mql5_lexer import Kind, Token
from tnm_desktop.ea.mql5_names import KEYWORDS, STATEMENT_KEYWORDS, is_builtin_type, is_builtin_value

UNDECLARED = 256
SEMICOLON_EXPECTED = 143

_CONTROL = frozenset(("if", "while", "for", "switch"))
_MODIFIERS = frozenset(("const", "static", "input", "sinput", "extern", "virtual"))
_MEMBER_ACCESS = frozenset((".", "->", "::"))
_ENDS_LINE = frozenset((")", "]", "++", "--", "true", "false", "NULL", "this", "break", "continue"))
_ENDS_BEFORE_BRACE = _ENDS_LINE | {"return"}


@dataclass(frozen=True, slots=True)
class Finding:
    """A problem the walk found."""

    code: int
    message: str
    token: Token


@dataclass(slots=True)
class Declared:
    """What the first walk learnt about the file.

    Attributes:
        types: Type names (classes, structs, enums, typedefs, included Standard Library classes).
        values: Global variables, functions, enum members and macros.
        macros: Names defined with ``#define`` (a macro may hide a ';').
        members: Each class's members; ``open_classes`` have members we cannot see (a base class).
        functions: Global functions with a body, and the token naming each.
        checked: False when an unknown include may declare anything: undeclared names and missing
            ';' are then not reported.
    """

    types: set[str] = field(default_factory=set)
    values: set[str] = field(default_factory=set)
    macros: set[str] = field(default_factory=set)
    members: dict[str, set[str]] = field(default_factory=dict)
    open_classes: set[str] = field(default_factory=set)
    functions: dict[str, Token] = field(default_factory=dict)
    checked: bool = True


@dataclass(slots=True)
class _Scope:
    kind: str  # global, type, code, enum, init, params
    names: set[str] = field(default_factory=set)
    class_name: str | None = None
    unchecked: bool = False
    parens: int = 0
    start: int = 0  # first token of the current statement
    declaring: bool = False  # inside "Type a = 1, b" where a ',' introduces another name
    declare_depth: int = 0


@dataclass(slots=True)
class _Pending:
    # A function header whose parameter list has just closed; its body may follow.
    name: Token
    close: int
    names: set[str]
    class_name: str | None


class Walk:
    """One walk over the tokens (see the module notes)."""

    def __init__(self, tokens: tuple[Token, ...], pairs: dict[int, int], declared: Declared, *, check: bool) -> None:
        """Prepare a walk.

        Args:
            tokens: The file's tokens.
            pairs: Each bracket's index mapped to its partner's (the brackets balance).
            declared: Filled by the first walk; read by the second.
            check: Report problems (the second walk) instead of collecting declarations.
        """
        self.tokens = tokens
        self.pairs = pairs
        self.known = declared
        self.check = check
        self.findings: list[Finding] = []
        # The first walk declares globals straight into ``declared.values``.
        self.scopes = [_Scope("global", names=set() if check else declared.values)]
        self.pending: _Pending | None = None
        self.controls: set[int] = set()  # ')' closing an if/while/for/switch condition
        self.no_semicolon_after: set[int] = set()  # the name of an 'input group'
        self.skip_to_brace = False  # inside a constructor's initializer list
        # Tokens a ';' must follow when the next line opens with a keyword: 'return' (before a name
        # it may be "return x") and the '}' ending an enum, class or struct.
        self.before_keyword: set[int] = set()

    def text(self, index: int) -> str:
        """Return the text of the token at ``index`` ('' outside the file)."""
        return self.tokens[index].text if 0 <= index < len(self.tokens) else ""

    def run(self) -> list[Finding]:
        """Walk every token and return what was found."""
        index = 0
        while index < len(self.tokens):
            index = self.step(index)
        return self.findings

    def step(self, i: int) -> int:
        """Handle the token at ``i``; return the index of the next one to handle."""
        token, scope = self.tokens[i], self.scopes[-1]
        self.check_line_end(i)
        text = token.text
        if i == scope.start and text == "input" and self.text(i + 1) == "group":
            self.no_semicolon_after.add(i + 2)  # 'input group "Name"' takes no ';'
            scope.start = i + 3
            return i + 3
        if text == "{":
            self.open_brace(i)
        elif text == "}":
            self.close_brace(i)
        elif text in ("(", "["):
            scope.parens += 1
            if text == "(" and self.text(i - 1) in _CONTROL:
                self.controls.add(self.pairs[i])
        elif text in (")", "]"):
            self.close_paren(i)
        elif text == ";":
            self.end_statement(i)
        elif text == "," and scope.declaring and scope.parens == scope.declare_depth:
            return self.next_declarator(i + 1)
        elif text == ":" and self.pending is not None and scope.parens == 0:
            self.skip_to_brace = True
        elif text in ("else", "do") or (text == ":" and scope.parens == 0 and self.is_label(scope)):
            scope.start, scope.declaring = i + 1, False
        elif token.kind is Kind.IDENT and not self.skip_to_brace:
            if text == "return":
                self.before_keyword.add(i)
            return self.identifier(i)
        return i + 1

    # Blocks -------------------------------------------------------------------------------

    def open_brace(self, i: int) -> None:
        scope, pending = self.scopes[-1], self.pending
        self.pending, self.skip_to_brace = None, False
        inherited = any(s.unchecked for s in self.scopes)
        if pending is not None:
            self.scopes.append(self.function_body(pending, scope, inherited, i))
            return
        head = self.statement_head(scope)
        class_name, unchecked = None, False
        if scope.kind in ("init", "enum") or self.text(i - 1) in ("=", ",", "(", "return"):
            kind = "init"
        elif head == "enum":
            kind = "enum"
        elif head in ("class", "struct", "union", "interface"):
            kind, class_name = "type", self.text(self.head_index(scope) + 1)
            unchecked = ":" in (t.text for t in self.tokens[scope.start:i])  # a base class we cannot see
            if unchecked and not self.check:
                self.known.open_classes.add(class_name)
        else:
            # A block inside a function; or a body whose header we could not read: not checked.
            kind = "code"
            unchecked = scope.kind in ("global", "type") and self.text(i - 1) in (")", "const")
        names = set(self.known.members.get(class_name, set())) if self.check and class_name else set()
        self.scopes.append(_Scope(kind, names=names, class_name=class_name, unchecked=unchecked or inherited,
                                  start=i + 1))

    def function_body(self, pending: _Pending, scope: _Scope, inherited: bool, i: int) -> _Scope:
        names, unchecked = set(pending.names), inherited
        if pending.class_name is not None and scope.kind != "type":  # Class::Method defined outside
            members = self.known.members.get(pending.class_name)
            names |= members or set()
            unchecked = unchecked or members is None or pending.class_name in self.known.open_classes
        elif scope.kind == "global" and not self.check:
            self.known.functions.setdefault(pending.name.text, pending.name)
        return _Scope("code", names=names, unchecked=unchecked, start=i + 1)

    def close_brace(self, i: int) -> None:
        closing = self.scopes.pop() if len(self.scopes) > 1 else self.scopes[0]
        if self.check and closing.kind in ("code", "type"):
            if self.ends_statement(i - 1, _ENDS_BEFORE_BRACE) and self.certain(closing, i - 1):
                self.report(SEMICOLON_EXPECTED, "'}' - semicolon expected", i)
        if closing.kind in ("enum", "type"):
            self.before_keyword.add(i)
        if not self.check and closing.kind == "type" and closing.class_name:
            self.known.members.setdefault(closing.class_name, set()).update(closing.names)
        parent = self.scopes[-1]
        parent.start, parent.declaring = i + 1, False

    def close_paren(self, i: int) -> None:
        scope = self.scopes[-1]
        if scope.kind == "params" and scope.parens == 0:
            self.scopes.pop()
            if self.pending is not None:
                self.pending.names = scope.names
            return
        scope.parens = max(0, scope.parens - 1)
        if i in self.controls and scope.parens == 0:
            scope.start, scope.declaring = i + 1, False

    def end_statement(self, i: int) -> None:
        scope = self.scopes[-1]
        if scope.declaring and scope.parens == scope.declare_depth:
            scope.declaring = False
        if scope.parens == 0:
            scope.start = i + 1
            self.pending, self.skip_to_brace = None, False

    def is_label(self, scope: _Scope) -> bool:
        # "case X:", "default:" and "public:" end a label; a statement starts after them.
        return self.statement_head(scope) in ("case", "default", "public", "private", "protected")

    def head_index(self, scope: _Scope) -> int:
        index = scope.start
        while True:
            if self.text(index) in _MODIFIERS or self.text(index) == "typedef":
                index += 1
            elif self.text(index) == "template" and self.text(index + 1) == "<":
                while index < len(self.tokens) and self.text(index) != ">":
                    index += 1
                index += 1
            else:
                return index

    def statement_head(self, scope: _Scope) -> str:
        return self.text(self.head_index(scope))

    # Names --------------------------------------------------------------------------------

    def is_type(self, i: int) -> bool:
        text = self.text(i)
        return is_builtin_type(text) or text in self.known.types

    def identifier(self, i: int) -> int:
        scope, text = self.scopes[-1], self.text(i)
        if self.text(i - 1) in _MEMBER_ACCESS:
            return i + 1  # a member: we do not know the members of what is on the left
        header = self.method_outside(i)
        if header is not None:
            return header
        if self.text(i + 1) == "::":
            return i + 1  # a qualifier (Class::member)
        if scope.kind == "enum" and self.text(i - 1) in ("{", ","):
            if not self.check:
                self.known.values.add(text)
            return i + 1
        declared = self.declaration(i)
        if declared is not None:
            return declared
        if self.check and text not in KEYWORDS:
            self.use(i)
        return i + 1

    def method_outside(self, i: int) -> int | None:
        # "Type Class::Method(", "Class::Class(" or "Class::~Class(" at global level.
        if self.scopes[-1].kind != "global" or self.text(i + 1) != "::":
            return None
        name = i + 3 if self.text(i + 2) == "~" else i + 2
        if name >= len(self.tokens) or self.tokens[name].kind is not Kind.IDENT or self.text(name + 1) != "(":
            return None
        return self.function_header(name, name + 1, class_name=self.text(i))

    def declaration(self, i: int) -> int | None:
        scope, text = self.scopes[-1], self.text(i)
        if scope.kind == "type" and self.text(i + 1) == "(" and (text == scope.class_name or self.text(i - 1) == "~"):
            return self.function_header(i, i + 1, class_name=scope.class_name)  # constructor or destructor
        known_type = self.is_type(i)
        j = i + 1
        if known_type and self.text(j) == "<":  # a template argument list: Type<int>
            while j < len(self.tokens) and self.text(j) not in (">", ";", "{", ")"):
                j += 1
            j += 1
        while self.text(j) in ("*", "&"):
            j += 1
        if j >= len(self.tokens) or self.tokens[j].kind is not Kind.IDENT or self.text(j) in KEYWORDS:
            return None
        if not known_type:
            # "Unknown name": a declaration whose type nobody declared, if it opens the statement.
            at_start = i == self.head_index(scope) or self.text(i - 1) in _MODIFIERS or scope.kind == "params"
            if not at_start or text in KEYWORDS or j != i + 1:
                return None
            if self.check:
                self.use(i)
        if self.text(j + 1) == "::":
            return j  # "Type Class::Method(": the class name comes next
        if self.text(j + 1) == "(" and scope.kind in ("global", "type"):
            return self.function_header(j, j + 1, class_name=scope.class_name if scope.kind == "type" else None)
        scope.names.add(self.text(j))
        if scope.kind != "params":
            scope.declaring, scope.declare_depth = True, scope.parens
        return j + 1

    def next_declarator(self, j: int) -> int:
        while self.text(j) in ("*", "&"):
            j += 1
        if j < len(self.tokens) and self.tokens[j].kind is Kind.IDENT and self.text(j) not in KEYWORDS:
            self.scopes[-1].names.add(self.text(j))
            return j + 1
        return j

    def function_header(self, name: int, open_paren: int, *, class_name: str | None) -> int:
        scope = self.scopes[-1]
        if scope.kind == "type" or class_name is None:
            scope.names.add(self.text(name))
        self.pending = _Pending(self.tokens[name], self.pairs[open_paren], set(), class_name)
        self.scopes.append(_Scope("params", start=open_paren + 1))
        return open_paren + 1

    def use(self, i: int) -> None:
        text = self.text(i)
        if not self.known.checked or any(s.unchecked for s in self.scopes):
            return
        if any(text in s.names for s in self.scopes) or text in self.known.values or text in self.known.types:
            return
        if is_builtin_value(text) or is_builtin_type(text):
            return
        self.report(UNDECLARED, f"'{text}' - undeclared identifier", i)

    # Statements ---------------------------------------------------------------------------

    def ends_statement(self, i: int, enders: frozenset[str]) -> bool:
        if i < 0 or i in self.no_semicolon_after:
            return False
        token = self.tokens[i]
        if token.kind is Kind.IDENT and (self.is_type(i) or token.text in self.known.macros):
            return False
        if token.text == ")":
            return not self.is_special_close(i)
        if token.kind in (Kind.NUMBER, Kind.STRING, Kind.CHAR) or token.text in enders:
            return True
        return token.kind is Kind.IDENT and token.text not in KEYWORDS

    def is_special_close(self, i: int) -> bool:
        # ')' of a condition, of a cast such as "(double)", or of a function header: no ';' follows.
        if i in self.controls or (self.pending is not None and self.pending.close == i):
            return True
        inside = [k for k in range(self.pairs[i] + 1, i) if self.text(k) not in ("*", "&")]
        return len(inside) == 1 and self.is_type(inside[0])

    def certain(self, scope: _Scope, last: int) -> bool:
        if not self.known.checked or scope.unchecked or scope.parens:
            return False
        return not any(t.text in self.known.macros for t in self.tokens[scope.start:last + 1])

    def check_line_end(self, i: int) -> None:
        # The line before ended with a complete expression and this line starts a statement: two
        # operands cannot stand side by side, so the ';' ending the line before is missing.
        if not self.check or i == 0 or self.tokens[i].line == self.tokens[i - 1].line:
            return
        scope, token = self.scopes[-1], self.tokens[i]
        if scope.kind not in ("code", "global", "type") or token.text in self.known.macros:
            return
        keyword = token.text in STATEMENT_KEYWORDS
        starts = keyword or (token.kind is Kind.IDENT and token.text not in KEYWORDS)
        ended = self.ends_statement(i - 1, _ENDS_LINE) or (keyword and i - 1 in self.before_keyword)
        if starts and ended and self.certain(scope, i - 1):
            self.report(SEMICOLON_EXPECTED, f"'{token.text}' - semicolon expected", i)

    def report(self, code: int, message: str, i: int) -> None:
        self.findings.append(Finding(code, message, self.tokens[i]))
