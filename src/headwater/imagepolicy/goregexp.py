"""Go `regexp` syntax, parsed as Go's `regexp/syntax` does, matched in linear time.

Flux v1 compiles `regexp:` policies with Go's `regexp.Compile` (RE2 syntax, Perl flags)
and Masterminds/semver validates constraints with Go regexps. Python's `re` differs in
ways that change answers: `$` also matches before a final newline, `\\d`/`\\w`/`\\s`/`\\b`
are Unicode, `\\12` is a backreference (Go: octal), `x{,3}` is a repeat (Go: literal),
`[[:alpha:]]` is not a POSIX class, lookarounds and backreferences compile (Go rejects
them), and backtracking can take exponential time on a hostile policy. So this module
parses Go's syntax itself, mirroring `regexp/syntax/parse.go` (Go 1.17, the toolchain
fluxd 1.25.4 was built with) so that exactly the same patterns are rejected, and decides
matches with a Thompson NFA (linear in the subject, like RE2).

Only the boolean answer is computed (`MatchString`), so greediness (`*?`, `(?U)`) and
leftmost-first preference never matter. Known gaps, reported as
`UnsupportedRegexpError` when a pattern is compiled: `\\p{Script}` classes (Go accepts
them; Python has no script tables). Case folding (`(?i)`) uses Python's single-character
case mappings plus Go's special orbits; it matches Go's simple folding for ASCII, which is
all a tag can contain (OCI distribution spec), and may differ on rare non-ASCII letters.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from headwater.imagepolicy._nfa import (
    BEGIN_LINE,
    BEGIN_TEXT,
    END_LINE,
    END_TEXT,
    NO_WORD_BOUNDARY,
    WORD_BOUNDARY,
    Node,
    Program,
)

__all__ = ["GoRegexp", "GoRegexpError", "UnsupportedRegexpError"]

_MAX_RUNE = 0x10FFFF
_MAX_REPEAT = 1000  # regexp/syntax: "invalid repeat count" above this


class GoRegexpError(ValueError):
    """Go's `regexp.Compile` would reject this pattern (`error parsing regexp: ...`)."""


class UnsupportedRegexpError(ValueError):
    """Go accepts this pattern but headwater cannot evaluate it the same way."""


# --- character classes -------------------------------------------------------------

Ranges = tuple[tuple[int, int], ...]

_WORD: Ranges = ((0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A))
_PERL: dict[str, tuple[Ranges, bool]] = {  # regexp/syntax perl_groups.go: ASCII only
    "d": (((0x30, 0x39),), False),
    "s": (((0x09, 0x0A), (0x0C, 0x0D), (0x20, 0x20)), False),
    "w": (_WORD, False),
}
_POSIX: dict[str, Ranges] = {  # perl_groups.go posixGroup
    "alnum": ((0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A)),
    "alpha": ((0x41, 0x5A), (0x61, 0x7A)),
    "ascii": ((0x00, 0x7F),),
    "blank": ((0x09, 0x09), (0x20, 0x20)),
    "cntrl": ((0x00, 0x1F), (0x7F, 0x7F)),
    "digit": ((0x30, 0x39),),
    "graph": ((0x21, 0x7E),),
    "lower": ((0x61, 0x7A),),
    "print": ((0x20, 0x7E),),
    "punct": ((0x21, 0x2F), (0x3A, 0x40), (0x5B, 0x60), (0x7B, 0x7E)),
    "space": ((0x09, 0x0D), (0x20, 0x20)),
    "upper": ((0x41, 0x5A),),
    "word": _WORD,
    "xdigit": ((0x30, 0x39), (0x41, 0x46), (0x61, 0x66)),
}
# Go's unicode.Categories keys (Go 1.17): one-letter majors and two-letter categories.
_CATEGORIES = frozenset({
    "C", "Cc", "Cf", "Co", "Cs", "L", "Ll", "Lm", "Lo", "Lt", "Lu", "M", "Mc", "Me", "Mn",
    "N", "Nd", "Nl", "No", "P", "Pc", "Pd", "Pe", "Pf", "Pi", "Po", "Ps", "S", "Sc", "Sk",
    "Sm", "So", "Z", "Zl", "Zp", "Zs",
})
# unicode.caseOrbit (Go's tables.go): the fold orbits of more than two characters, and
# the Turkish dotted/dotless i that fold only to themselves. Every other character
# folds with its simple lower or upper case mapping alone, as unicode.SimpleFold does.
_CASE_ORBIT = (
    (0x4B, 0x6B, 0x212A), (0x53, 0x73, 0x17F), (0xB5, 0x39C, 0x3BC), (0xC5, 0xE5, 0x212B),
    (0xDF, 0x1E9E), (0x130,), (0x131,), (0x1C4, 0x1C5, 0x1C6), (0x1C7, 0x1C8, 0x1C9),
    (0x1CA, 0x1CB, 0x1CC), (0x1F1, 0x1F2, 0x1F3), (0x345, 0x399, 0x3B9, 0x1FBE),
    (0x392, 0x3B2, 0x3D0), (0x395, 0x3B5, 0x3F5), (0x398, 0x3B8, 0x3D1, 0x3F4),
    (0x39A, 0x3BA, 0x3F0), (0x3A0, 0x3C0, 0x3D6), (0x3A1, 0x3C1, 0x3F1),
    (0x3A3, 0x3C2, 0x3C3), (0x3A6, 0x3C6, 0x3D5), (0x3A9, 0x3C9, 0x2126),
    (0x412, 0x432, 0x1C80), (0x414, 0x434, 0x1C81), (0x41E, 0x43E, 0x1C82),
    (0x421, 0x441, 0x1C83), (0x422, 0x442, 0x1C84, 0x1C85), (0x42A, 0x44A, 0x1C86),
    (0x462, 0x463, 0x1C87), (0x1C88, 0xA64A, 0xA64B), (0x1E60, 0x1E61, 0x1E9B),
)
_ORBITS: dict[str, frozenset[str]] = {
    chr(c): frozenset(chr(x) for x in orbit) for orbit in _CASE_ORBIT for c in orbit
}


