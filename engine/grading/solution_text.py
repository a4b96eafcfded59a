"""A reference solution as text to read an answer from: cleaned, cut into resolutions and sentences,
and checked for the data noise of MATH-PT.

:func:`read_solution` returns a :class:`Solution`:

* the text without figure code (``Conteúdo referenciado:`` and after, ``\\begin{picture}``,
  ``(image3)`` / ``(table1)`` placeholders), marking schemes (``[10 pontos]``) and a closing
  note ("Nota:", "Observação:" in the second half);
* its **resolutions** ("Solução 2:", "Resolução 2:", "2ª resolução", "Outra resolução"), each one
  a list of :class:`Sentence` (math segments are never split; ``\\item`` starts a sentence);
* **flags** for noise that must not become a confident gold:

  ``problem_copy``  the solution is the problem statement again;
  ``duplicated``    long passages of the solution are repeated (a copy-paste accident);
  ``scrambled``     sentences are out of order: a sentence starting in lower case (the rest of a
                    sentence cut elsewhere), or a sentence ending in ":" followed by a conclusion
                    instead of what it announces;
  ``foreign``       the solution shares almost no words or numbers with the problem (it belongs
                    to another problem).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from engine.grading.question import content_words

FIGURE_MARKER = "Conteúdo referenciado:"

MATH = re.compile(r"(?<!\\)\$\$(.+?)(?<!\\)\$\$|(?<!\\)\$(.+?)(?<!\\)\$|\\\[(.+?)\\\]|\\\((.+?)\\\)", re.S)  # \$ is a dollar sign
_PLACEHOLDER = re.compile(r"\((?:image|table|figura|imagem)\s*\d*\)", re.I)
_PICTURE = re.compile(r"\\begin\{picture\}.*?\\end\{picture\}|\\(?:put|multiput|qbezier|line|vector|circle)\s*\([^)]*\)(?:\([^)]*\))?(?:\{[^{}]*\})?|\\(?:unitlength|setlength)\b[^\n]*", re.S)
_MARKS = re.compile(r"\\textbf\{\s*\[\s*\+?\d+\s*pontos?\s*\]\s*\}|\[\s*\+?\d+\s*pontos?\s*\]|\(\s*\+?\d+\s*pontos?\s*\)", re.I)
_NOTE = re.compile(r"(?:^|\s)(?:\\textbf\{\s*)?(?:Observa[çc][ãa]o|Observa[çc][õo]es|Obs\.|Nota|Notas|Coment[áa]rio|Coment[áa]rios)\s*\}?\s*[:.]", re.I)
_RESOLUTION = re.compile(
    r"(?:^|(?<=[\s.:;]))(?:\\textbf\{\s*|\\textit\{\s*|\\emph\{\s*)?"
    r"(?:(?:Solu[çc][ãa]o|Resolu[çc][ãa]o|SOLU[ÇC][ÃA]O|RESOLU[ÇC][ÃA]O)\s*(?:\d+|[IVX]+|[Aa]lternativa)|\d+\s*[ªaº.]\s*(?:[Ss]olu[çc][ãa]o|[Rr]esolu[çc][ãa]o)|"
    r"Outra\s+(?:solu[çc][ãa]o|resolu[çc][ãa]o)|(?:Solu[çc][ãa]o|Resolu[çc][ãa]o)\s+alternativa)"
    r"\s*\}?\s*(?:[:.\-–]|(?=\s+[A-ZÁÉÍÓÚ]))",
)
_ITEM = re.compile(r"\\item\s*(?:\[[^\]]*\])?")
_ENV = re.compile(r"\\(?:begin|end)\{(?:enumerate|itemize|align\*?|eqnarray\*?|center|flushleft)\}(?:\[[^\]]*\])?")
_ABBREV = re.compile(r"(?:\b(?:etc|ex|p|pág|fig|Fig|i\.e|e\.g|aprox|obs|n|nº|Sr|Sra|Dr|Dra|Prof|pp)\.)$")


@dataclass
class Sentence:
    """One sentence of a resolution: its text and position (0 = first)."""

    text: str
    index: int
    resolution: int = 0


@dataclass
class Solution:
    """A cleaned solution: its resolutions (lists of sentences) and noise flags."""

    text: str
    resolutions: list[list[Sentence]] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)

    @property
    def sentences(self) -> list[Sentence]:
        """The sentences of the first resolution (the one most solutions have)."""
        return self.resolutions[0] if self.resolutions else []


def _mask_math(s: str) -> str:
    """``s`` with the sentence punctuation inside math segments replaced (same length)."""
    masked = list(s)
    for m in MATH.finditer(s):
        for i in range(m.start(), m.end()):
            if masked[i] in ".!?:;\n\\":
                masked[i] = "_"  # a "\\\\" line break inside an array or cases does not end a sentence
    return "".join(masked)


def split_sentences(s: str) -> list[str]:
    """Sentences of a text; math segments never split; ``\\item`` and blank lines start a sentence."""
    s = _ITEM.sub("\n\n", s)
    s = _ENV.sub("\n\n", s)
    # a full stop typed inside the math at a sentence end ("$x=5.$ Então") ends the sentence
    s = re.sub(r"(?<=[^\s$])([.;])(\$\$|\$)(?=\s|$)", r"\2\1", s)
    s = re.sub(r"(?<=[^\s$])([.;])\s+(\$\$|\$)(?=\s+[A-ZÁÉÍÓÚÂÊÔ])", r"\2\1", s)
    masked = _mask_math(s)
    out: list[str] = []
    start = 0
    for m in re.finditer(r"[.!?](?=\s+|$)|\n\s*\n|\\\\(?=\s)", masked):
        end = m.end()
        piece = s[start:end]
        before = masked[max(0, m.start() - 8) : m.end()]
        if masked[m.start()] == "." and _ABBREV.search(before):
            continue
        if piece.strip(" .\n\\"):
            out.append(piece.strip())
        start = end
    if s[start:].strip(" .\n\\"):
        out.append(s[start:].strip())
    return out


def clean(solution: str) -> str:
    """The solution without figure code, placeholders, marking schemes and a closing note."""
    s = solution.split(FIGURE_MARKER)[0]
    # an answer header ("[Resposta: 0004]\nSolução: ...", the answer sheet's digits) is a sentence of its own: "Resposta: 4"
    s = re.sub(r"^\s*\[\s*Resposta\s*:\s*([^\]\n]{1,60}?)\s*\]",
               lambda m: f"Resposta: {int(m.group(1)) if m.group(1).isdigit() else m.group(1)}\n\n", s)
    s = _PICTURE.sub(" ", s)
    s = _MARKS.sub(" ", s)
    s = re.sub(r"\\(?:qed|blacksquare|square)\b|\$\\square\$|∎", " ", s)
    # a competition's page footer pasted after the solution ("Sociedade Portuguesa de Matemática XVII ONM ...")
    s = re.sub(r"[\s$,\\]*Sociedade\s+Portuguesa\s+de\s+Matem[áa]tica\b.*$", " ", s, flags=re.S)
    notes = list(_NOTE.finditer(s))
    m = notes[-1] if notes else None
    if m is not None and m.start() > len(s) * 0.4:
        s = s[: m.start()] + _after_aside(s[m.start() :])
    # a placeholder alone in a math segment ("$$(table1)$$") goes with its delimiters
    s = re.sub(r"\$\$\s*(?:\((?:image|table|figura|imagem)\s*\d*\)\s*)+\$\$", " ", s, flags=re.I)
    s = re.sub(r"(?<!\$)\$\s*(?:\((?:image|table|figura|imagem)\s*\d*\)\s*)+\$(?!\$)", " ", s, flags=re.I)
    s = _PLACEHOLDER.sub(" ", s)
    s = re.sub(r"[ \t]+", " ", s)
    return s.strip()


def _after_aside(note: str) -> str:
    """What follows a closing note that is only an aside: "Observação: a relação ... é consequência
    imediata do Teorema da bissetriz. Como ..., tem-se ... Portanto, área $=14\\sqrt 5$." — the
    resolution goes on after the note's one sentence and ends with a conclusion; otherwise (a note
    to the end) nothing."""
    sents = split_sentences(note)
    if len(sents) < 3 or re.match(r"^\W*(?:\\textbf\{\s*)?\w+\s*\}?\s*[:.]\s*(?:por\s+exemplo|se|caso|tamb[ée]m|outra|uma\s+outra)\b", sents[0], re.I):
        return ""
    if not _CONCLUSION_START.match(sents[-1]) or not MATH.search(sents[-1]) or _RESOLUTION.search(" ".join(sents[1:])):
        return ""
    return " " + " ".join(sents[1:])


def _split_resolutions(s: str) -> list[str]:
    marks = list(_RESOLUTION.finditer(s))
    if not marks:
        return [s]
    pieces = []
    first = s[: marks[0].start()]
    if first.strip(" .:\n"):
        pieces.append(first)
    for i, m in enumerate(marks):
        stop = marks[i + 1].start() if i + 1 < len(marks) else len(s)
        body = s[m.end() : stop]
        if body.strip(" .:\n"):
            pieces.append(body)
    return pieces or [s]


# --- noise ---------------------------------------------------------------------------------------

_CONCLUSION_START = re.compile(
    r"^(?:Portanto|Logo|Assim|Então|Conclui|Concluímos|Concluimos|Em\s+conclus[ãa]o|Deste\s+modo|Desta\s+forma|Consequentemente|Por\s+isso)\b"
)


def _lowercase_starts(raw: str) -> int:
    """Sentences that start in lower case right after a full stop (a sentence cut elsewhere)."""
    masked = _mask_math(raw)
    n = 0
    for m in re.finditer(r"(?<=[a-záéíóúâêôãõç0-9$)\]])\.\s+(?P<w>[a-záéíóúâêôãõç]{2,})\b", masked):
        before = masked[max(0, m.start() - 8) : m.start() + 1]
        if _ABBREV.search(before):
            continue
        if m.group("w") in ("e", "ou", "cm", "km", "m", "mm", "dm", "kg", "g", "etc"):
            continue
        n += 1
    return n


def _orphan_colons(raw: str) -> int:
    """A sentence ending in ':' followed at once by a conclusion or a hypothesis sentence."""
    masked = _mask_math(raw)
    n = 0
    for m in re.finditer(r":\s+(?=[A-ZÁÉÍÓÚÂÊÔ])", masked):
        rest = raw[m.end() : m.end() + 40]
        if _CONCLUSION_START.match(rest) or re.match(r"^(?:Se|Caso)\s", rest):
            n += 1
    return n


def _duplicated(sentences: list[str]) -> bool:
    seen: dict[str, int] = {}
    for s in sentences:
        key = re.sub(r"\s+", " ", s).strip()
        if len(key) < 60:
            continue
        seen[key] = seen.get(key, 0) + 1
    return any(v >= 2 for v in seen.values())


def _norm(s: str) -> str:
    return re.sub(r"\W+", "", s.lower())


def noise_flags(problem: str, solution: str) -> list[str]:
    """The noise flags of a solution (see the module docstring)."""
    flags = []
    raw = solution.split(FIGURE_MARKER)[0]
    p = _norm(problem.split(FIGURE_MARKER)[0])
    r = _norm(raw)
    if r and p and (r == p or (len(r) > 40 and (r in p or (p in r and len(r) < len(p) * 1.2)))):
        flags.append("problem_copy")
    pieces = _split_resolutions(clean(solution))
    labels = [re.sub(r"\W+", "", m.group(0).lower()) for m in _RESOLUTION.finditer(raw)]
    if any(_duplicated(split_sentences(piece)) for piece in pieces) or len(labels) != len(set(labels)):
        flags.append("duplicated")
    if _lowercase_starts(_PLACEHOLDER.sub(" ", raw)) or _orphan_colons(raw):
        flags.append("scrambled")
    pw = set(content_words(problem.split(FIGURE_MARKER)[0]))
    sw = set(content_words(raw))
    # numbers shared by chance (0, 1, 2: "numeradas de $1$ a $n$") are no evidence that the solution is this problem's
    pnums = set(re.findall(r"\d+", problem.split(FIGURE_MARKER)[0])) - {"0", "1", "2"}
    snums = set(re.findall(r"\d+", raw))
    if len(sw) >= 8 and len(pw) >= 5:
        shared = len(pw & sw) / max(1, min(len(pw), len(sw)))
        shared_nums = len(pnums & snums) / len(pnums) if pnums else None
        # few shared words and numbers; with no telling number in the problem, no shared word at all
        if (shared < 0.12 and shared_nums is not None and shared_nums < 0.5) or (shared_nums is None and shared < 0.05):
            flags.append("foreign")
    return flags


def read_solution(problem: str, solution: str) -> Solution:
    """The cleaned solution, its resolutions and sentences, and its noise flags."""
    text = clean(solution)
    resolutions = []
    for k, piece in enumerate(_split_resolutions(text)):
        sents = [Sentence(t, i, k) for i, t in enumerate(split_sentences(piece))]
        if sents:
            resolutions.append(sents)
    return Solution(text=text, resolutions=resolutions, flags=noise_flags(problem, solution))
