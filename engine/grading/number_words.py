"""Portuguese number words: "doze" -> 12, "duzentos e trinta e quatro" -> 234, "um terço" -> 1/3.

Both variants are read (pt-PT "dezasseis", "catorze"; pt-BR "dezesseis", "quatorze"), with or
without accents. :func:`parse_number_words` reads a whole phrase; :func:`find_number_words` finds
the number phrases inside a sentence (their spans and values), which the gold extractor uses for
answers written in words ("pintaram-se exactamente quatro faces"). Pure, no dependencies.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from fractions import Fraction


def _plain(word: str) -> str:
    """Lower case without accents ("três" -> "tres")."""
    return "".join(c for c in unicodedata.normalize("NFD", word.lower()) if unicodedata.category(c) != "Mn")


UNITS = {
    "zero": 0, "um": 1, "uma": 1, "dois": 2, "duas": 2, "tres": 3, "quatro": 4, "cinco": 5, "seis": 6,
    "sete": 7, "oito": 8, "nove": 9, "dez": 10, "onze": 11, "doze": 12, "treze": 13, "catorze": 14,
    "quatorze": 14, "quinze": 15, "dezasseis": 16, "dezesseis": 16, "dezassete": 17, "dezessete": 17,
    "dezoito": 18, "dezanove": 19, "dezenove": 19,
}
TENS = {
    "vinte": 20, "trinta": 30, "quarenta": 40, "cinquenta": 50, "cincoenta": 50, "sessenta": 60,
    "setenta": 70, "oitenta": 80, "noventa": 90,
}
HUNDREDS = {
    "cem": 100, "cento": 100, "duzentos": 200, "duzentas": 200, "trezentos": 300, "trezentas": 300,
    "quatrocentos": 400, "quatrocentas": 400, "quinhentos": 500, "quinhentas": 500, "seiscentos": 600,
    "seiscentas": 600, "setecentos": 700, "setecentas": 700, "oitocentos": 800, "oitocentas": 800,
    "novecentos": 900, "novecentas": 900,
}
SCALES = {"mil": 1000, "milhao": 10**6, "milhoes": 10**6, "bilhao": 10**9, "bilhoes": 10**9, "biliao": 10**12, "bilioes": 10**12}
#: fractions written as words ("um terço", "dois quintos", "metade")
DENOMINATORS = {
    "meio": 2, "meia": 2, "terco": 3, "tercos": 3, "quarto": 4, "quartos": 4, "quinto": 5, "quintos": 5,
    "sexto": 6, "sextos": 6, "setimo": 7, "setimos": 7, "oitavo": 8, "oitavos": 8, "nono": 9, "nonos": 9,
    "decimo": 10, "decimos": 10,
}
SPECIAL = {"metade": Fraction(1, 2), "dobro": None, "triplo": None}

_WORDS = set(UNITS) | set(TENS) | set(HUNDREDS) | set(SCALES)
_WORD_RE = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*", re.U)


def _integer(words: list[str]) -> int | None:
    """The value of a sequence of integer number words (no "e"), or None when it is not one."""
    if not words:
        return None
    total = 0
    group = 0
    seen_any = False
    last_kind = None
    for w in words:
        if w in UNITS:
            if last_kind in ("unit",) or (last_kind == "ten" and UNITS[w] >= 10):
                return None
            group += UNITS[w]
            last_kind = "unit"
        elif w in TENS:
            if last_kind in ("unit", "ten"):
                return None
            group += TENS[w]
            last_kind = "ten"
        elif w in HUNDREDS:
            if last_kind in ("unit", "ten", "hundred"):
                return None
            group += HUNDREDS[w]
            last_kind = "hundred"
        elif w in SCALES:
            scale = SCALES[w]
            total += (group or 1) * scale
            group = 0
            last_kind = "scale"
        else:
            return None
        seen_any = True
    return total + group if seen_any else None


def parse_number_words(text: str) -> Fraction | None:
    """The value of a phrase that is only a number in words ("doze", "vinte e três", "um terço").

    Returns None for anything else (a word that is not a number word, an impossible order such as
    "três dois"). "um" / "uma" alone read as 1.
    """
    words = [_plain(w) for w in _WORD_RE.findall(text)]
    if not words:
        return None
    if len(words) == 1 and words[0] == "metade":
        return Fraction(1, 2)
    # a fraction: "<integer words> <denominator word>"
    if words[-1] in DENOMINATORS and len(words) >= 2:
        num = _integer([w for w in words[:-1] if w != "e"])
        if num is None:
            return None
        return Fraction(num, DENOMINATORS[words[-1]])
    if any(w not in _WORDS and w != "e" for w in words):
        return None
    if words[0] == "e" or words[-1] == "e":
        return None
    value = _integer([w for w in words if w != "e"])
    return Fraction(value) if value is not None else None


@dataclass(frozen=True)
class WordNumber:
    """A number written in words inside a sentence: its span and value."""

    start: int
    end: int
    value: Fraction
    text: str


def find_number_words(sentence: str) -> list[WordNumber]:
    """Every maximal run of number words in ``sentence`` ("duzentos e trinta e quatro" is one).

    "um"/"uma" alone are read only before a noun-like word and not as the article of a phrase
    already counted; callers decide whether a lone "um" is a count ("um único livro") or an article.
    """
    out: list[WordNumber] = []
    tokens = list(_WORD_RE.finditer(sentence))
    i = 0
    while i < len(tokens):
        w = _plain(tokens[i].group(0))
        if w not in _WORDS and w != "metade":
            i += 1
            continue
        j = i
        last_good = i
        while j + 1 < len(tokens):
            nxt = _plain(tokens[j + 1].group(0))
            gap = sentence[tokens[j].end() : tokens[j + 1].start()]
            if gap.strip(" ") and gap.strip() not in ("",):
                break
            if nxt == "e" and j + 2 < len(tokens) and _plain(tokens[j + 2].group(0)) in _WORDS:
                j += 2
                last_good = j
                continue
            if nxt in _WORDS:
                j += 1
                last_good = j
                continue
            if nxt in DENOMINATORS and _plain(tokens[j].group(0)) in UNITS:
                j += 1
                last_good = j
            break
        text = sentence[tokens[i].start() : tokens[last_good].end()]
        value = parse_number_words(text)
        if value is not None:
            out.append(WordNumber(tokens[i].start(), tokens[last_good].end(), value, text))
        i = last_good + 1
    return out
