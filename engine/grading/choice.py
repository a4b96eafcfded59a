"""Multiple-choice answers: which option (A-E) a response chose. Pure and fast: no SymPy, no pool.

Two readings:

* :func:`paper_letter` is the MATH-PT paper's own rule, kept byte for byte so that our strict
  accuracy reproduces the published numbers: ``re.search(r'(?<=\\\\boxed\\{)([A-Za-z])(?=\\}(?!.*\\\\boxed))')``.
  It takes the first ``\\boxed{X}`` holding exactly one letter that has no other ``\\boxed`` after it
  *on the same line* (``.`` does not cross newlines), so it is "the last box" for a response with
  one box per line, and the first letter box when a model boxes several answers on separate lines.
* :func:`read_choice` is the lenient reading behind ``verdict``: the content of the last box read as
  a letter in any usual form (``D``, ``d``, ``(D)``, ``\\text{D}``, ``\\textbf{D}``, ``D)``,
  ``D) 12 cm``, ``D.``, ``Opção D``) or as the value of exactly one option (``\\boxed{12 cm}``,
  ``\\boxed{12,25}`` for 49/4); with no usable box, a final statement in the last lines
  ("Resposta: D", "A resposta correta é a alternativa D", "Opção (D)", "alternativa d").
  The article in "A resposta é E" is never taken for the letter A: a letter is only read *after*
  the keyword.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from engine.grading.boxes import find_boxes, unwrap_boxes
from engine.grading.latex_value import Number, evaluate, same_value
from engine.grading.normal_form import normal_forms, text_key, unwrap_commands

LETTERS = ("A", "B", "C", "D", "E")

#: the MATH-PT paper's extraction regex (evaluate-multiple-choice-answers.ipynb), unchanged
PAPER_LETTER_RE = re.compile(r"(?<=\\boxed\{)([A-Za-z])(?=\}(?!.*\\boxed))")


def paper_letter(response: str) -> str | None:
    """The letter the paper's strict rule reads in a response, upper-cased; None when none."""
    m = PAPER_LETTER_RE.search(response or "")
    return m.group(0).upper() if m else None


@dataclass(frozen=True)
class ChoiceReading:
    """What a response chose: the letter (or None), how it was read, and why not when None."""

    letter: str | None
    method: str  # "box-letter" | "box-value" | "statement" | ""
    detail: str  # the text the letter came from, or the reason nothing was found


_KEYWORDS = (
    r"op[çc][ãa]o|alternativa|letra|item|resposta|gabarito|answer|option|choice"
)
_LETTER_ONLY = re.compile(r"^\(?\s*([A-Ea-e])\s*\)?\s*[.:]?$")
_LETTER_THEN_VALUE = re.compile(r"^\(?([A-E])\s*[).:\-–—]\s*\S.*$", re.S)
_KEYWORD_LETTER = re.compile(
    r"^(?:a\s+|o\s+)?(?:" + _KEYWORDS + r")(?:\s+(?:correta|correcta|certa|final|is))?\s*[:=]?\s*"
    r"\(?\s*([A-Ea-e])\s*\)?(?:\s*[.:)\-–—]\s*.*|\s+\S.*)?$",
    re.I | re.S,
)


def _strip_decoration(content: str) -> str:
    s = unwrap_boxes(content)
    s = unwrap_commands(s)
    s = s.replace("$", " ").replace("*", " ")
    s = re.sub(r"\\[,;:! ]|~", " ", s)
    return re.sub(r"\s+", " ", s).strip()


def letter_in_box(content: str) -> str | None:
    """The option letter a box's content names (``D``, ``(d)``, ``\\text{D}``, ``D) 12 cm``...)."""
    s = _strip_decoration(content)
    for pat in (_LETTER_ONLY, _LETTER_THEN_VALUE, _KEYWORD_LETTER):
        m = pat.match(s)
        if m:
            return m.group(1).upper()
    return None


def _values(text: str) -> tuple[list[Number], list[str]]:
    forms = normal_forms(text)
    vals = [v for v in (evaluate(f) for f in forms) if v is not None]
    return vals, forms


