"""An answer's normal form: LaTeX cleaned of decoration and Portuguese number forms made plain.

Both sides of every comparison (a model's boxed answer, a gold answer, an option's text) go
through :func:`normal_forms`, which returns one or two candidate strings:

* delimiters (``$``, ``\\(``, ``\\[``), ``\\text{}``-like wrappers, ``\\left``/``\\right``,
  ``\\dfrac``, degree marks (``^\\circ``, ``°``, "graus"), ``\\%``, currency (``R$``, ``€``),
  trailing unit words ("cm", "metros", "castanhas", ``\\text{ cm}^2``) and a leading single-variable
  assignment (``x = 5`` -> ``5``) are removed;
* thousands written with a space, thin space, ``\\,``, ``\\ `` or ``~`` (``36 792``,
  ``1\\,000``) are joined;
* the decimal comma (``1,5``, ``1{,}5``) becomes a point. ``1,5`` is never read as the list
  {1, 5} (Math-Verify's reading); ``1, 5`` with a space, or a comma inside parentheses
  (``(10,8)``), stays a separator;
* a single separator followed by exactly three digits (``1.000``, ``1,500``) is ambiguous between
  Portuguese thousands and a decimal: both readings are returned, and a comparison accepts either
  (they differ by a factor of 1000, so accepting one cannot turn a clearly wrong answer right).
"""

from __future__ import annotations

import re

from engine.grading.boxes import unwrap_boxes

_WRAPPERS = (
    "text", "textbf", "textit", "textrm", "textnormal", "mathrm", "mathbf", "mathit", "mbox",
    "operatorname", "emph", "boldsymbol", "bm", "hbox", "textsf", "mathsf",
)
_WRAPPER_RE = re.compile(r"\\(?:" + "|".join(_WRAPPERS) + r")\s*\{")

_UNICODE = {
    "\u2212": "-", "\u2013": "-", "\u00d7": r"\times ", "\u00f7": r"\div ", "\u00b7": r"\cdot ",
    "\u22c5": r"\cdot ", "\u00b2": "^2", "\u00b3": "^3", "\u00a0": " ", "\u2009": " ", "\u202f": " ",
    "\u2007": " ", "\u200b": "", "\u221a": r"\sqrt ", "\u03c0": r"\pi ",
}

#: unit words removed at the end of an answer when written right after the number (no space)
_UNITS_TIGHT = r"(?:cm|mm|km|dm|m|kg|mg|g|ml|l|L|h|min|s|cl|ha)"
_SPACES_CMD = re.compile(r"\\(?:,|;|:|!|\s|quad|qquad|thinspace|enspace)|~")
_DEGREE = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|\^\s*\{\s*o\s*\}|\^\s*o\b|\\circ|\\degree|[°º]|(?<=\d)\^\s*\{?\s*0\s*\}?(?![\d.])")
_PERCENT = re.compile(r"\\%|%|\bpor\s+cento\b")
_CURRENCY = re.compile(r"R\s*\\?\$|US\s*\\?\$|\\\$|€|\\euro\b|\beuros?\b|\breais\b|\bescudos\b|\bc[êe]ntimos\b|\bcentavos\b")
_ASSIGN = re.compile(r"^\s*(?:[A-Za-z]|\\[a-zA-Z]+)(?:_\{?[\w,]+\}?)?\s*=\s*(?=[^=]*$)")
_TRAILING_WORDS = re.compile(r"(?<=[\d}).])(?:\s+[^\W\d_][^\W\d_]*\.?(?:\s*\^\s*\{?[23]\}?)?)+\s*$")
_TRAILING_UNIT = re.compile(r"(?<=\d)" + _UNITS_TIGHT + r"(?:\s*\^\s*\{?[23]\}?)?\s*$")
_THOUSANDS_SPACE = re.compile(r"(?<![\d.,])(\d{1,3})((?:\s(?:\d{3}))+)(?![\d])")


def unwrap_commands(s: str) -> str:
    """``\\text{abc}`` -> ``abc`` for the wrapper commands, nested ones included."""
    for _ in range(20):
        m = _WRAPPER_RE.search(s)
        if not m:
            return s
        depth, i = 0, m.end() - 1
        while i < len(s):
            if s[i] == "\\":
                i += 2
                continue
            if s[i] == "{":
                depth += 1
            elif s[i] == "}":
                depth -= 1
                if depth == 0:
                    break
            i += 1
        if i >= len(s):  # unbalanced: drop the command name only
            s = s[: m.start()] + s[m.end() :]
        else:
            s = s[: m.start()] + " " + s[m.end() : i] + " " + s[i + 1 :]
    return s


