"""An LLM judge for open-ended answers, as the MATH-PT paper used: its prompt and its verdict.

Pure functions only: :func:`build_judge_messages` writes the chat messages that ask a judge model
whether a response reaches the reference solution's final answer, and :func:`parse_judge_verdict`
reads the judge's reply. Running a judge through a configured run is wired elsewhere.

The judge is asked to end with one line ``Veredicto: CORRETO`` or ``Veredicto: INCORRETO`` (pt-PT:
``CORRECTO``/``INCORRECTO`` are accepted too). The parser takes the last such line; failing that,
a final ``\\boxed{CORRETO}``; failing that, a reply that is nothing but the verdict word. Anything
else (no verdict, or both in the final line) gives None: an unreadable judge never counts as a
verdict.
"""

from __future__ import annotations

import re

from engine.problems import Problem

_JUDGE_INSTRUCTION = {
    "pt-BR": (
        "Você é um avaliador de respostas a problemas de matemática. Abaixo estão um problema, a sua "
        "resolução de referência e a resposta de um estudante. Decida se a resposta FINAL do estudante é "
        "equivalente à resposta final da resolução de referência (o raciocínio não é avaliado; formas "
        "equivalentes como 0,5 e 1/2 contam como iguais; se o problema pede várias coisas, todas têm de "
        "estar certas). Termine com uma única linha: \"Veredicto: CORRETO\" ou \"Veredicto: INCORRETO\"."
    ),
    "pt-PT": (
        "És um avaliador de respostas a problemas de matemática. Abaixo estão um problema, a sua resolução "
        "de referência e a resposta de um estudante. Decide se a resposta FINAL do estudante é equivalente à "
        "resposta final da resolução de referência (o raciocínio não é avaliado; formas equivalentes como "
        "0,5 e 1/2 contam como iguais; se o problema pede várias coisas, todas têm de estar certas). "
        "Termina com uma única linha: \"Veredicto: CORRETO\" ou \"Veredicto: INCORRETO\"."
    ),
}

#: the response is cut to its last characters: the final answer is at the end
MAX_RESPONSE_CHARS = 6000


def build_judge_messages(problem: Problem, gold_solution: str, response: str) -> list[dict[str, str]]:
    """Chat messages asking a judge model to grade ``response`` against ``gold_solution``."""
    instruction = _JUDGE_INSTRUCTION.get(problem.variant, _JUDGE_INSTRUCTION["pt-PT"])
    answer = response if len(response) <= MAX_RESPONSE_CHARS else "…" + response[-MAX_RESPONSE_CHARS:]
    content = (
        f"{instruction}\n\n"
        f"Problema:\n{problem.problem}\n\n"
        f"Resolução de referência:\n{gold_solution}\n\n"
        f"Resposta do estudante:\n{answer}\n"
    )
    return [{"role": "user", "content": content}]


_WORD = r"(IN)?CORRE(?:C)?TO|(IN)?CORRECT"
_VERDICT_LINE = re.compile(r"veredi(?:c)?to(?:\s+final)?[\s:：*\-]*(?P<w>[A-Za-z]+)", re.I)
_BOXED = re.compile(r"\\boxed\{\s*(?:\\text\{)?\s*(?P<w>[A-Za-z]+)\s*\}?\s*\}")


def _word_verdict(word: str) -> str | None:
    w = word.strip().upper()
    if re.fullmatch(r"CORRE(?:C)?TO|CORRECT|CERTO", w):
        return "correct"
    if re.fullmatch(r"INCORRE(?:C)?TO|INCORRECT|ERRADO", w):
        return "incorrect"
    return None


def parse_judge_verdict(text: str) -> str | None:
    """"correct", "incorrect" or None (no clear verdict) from a judge's reply."""
    if not text or not text.strip():
        return None
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    for line in reversed(lines):
        m = _VERDICT_LINE.search(line)
        if m:
            return _word_verdict(m.group("w"))
    boxes = list(_BOXED.finditer(text))
    if boxes:
        return _word_verdict(boxes[-1].group("w"))
    last = re.sub(r"[*_.!\s]", "", lines[-1])
    return _word_verdict(last)
