"""What a gold's extraction knows of the problem and its question: the numbers, variables, names and
options it gives, and whether a value in a solution sentence is next to the question's words or object."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction

from engine.grading.gold_patterns import NAME_WORD
from engine.grading.latex_value import evaluate, same_value
from engine.grading.number_words import find_number_words
from engine.grading.question import Part, asking_sentences, plain, stem
from engine.grading.solution_text import MATH


@dataclass
class Context:
    part: Part
    problem_numbers: list[Fraction]
    problem_vars: set[str]
    names: list[str]
    options: list[str]  # words offered in the problem ("norte, sul, este, ...")
    angles: bool = False  # the problem is about angles (a degree mark is a unit, not an ordinal)
    question_values: list[Fraction] = field(default_factory=list)  # numbers in the asking sentence
    rounding: bool = False  # an integer part / a rounded value is asked


def problem_numbers(problem: str) -> list[Fraction]:
    vals: list[Fraction] = []
    # the figure's code ("Conteúdo referenciado: \\psline(1.333,2)(10,0) ...") and "(image1)" give no number
    problem = re.sub(r"\((?:image|table|figura|imagem)\s*\d*\)", " ", problem.split("Conteúdo referenciado:")[0], flags=re.I)
    for m in re.finditer(r"\d+(?:[.,]\d+)?", problem):
        v = evaluate(m.group(0).replace(",", "."))
        if isinstance(v, Fraction):
            vals.append(v)
    for w in find_number_words(problem):
        vals.append(w.value)
    return vals


def question_values(part: Part) -> list[Fraction]:
    """Numbers the asking sentence itself gives (outside math, or a math segment that is only a number)."""
    text = " ".join(asking_sentences(part.text.split("Conteúdo referenciado:")[0]))[-300:]
    text = MATH.sub(lambda m: m.group(0) if re.fullmatch(r"\$\s*\d+\s*\$", m.group(0)) else " ", text)
    return problem_numbers(text.replace("$", " "))


def is_problem_number(v: object, ctx: Context) -> bool:
    if isinstance(v, (Fraction, float)):
        return any(same_value(v, p) for p in ctx.problem_numbers)
    return False


_NOT_NAMES = set("""quem qual quais quanto quantos quantas sabendo considera considere seja sejam determina determine mostra mostre
calcula calcule na no num numa nas nos o a os as um uma se em para como depois entretanto cada este esta estes estas esse essa
no ao aos de do da dos das por pelo pela que quando onde então entao logo assim portanto há ha existe existem sendo dado dados
durante certo certa hoje ontem amanhã inicialmente finalmente prova indica encontra escreve diz dê complete completa""".split())


def problem_names(problem: str) -> list[str]:
    """Capitalized words of the problem that are names (not a function word opening a sentence)."""
    text = re.sub(MATH, " ", problem.split("Conteúdo referenciado:")[0])
    out: dict[str, None] = {}
    for m in NAME_WORD.finditer(text):
        w = m.group(1)
        if plain(w) in _NOT_NAMES or plain(w.split()[0]) in _NOT_NAMES or len(w) < 3:
            continue
        out[w] = None
    return list(out)


_WEEKDAYS = ("segunda-feira", "terça-feira", "quarta-feira", "quinta-feira", "sexta-feira", "sábado", "domingo")


def problem_options(problem: str) -> list[str]:
    """Words listed in the problem as choices: "norte, sul, este, oeste, nordeste, ..."; the days of
    the week when a day of the week is asked."""
    text = re.sub(MATH, " ", problem.split("Conteúdo referenciado:")[0])
    out: list[str] = []
    if re.search(r"\bdia\s+da\s+semana\b", text, re.I):
        out += list(_WEEKDAYS)
    for m in re.finditer(r"((?:[a-záéíóúâêôãõç]+,\s+){2,}[a-záéíóúâêôãõç]+\s+(?:e|ou)\s+[a-záéíóúâêôãõç]+)", text):
        out += [w for w in re.split(r",\s+|\s+(?:e|ou)\s+", m.group(1)) if w]
    return out



_ASKS_TIME = re.compile(r"\bquanto\s+tempo\b", re.I)
_TIME_UNIT = re.compile(r"\s*(?:segundos?|minutos?|mins?|horas?|h|dias?|semanas?|meses|m[êe]s|anos?)\b", re.I)


def near_echo(s: str, end: int, ctx: Context) -> int:
    """How many of the question's words follow the value closely ("70 cães", "$600$ vezes o algarismo");
    for "Quanto tempo ...?", a unit of time after the value ("demorou $7$ horas") counts as two."""
    after = re.sub(MATH, " ", s[end : end + 80])
    if _TIME_UNIT.match(after) and _ASKS_TIME.search(ctx.part.text):
        return 2
    raw = re.findall(r"[^\W\d_]+", after)
    words = [stem(w) for w in raw[:4]]
    kw = set(ctx.part.keywords)
    if raw and plain(raw[0]) in ("e", "sao", "foi", "sera") and len(raw) > 1:
        # "$6$ é o número mínimo de pontos de água": the value, then what it is
        tail = [stem(w) for w in raw[1:8]]
        hits = sum(1 for w in tail if w in kw)
        return hits if hits >= 1 and plain(raw[1]) in ("o", "a", "os", "as") else 0
    if not words or words[0] not in kw and (len(words) < 2 or words[1] not in kw):
        return 0
    return sum(1 for w in words if w in kw)


def object_key(s: str) -> str:
    """A math object without notation: ``A\\widehat{B}C`` and ``\\measuredangle ABC`` -> ``ABC``."""
    s = re.sub(r"\\(?:displaystyle|ds|mbox|text|rm|overline|widehat|hat|angle|measuredangle|overrightarrow|vec|left|right|;|,|!)", "", s)
    s = re.sub(r"\\[a-zA-Z]+", lambda m: m.group(0), s)
    return re.sub(r"[\s{}]", "", s).strip(".,;:")


def lhs_is_object(lhs: str, ctx: Context) -> bool:
    if not lhs:
        return False
    for piece in lhs.split("\x00"):
        n = object_key(piece)
        for obj in ctx.part.objects:
            o = object_key(obj)
            if o and (n == o or (len(o) >= 2 and n.endswith(o) and not n[: -len(o)].rstrip().endswith(("+", "-")))):
                return True
    return False