def clean_latex(answer: str) -> str:
    """The answer without decoration (see the module docstring); Portuguese numbers untouched."""
    s = unwrap_boxes(answer)
    for k, v in _UNICODE.items():
        s = s.replace(k, v)
    s = re.sub(r"(\d)\s*\\?\$\s*(\d{2})(?!\d)", r"\1.\2", s)  # escudos: 2200$00 = 2200.00
    s = _CURRENCY.sub(" ", s)
    s = s.replace("$", " ").replace(r"\(", " ").replace(r"\)", " ").replace(r"\[", " ").replace(r"\]", " ")
    s = unwrap_commands(s)
    s = _CURRENCY.sub(" ", s)
    s = re.sub(r"\\(?:left|right|bigl|bigr|Bigl|Bigr|big|Big)\b\s*", "", s)
    s = re.sub(r"\\(?:displaystyle|textstyle|limits)\b", "", s)
    s = re.sub(r"\\[dt]frac(?![a-zA-Z])", r"\\frac", s)
    s = re.sub(r"\{\s*\\(?:rm|bf|it|sf|small|footnotesize|scriptsize)\s+([^{}]*)\}", r" \1 ", s)
    s = s.replace("{,}", ",").replace("{.}", ".")
    s = _DEGREE.sub(" ", s)
    s = re.sub(r"\bgraus?\b", " ", s)
    s = _PERCENT.sub(" ", s)
    # thousands separated by spacing commands, then plain spaces (1\,000 / 36 792)
    s = re.sub(r"(\d)\s*(?:\\[,;: ]|\\thinspace|~)\s*(?=\d{3}(?!\d))", r"\1 ", s)
    s = _SPACES_CMD.sub(" ", s)
    s = _THOUSANDS_SPACE.sub(lambda m: m.group(1) + m.group(2).replace(" ", ""), s)
    s = re.sub(r"\s+", " ", s).strip()
    s = s.rstrip(" .;:,")
    for _ in range(3):
        t = _TRAILING_WORDS.sub("", s)
        t = _TRAILING_UNIT.sub("", t).strip()
        if t == s:
            break
        s = t.rstrip(" .;:,")
    s = _ASSIGN.sub("", s)
    s = re.sub(r"\s*\{\s*\}\s*$", "", s)  # a dangling {} left by a removed unit
    return s.strip()


_NUM_TOKEN = re.compile(r"(?<![\d.,])\d+(?:[.,]\d+)+(?![\d])")


def _paren_depths(s: str) -> list[int]:
    """Nesting depth of ( [ \\{ at every index (LaTeX groups ``{}`` do not count)."""
    depths = []
    d = 0
    i = 0
    while i < len(s):
        c = s[i]
        if s.startswith(r"\{", i):
            d += 1
            depths += [d, d]
            i += 2
            continue
        if s.startswith(r"\}", i):
            depths += [d, d]
            d = max(0, d - 1)
            i += 2
            continue
        if c in "([":
            d += 1
        depths.append(d)
        if c in ")]":
            d = max(0, d - 1)
        i += 1
    return depths


def _read_token(tok: str) -> tuple[str, str | None]:
    """(reading, alternative reading or None) of one number written with separators."""
    if "." in tok and "," in tok:
        dec = "." if tok.rfind(".") > tok.rfind(",") else ","
        th = "," if dec == "." else "."
        return tok.replace(th, "").replace(dec, "."), None
    sep = "." if "." in tok else ","
    parts = tok.split(sep)
    if len(parts) > 2:
        if all(len(p) == 3 for p in parts[1:]) and 1 <= len(parts[0]) <= 3:
            return "".join(parts), None
        return tok, None  # 1,2,3: a list, leave it
    head, tail = parts
    if len(tail) == 3 and 1 <= len(head) <= 3 and head != "0":
        return head + "." + tail, head + tail  # 1,500: decimal or thousands
    return head + "." + tail, None


def portuguese_numbers(s: str) -> list[str]:
    """Readings of ``s`` with its numbers made plain (one, or two when a number is ambiguous)."""
    depths = _paren_depths(s)
    first: list[str] = []
    second: list[str] = []
    ambiguous = False
    last = 0
    for m in _NUM_TOKEN.finditer(s):
        tok = m.group(0)
        first.append(s[last : m.start()])
        second.append(s[last : m.start()])
        if "," in tok and m.start() < len(depths) and depths[m.start()] > 0 and "." not in tok:
            a, b = tok, None  # (10,8): a pair, not a decimal
        else:
            a, b = _read_token(tok)
        first.append(a)
        second.append(b if b is not None else a)
        ambiguous = ambiguous or b is not None
        last = m.end()
    first.append(s[last:])
    second.append(s[last:])
    out = ["".join(first)]
    if ambiguous:
        out.append("".join(second))
    return out


def normal_forms(answer: str) -> list[str]:
    """Candidate normal forms of an answer (usually one; two for ``1.000``-like numbers)."""
    cleaned = clean_latex(answer)
    if not cleaned:
        return []
    return portuguese_numbers(cleaned)


def text_key(s: str) -> str:
    """A loose key for non-numeric options: lower case, no spaces, no punctuation at the ends."""
    s = clean_latex(s).lower()
    s = re.sub(r"\s+", "", s)
    return s.strip(".,;:!?")
