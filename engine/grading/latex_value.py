"""The numeric value of a small LaTeX expression, computed without SymPy.

Most MATH-PT answers are numbers: ``12``, ``\\frac{49}{4}``, ``12.25``, ``2^{1006}+1``,
``3\\sqrt{2}``, ``\\binom{10}{5}``. :func:`evaluate` reads such an expression (after
:mod:`engine.grading.normal_form`) into an exact :class:`~fractions.Fraction` when only rational
operations are involved, or a float when a square root, ``\\pi`` or a fractional power makes it
irrational. Anything else (a variable, a set, a word) gives None, and the caller falls back to the
symbolic check. It is fast, pure, and bounded: huge powers and factorials give None instead of
running for long.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

Number = Fraction | float

_MAX_BITS = 20_000  # refuse exact results larger than this (2^20000 is plenty for olympiads)

_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+(?:\.\d+)?|\.\d+)|(?P<cmd>\\[a-zA-Z]+)|(?P<op>[-+*/^!(){}\[\]]))"
)

_MUL_CMDS = {r"\cdot", r"\times", r"\ast"}
_DIV_CMDS = {r"\div"}


class _Unreadable(Exception):
    pass


def _tokens(s: str) -> list[str]:
    out: list[str] = []
    pos = 0
    s = s.strip()
    while pos < len(s):
        m = _TOKEN.match(s, pos)
        if not m or m.end() == pos:
            raise _Unreadable(s[pos:])
        out.append(m.group(m.lastgroup or "op").strip())
        pos = m.end()
        while pos < len(s) and s[pos].isspace():
            pos += 1
    return out


def _check_size(x: Number) -> Number:
    if isinstance(x, Fraction):
        if x.numerator.bit_length() > _MAX_BITS or x.denominator.bit_length() > _MAX_BITS:
            raise _Unreadable("too large")
        return x
    if math.isnan(x) or math.isinf(x):
        raise _Unreadable("not finite")
    return x


def _sqrt(x: Number, n: int = 2) -> Number:
    if n < 1 or n > 64:
        raise _Unreadable("root")
    if x < 0:
        if n % 2 == 1:
            return -_sqrt(-x, n)
        raise _Unreadable("negative root")
    if isinstance(x, Fraction):
        num = _int_root(x.numerator, n)
        den = _int_root(x.denominator, n)
        if num is not None and den is not None:
            return Fraction(num, den)
    return float(x) ** (1.0 / n)


def _int_root(v: int, n: int) -> int | None:
    if n == 2:
        r = math.isqrt(v)
        return r if r * r == v else None
    if v.bit_length() >= 1000:
        return None
    r = round(v ** (1.0 / n))
    for c in (r - 1, r, r + 1):
        if c >= 0 and c**n == v:
            return c
    return None


def _power(base: Number, exp: Number) -> Number:
    if isinstance(exp, Fraction) and exp.denominator == 1:
        e = exp.numerator
        if isinstance(base, Fraction):
            bits = max(base.numerator.bit_length(), base.denominator.bit_length())
            if bits * abs(e) > _MAX_BITS:
                raise _Unreadable("too large")
            if base == 0 and e < 0:
                raise _Unreadable("division by zero")
            return base**e
        return _check_size(float(base) ** e)
    if isinstance(exp, Fraction) and isinstance(base, Fraction) and base >= 0 and exp.numerator > 0 and exp.denominator <= 64:
        root = _sqrt(base, exp.denominator)
        return _power(root, Fraction(exp.numerator)) if isinstance(root, Fraction) else _check_size(float(base) ** float(exp))
    if base < 0:
        raise _Unreadable("complex")
    try:
        return _check_size(float(base) ** float(exp))
    except OverflowError:
        raise _Unreadable("too large") from None


def _factorial(x: Number) -> Number:
    if not (isinstance(x, Fraction) and x.denominator == 1 and 0 <= x.numerator <= 500):
        raise _Unreadable("factorial")
    return Fraction(math.factorial(x.numerator))


class _Parser:
    def __init__(self, tokens: list[str]):
        self.t = tokens
        self.i = 0

    def peek(self) -> str | None:
        return self.t[self.i] if self.i < len(self.t) else None

    def take(self) -> str:
        if self.i >= len(self.t):
            raise _Unreadable("end")
        tok = self.t[self.i]
        self.i += 1
        return tok

    def expect(self, tok: str) -> None:
        if self.take() != tok:
            raise _Unreadable(tok)

    def expr(self) -> Number:
        v = self.term()
        while self.peek() in ("+", "-"):
            op = self.take()
            r = self.term()
            v = v + r if op == "+" else v - r
            _check_size(v)
        return v

    def _starts_atom(self, tok: str | None) -> bool:
        if tok is None:
            return False
        return tok[0].isdigit() or tok[0] == "." or tok in ("(", "{", "[", r"\frac", r"\sqrt", r"\pi", r"\binom")

    def term(self) -> Number:
        v = self.unary()
        while True:
            tok = self.peek()
            if tok in ("*", "/") or tok in _MUL_CMDS or tok in _DIV_CMDS:
                self.take()
                r = self.unary()
                if tok == "/" or tok in _DIV_CMDS:
                    if r == 0:
                        raise _Unreadable("division by zero")
                    v = v / r
                else:
                    v = v * r
            elif self._starts_atom(tok) and not (tok and tok[0].isdigit() and self._prev_is_number()):
                v = v * self.unary()  # implicit product: 2\sqrt{3}, 3(4+1), 2\pi
            else:
                return v
            _check_size(v)

    def _prev_is_number(self) -> bool:
        prev = self.t[self.i - 1] if self.i > 0 else ""
        return bool(prev) and (prev[0].isdigit() or prev[0] == ".")

    def unary(self) -> Number:
        if self.peek() == "-":
            self.take()
            return -self.unary()
        if self.peek() == "+":
            self.take()
            return self.unary()
        return self.power()

    def power(self) -> Number:
        v = self.postfix(self.atom())
        if self.peek() == "^":
            self.take()
            e = self.exponent()
            v = _power(v, e)
        return v

    def exponent(self) -> Number:
        tok = self.peek()
        if tok == "-":
            self.take()
            return -self.exponent()
        if tok is not None and tok[0].isdigit() and len(tok) > 1 and "." not in tok:
            # x^23 without braces means x^2 followed by 3 in TeX; refuse rather than guess
            raise _Unreadable("ambiguous exponent")
        return self.postfix(self.atom())

    def postfix(self, v: Number) -> Number:
        while self.peek() == "!":
            self.take()
            v = _factorial(v)
        return v

    def group(self) -> Number:
        """A TeX argument: ``{expr}`` or a single token (``\\frac 4 5``)."""
        tok = self.peek()
        if tok == "{":
            self.take()
            v = self.expr()
            self.expect("}")
            return v
        if tok is not None and tok[0].isdigit():
            self.take()
            if len(tok) > 1 and "." not in tok:
                # \frac45 is 4/5: only the first digit is the argument
                self.t.insert(self.i, tok[1:])
                tok = tok[0]
            return Fraction(tok)
        return self.atom()

    def atom(self) -> Number:
        tok = self.take()
        if tok[0].isdigit() or tok[0] == ".":
            return Fraction(tok)
        if tok in ("(", "{", "["):
            close = {"(": ")", "{": "}", "[": "]"}[tok]
            v = self.expr()
            self.expect(close)
            return v
        if tok == r"\frac":
            num = self.group()
            den = self.group()
            if den == 0:
                raise _Unreadable("division by zero")
            return num / den
        if tok == r"\binom":
            n = self.group()
            k = self.group()
            if not all(isinstance(x, Fraction) and x.denominator == 1 for x in (n, k)) or not (0 <= k <= n <= 10_000):
                raise _Unreadable("binom")
            return Fraction(math.comb(int(n), int(k)))
        if tok == r"\sqrt":
            index = 2
            if self.peek() == "[":
                self.take()
                idx = self.expr()
                self.expect("]")
                if not (isinstance(idx, Fraction) and idx.denominator == 1):
                    raise _Unreadable("root index")
                index = int(idx)
            return _sqrt(self.group(), index)
        if tok == r"\pi":
            return math.pi
        raise _Unreadable(tok)


def evaluate(expr: str) -> Number | None:
    """The value of a normalized LaTeX arithmetic expression, or None when it is not one."""
    if not expr or len(expr) > 300:
        return None
    try:
        tokens = _tokens(expr)
        if not tokens:
            return None
        p = _Parser(tokens)
        v = p.expr()
        if p.i != len(p.t):
            return None
        return _check_size(v)
    except (_Unreadable, ZeroDivisionError, OverflowError, ValueError, RecursionError):
        return None


def is_exact(v: Number) -> bool:
    """True for an exact rational value (no root, no pi)."""
    return isinstance(v, Fraction)


def same_value(a: Number, b: Number) -> bool:
    """Equal values: exactly for two rationals, within 1e-9 (relative) otherwise."""
    if isinstance(a, Fraction) and isinstance(b, Fraction):
        return a == b
    try:
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    except OverflowError:
        return False