@lru_cache(maxsize=4096)
def fold_orbit(ch: str) -> frozenset[str]:
    """The characters equal to `ch` under simple case folding (Go's `SimpleFold` orbit)."""
    orbit = _ORBITS.get(ch)
    if orbit is not None:
        return orbit
    other = ch.lower()
    if other == ch or len(other) != 1:
        # str.upper() applies SpecialCasing (ᾀ -> ἈΙ); the simple mapping is the title case
        other = ch.upper() if len(ch.upper()) == 1 else ch.title()
    return frozenset((ch, other)) if len(other) == 1 else frozenset(ch)


@dataclass(frozen=True, slots=True)
class _Item:
    """One member of a class: ranges or a Unicode category, maybe negated, maybe folded."""

    ranges: Ranges = ()
    category: str | None = None  # "Any", "L", "Lu", ...
    negated: bool = False
    fold: bool = False

    def _hit(self, ch: str) -> bool:
        if self.category is not None:
            if self.category == "Any":
                return True
            cat = unicodedata.category(ch)
            return cat == self.category or (len(self.category) == 1 and
                                            cat[0] == self.category and cat != "Cn")
        cp = ord(ch)
        return any(lo <= cp <= hi for lo, hi in self.ranges)

    def contains(self, ch: str) -> bool:
        hit = any(self._hit(c) for c in fold_orbit(ch)) if self.fold else self._hit(ch)
        return hit != self.negated


@dataclass(frozen=True, slots=True)
class CharClass:
    """A set of characters: the union of its items, negated as a whole for `[^...]`."""

    items: tuple[_Item, ...]
    negated: bool = False

    def contains(self, ch: str) -> bool:
        return any(i.contains(ch) for i in self.items) != self.negated


def _literal(ch: str, fold: bool) -> CharClass:
    cp = ord(ch)
    return CharClass((_Item(((cp, cp),), fold=fold and len(fold_orbit(ch)) > 1),))


_ANY_NOT_NL = CharClass((_Item(((0x0A, 0x0A),)),), negated=True)
_ANY = CharClass((_Item(category="Any"),))

# --- the parser --------------------------------------------------------------------

_FOLD, _ONELINE, _DOTNL = 1, 2, 4  # the Perl flags that change what matches


@dataclass(slots=True)
class _Mark:
    """A pseudo-operator on the parse stack: `(` (with the flags to restore) or `|`."""

    kind: str  # "(" or "|"
    flags: int = 0


def _is_alnum(c: str) -> bool:
    return c.isascii() and c.isalnum()


def _repeat_is_valid(node: Node, n: int) -> bool:
    """regexp/syntax repeatIsValid: nested `{m,n}` may not multiply past 1000 copies."""
    if node.op == "repeat":
        m = node.max
        if m == 0:
            return True
        if m < 0:
            m = node.min
        if m > n:
            return False
        if m > 0:
            n //= m
    return all(_repeat_is_valid(s, n) for s in node.subs)