def option_for_value(content: str, choices: dict[str, str]) -> tuple[str | None, str]:
    """(letter, reason): the single option whose value or text equals the box content."""
    vals, forms = _values(content)
    key = text_key(content)
    if not forms and not key:
        return None, "empty box"
    hits: list[str] = []
    for letter in LETTERS:
        opt = choices.get(letter)
        if opt is None:
            continue
        ovals, oforms = _values(opt)
        equal = bool(vals and ovals and any(same_value(a, b) for a in vals for b in ovals))
        if not equal and not vals:
            okey = text_key(opt)
            equal = bool(key) and (key == okey or any(f == of for f in forms for of in oforms))
        if equal:
            hits.append(letter)
    if len(hits) == 1:
        return hits[0], ""
    if not hits:
        return None, f"last \\boxed{{}} holds {content.strip()[:60]!r}, which is no option"
    return None, f"last \\boxed{{}} holds {content.strip()[:60]!r}, which matches options {', '.join(hits)}"


_STATEMENT = re.compile(
    r"\b(?P<kw>(?:resposta|gabarito|answer)(?:\s+(?:final|correta|correcta|certa|is))*"
    r"|(?:alternativa|op[çc][ãa]o|letra|option|choice)(?:\s+(?:correta|correcta|certa|final))?)"
    r"(?P<filler>(?:\s*(?:é|e|seria|será|fica|is|:|=|-|–|,|portanto|então|pois|the)(?=[\s(\[*:=]))*\s*[:=]?)"
    r"(?:\s*(?:a|o|the)\s+(?P<kw2>alternativa|op[çc][ãa]o|letra|option|choice)\s*[:=]?)?"
    r"\s*(?P<open>[(\[*]*)\s*(?P<letter>[A-Ea-e])\s*(?P<close>[)\]*]*)"
    r"(?=\s*$|\s*[.,;:!)\]}\-–—]|\s+\S)",
    re.I,
)
_LOWER_OK_KW = re.compile(r"^(?:alternativa|op[çc][ãa]o|letra|option|choice)\b", re.I)
_BARE_LINE = re.compile(r"^\s*[*_]*\s*\(?([A-E])\)?\s*[*_]*\s*\.?\s*$")
_SENTENCE_GLUE = {"porque", "pois", "since", "because", "que", "e", "ou", "com", "corresponde", "correspondente"}


def letter_in_statement(response: str, lines: int = 3) -> tuple[str, str] | None:
    """(letter, the statement) from a final statement in the last ``lines`` non-empty lines."""
    tail_lines = [ln for ln in (response or "").splitlines() if ln.strip()][-lines:]
    if not tail_lines:
        return None
    bare = _BARE_LINE.match(tail_lines[-1])
    if bare:
        return bare.group(1), tail_lines[-1].strip()
    tail = unwrap_commands("\n".join(tail_lines)).replace("$", " ")
    found: tuple[str, str] | None = None
    for m in _STATEMENT.finditer(tail):
        letter = m.group("letter")
        if letter.islower():
            # a lower-case letter only right after "alternativa/opção/letra" (never an article)
            direct_kw = _LOWER_OK_KW.match(m.group("kw")) and not m.group("filler").strip(" :=")
            if not (m.group("kw2") or direct_kw):
                continue
        after = tail[m.end("close") :]
        nxt = re.match(r"\s+([a-zà-ÿ]+)", after)
        if letter.isupper() and nxt and not m.group("open") and not m.group("close") and nxt.group(1) not in _SENTENCE_GLUE:
            continue  # "A resposta é A soma ...": a capital opening a sentence, not an option
        found = (letter.upper(), m.group(0).strip())
    return found


def read_choice(response: str, choices: dict[str, str]) -> ChoiceReading:
    """The option a response chose, read leniently (see the module docstring)."""
    boxes = find_boxes(response or "")
    reason = "no \\boxed{} and no final statement naming an option"
    if boxes:
        content = unwrap_boxes(boxes[-1].content)
        letter = letter_in_box(content)
        if letter:
            return ChoiceReading(letter, "box-letter", content)
        letter, reason = option_for_value(content, choices)
        if letter:
            return ChoiceReading(letter, "box-value", content)
    stated = letter_in_statement(response or "")
    if stated:
        return ChoiceReading(stated[0], "statement", stated[1])
    return ChoiceReading(None, "", reason)