class _Parser:
    def __init__(self, pattern: str) -> None:
        self.whole = pattern
        self.stack: list[Node | _Mark] = []
        self.flags = _ONELINE  # syntax.Perl: OneLine on, FoldCase and DotNL off

    def fail(self, what: str, expr: str) -> GoRegexpError:
        return GoRegexpError(f"error parsing regexp: {what}: `{expr}`")

    def push(self, node: Node) -> None:
        self.stack.append(node)

    def literal(self, ch: str) -> None:
        self.push(Node("char", cls=_literal(ch, bool(self.flags & _FOLD))))

    def concat(self) -> None:
        i = len(self.stack)
        while i > 0 and not isinstance(self.stack[i - 1], _Mark):
            i -= 1
        subs = [n for n in self.stack[i:] if isinstance(n, Node)]
        del self.stack[i:]
        self.push(subs[0] if len(subs) == 1 else Node("cat", subs=subs))

    def alternate(self) -> None:
        """Fold `a | b | c` (concats separated by `|` marks) into one node."""
        alts: list[Node] = []
        while self.stack:
            top = self.stack[-1]
            if isinstance(top, Node):
                alts.append(top)
                self.stack.pop()
            elif top.kind == "|":
                self.stack.pop()
            else:
                break
        alts.reverse()
        self.push(alts[0] if len(alts) == 1 else Node("alt", subs=alts))

    def repeat(self, op: str, lo: int, hi: int, *, before: str, after: str,
               last_repeat: str) -> str:
        if after.startswith("?"):  # non-greedy: same language
            after = after[1:]
        if last_repeat:
            raise self.fail("invalid nested repetition operator",
                            last_repeat[: len(last_repeat) - len(after)])
        text = before[: len(before) - len(after)]
        if not self.stack or isinstance(self.stack[-1], _Mark):
            raise self.fail("missing argument to repetition operator", text)
        sub = self.stack.pop()
        assert isinstance(sub, Node)
        node = Node(op, subs=[sub], min=lo, max=hi)
        self.push(node)
        if op == "repeat" and (lo >= 2 or hi >= 2) and not _repeat_is_valid(node, _MAX_REPEAT):
            raise self.fail("invalid repeat count", text)
        return after

    def parse(self) -> Node:
        """regexp/syntax Parse with the Perl flags, one construct per step."""
        t, last_repeat = self.whole, ""
        while t:
            t, repeat = self.step(t, last_repeat)
            last_repeat = repeat  # the text of a repetition operator just parsed, or ""
        self.concat()
        self.alternate()
        if len(self.stack) != 1:
            raise self.fail("missing closing )", self.whole)
        top = self.stack[0]
        assert isinstance(top, Node)
        return top

    def step(self, t: str, last_repeat: str) -> tuple[str, str]:
        """Parse the construct at the start of `t`; return the rest and a repeat's text."""
        c = t[0]
        if c in "*+?":
            op = {"*": "star", "+": "plus", "?": "quest"}[c]
            return self.repeat(op, 0, 0, before=t, after=t[1:], last_repeat=last_repeat), t
        if c == "{":
            parsed = _parse_repeat(t)
            if parsed is None:  # not a repeat: `{` is a literal
                self.literal("{")
                return t[1:], ""
            lo, hi, after = parsed
            if lo < 0 or lo > _MAX_REPEAT or hi > _MAX_REPEAT or 0 <= hi < lo:
                raise self.fail("invalid repeat count", t[: len(t) - len(after)])
            return self.repeat("repeat", lo, hi, before=t, after=after,
                               last_repeat=last_repeat), t
        if c == "(" and t.startswith("(?"):
            return self.perl_flags(t), ""
        if c == "[":
            return self.parse_class(t), ""
        if c == "\\":
            return self.backslash(t), ""
        simple = {"(": self.push_paren, "|": self.vertical_bar, ")": self.right_paren,
                  "^": self.caret, "$": self.dollar, ".": self.dot}.get(c)
        if simple is not None:
            simple()
        else:
            self.literal(c)
        return t[1:], ""

    def vertical_bar(self) -> None:
        self.concat()
        self.stack.append(_Mark("|"))

    def caret(self) -> None:
        self.push(Node("assert", kind=BEGIN_TEXT if self.flags & _ONELINE else BEGIN_LINE))

    def dollar(self) -> None:
        self.push(Node("assert", kind=END_TEXT if self.flags & _ONELINE else END_LINE))

    def dot(self) -> None:
        self.push(Node("char", cls=_ANY if self.flags & _DOTNL else _ANY_NOT_NL))

    def push_paren(self) -> None:
        self.stack.append(_Mark("(", self.flags))

    def right_paren(self) -> None:
        self.concat()
        self.alternate()
        if len(self.stack) < 2 or not isinstance(self.stack[-2], _Mark):
            raise self.fail("unexpected )", self.whole)
        node = self.stack.pop()
        mark = self.stack.pop()
        assert isinstance(node, Node) and isinstance(mark, _Mark)
        self.flags = mark.flags
        self.push(node)

    def named_capture(self, t: str) -> str:
        """`(?P<name>`; Go 1.17 has no `(?<name>` and, like later Go, allows duplicates."""
        end = t.find(">")
        if end < 0:
            raise self.fail("invalid named capture", t)
        name = t[4:end]
        if not name or not all(ch == "_" or _is_alnum(ch) for ch in name):
            raise self.fail("invalid named capture", t[: end + 1])
        self.push_paren()
        return t[end + 1 :]

    def perl_flags(self, t: str) -> str:
        """`(?flags)` and `(?flags:`; `m` clears OneLine, `-` negates what follows."""
        if len(t) > 4 and t[2] == "P" and t[3] == "<":
            return self.named_capture(t)
        flags, sign, saw = self.flags, 1, False
        i = 2
        while i < len(t):
            c = t[i]
            i += 1
            if c in "imsU":
                bit = {"i": _FOLD, "m": _ONELINE, "s": _DOTNL, "U": 0}[c]
                # `m` clears OneLine; the others set their flag. `-` inverts.
                if (c == "m") == (sign > 0):
                    flags &= ~bit
                else:
                    flags |= bit
                saw = True
            elif c == "-":
                if sign < 0:
                    break
                sign, saw = -1, False
            elif c in ":)":
                if sign < 0 and not saw:
                    break
                if c == ":":
                    self.push_paren()
                self.flags = flags
                return t[i:]
            else:
                break
        raise self.fail("invalid or unsupported Perl syntax", t[:i])

    def backslash(self, t: str) -> str:
        if len(t) >= 2:
            c = t[1]
            kinds = {"A": BEGIN_TEXT, "b": WORD_BOUNDARY, "B": NO_WORD_BOUNDARY, "z": END_TEXT}
            if c in kinds:
                self.push(Node("assert", kind=kinds[c]))
                return t[2:]
            if c == "C":
                raise self.fail("invalid escape sequence", t[:2])
            if c == "Q":
                end = t.find("\\E", 2)
                lit, rest = (t[2:], "") if end < 0 else (t[2:end], t[end + 2 :])
                for ch in lit:
                    self.literal(ch)
                return rest
        item, rest = self.class_escape(t)
        if item is not None:
            self.push(Node("char", cls=CharClass((item,))))
            return rest
        ch, rest = self.escape(t)
        self.literal(ch)
        return rest

    def class_escape(self, t: str) -> tuple[_Item | None, str]:
        """`\\d \\s \\w` (and negations) or `\\pL \\p{Greek} \\PL`; (None, t) otherwise."""
        fold = bool(self.flags & _FOLD)
        if len(t) >= 2 and t[0] == "\\" and t[1].lower() in _PERL:
            ranges, _ = _PERL[t[1].lower()]
            return _Item(ranges, negated=t[1].isupper(), fold=fold), t[2:]
        if len(t) >= 2 and t[0] == "\\" and t[1] in "pP":
            return self.unicode_class(t)
        return None, t

    def unicode_class(self, t: str) -> tuple[_Item, str]:
        negated = t[1] == "P"
        if len(t) < 3:
            raise self.fail("invalid character class range", t)
        if t[2] != "{":
            seq, name, rest = t[:3], t[2], t[3:]
        else:
            end = t.find("}")
            if end < 0:
                raise self.fail("invalid character class range", t)
            seq, name, rest = t[: end + 1], t[3:end], t[end + 1 :]
        if name.startswith("^"):
            negated, name = not negated, name[1:]
        if name == "Any" or name in _CATEGORIES:
            return _Item(category=name, negated=negated, fold=bool(self.flags & _FOLD)), rest
        from headwater.imagepolicy._scripts import GO117_SCRIPTS  # noqa: PLC0415

        if name in GO117_SCRIPTS:
            raise UnsupportedRegexpError(
                f"regexp class {seq} (Unicode script) is valid in Go but headwater cannot "
                "evaluate it; use an explicit character range instead"
            )
        raise self.fail("invalid character class range", seq)

    def escape(self, t: str) -> tuple[str, str]:
        """regexp/syntax parseEscape: one escaped character."""
        rest = t[1:]
        if not rest:
            raise self.fail("trailing backslash at end of expression", "")
        c, rest = rest[0], rest[1:]
        if c.isascii() and not c.isalnum():
            return c, rest
        if c in "01234567":
            if c != "0" and (not rest or rest[0] not in "01234567"):
                raise self.fail("invalid escape sequence", t[:2])  # backreference
            value = int(c)
            for _ in range(2):
                if not rest or rest[0] not in "01234567":
                    break
                value, rest = value * 8 + int(rest[0]), rest[1:]
            return chr(value), rest
        if c == "x":
            return self.hex_escape(t, rest)
        simple = {"a": "\a", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
        if c in simple:
            return simple[c], rest
        raise self.fail("invalid escape sequence", t[: len(t) - len(rest)])

    def hex_escape(self, t: str, rest: str) -> tuple[str, str]:
        bad = self.fail("invalid escape sequence", t[:4] if len(t) >= 4 else t)
        if rest.startswith("{"):
            end = rest.find("}")
            digits = rest[1:end] if end > 0 else ""
            if end < 0 or not digits or any(d not in "0123456789abcdefABCDEF" for d in digits):
                raise bad
            value = int(digits, 16)
            if value > _MAX_RUNE:
                raise bad
            return chr(value), rest[end + 1 :]
        digits = rest[:2]
        if len(digits) < 2 or any(d not in "0123456789abcdefABCDEF" for d in digits):
            raise bad
        return chr(int(digits, 16)), rest[2:]

    def class_char(self, t: str, whole: str) -> tuple[str, str]:
        if not t:
            raise self.fail("missing closing ]", whole)
        if t[0] == "\\":
            return self.escape(t)
        return t[0], t[1:]

    def parse_class(self, s: str) -> str:
        t = s[1:]
        negated = t.startswith("^")
        if negated:
            t = t[1:]
        fold = bool(self.flags & _FOLD)
        items: list[_Item] = []
        first = True
        while first or not t or t[0] != "]":
            first = False
            if len(t) > 2 and t[0] == "[" and t[1] == ":":
                end = t.find(":]", 2)
                if end >= 0:
                    name = t[2:end]
                    neg = name.startswith("^")
                    ranges = _POSIX.get(name[1:] if neg else name)
                    if ranges is None:
                        raise self.fail("invalid character class range", t[: end + 2])
                    items.append(_Item(ranges, negated=neg, fold=fold))
                    t = t[end + 2 :]
                    continue
            item, rest = self.class_escape(t)
            if item is not None:
                items.append(item)
                t = rest
                continue
            rng = t
            lo, t = self.class_char(t, s)
            hi = lo
            if len(t) >= 2 and t[0] == "-" and t[1] != "]":
                hi, t = self.class_char(t[1:], s)
                if hi < lo:
                    raise self.fail("invalid character class range", rng[: len(rng) - len(t)])
            items.append(_Item(((ord(lo), ord(hi)),), fold=fold))
        self.push(Node("char", cls=CharClass(tuple(items), negated)))
        return t[1:]


def _parse_int(s: str) -> tuple[int, str] | None:
    if not s or not s[0].isascii() or not s[0].isdigit():
        return None
    if len(s) >= 2 and s[0] == "0" and s[1].isascii() and s[1].isdigit():
        return None  # leading zeros: not a repeat
    i = 0
    while i < len(s) and s[i] in "0123456789":
        i += 1
    n = int(s[:i])
    return (n if n < 10**8 else -1), s[i:]


def _parse_repeat(s: str) -> tuple[int, int, str] | None:
    """`{n}`, `{n,}` or `{n,m}` -> (min, max, rest), max -1 = unbounded; None = literal."""
    got = _parse_int(s[1:])
    if got is None:
        return None
    lo, s = got
    if not s:
        return None
    if s[0] != ",":
        hi = lo
    else:
        s = s[1:]
        if not s:
            return None
        if s[0] == "}":
            hi = -1
        else:
            got = _parse_int(s)
            if got is None:
                return None
            hi, s = got
            if hi < 0:
                lo = -1
    if not s or s[0] != "}":
        return None
    return lo, hi, s[1:]


class GoRegexp:
    """A compiled Go regexp; `search` answers Go's `MatchString` (unanchored)."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        try:
            self._program = Program(_Parser(pattern).parse())
        except RecursionError:  # Go 1.17 has no nesting limit; Python's stack does
            raise UnsupportedRegexpError(
                "regexp nests too deeply for headwater to evaluate"
            ) from None

    def search(self, subject: str) -> bool:
        """Whether the pattern matches anywhere in `subject` (Go's `MatchString`)."""
        return self._program.search(subject)

    def __repr__(self) -> str:
        return f"GoRegexp({self.pattern!r})"
