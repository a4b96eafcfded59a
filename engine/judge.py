"""An LLM judge for open-ended answers, as the MATH-PT paper used: its prompt and its verdict.

Pure functions only: :func:`build_judge_messages` writes the chat messages that ask a judge model
whether a response reaches the reference solution's final result, and
:func:`parse_judge_verdict` reads the judge's reply. Running a judge through a catalog run is
:mod:`engine.judging`.

The prompt is the paper's judge prompt (deep-spin/math-benchmark, ``create_judge_prompts.ipynb``:
an impartial judge compares the model's *final result* with the gold solution and answers a JSON
object ``{"score": 0 or 1, "explanation": ...}``), written in the problem's Portuguese variant
(``style="pt"``, the default) or verbatim in English as the paper sent it (``style="paper-en"``).

The parser takes, in order: the last JSON ``"score": 0|1``; the last ``Veredicto: CORRETO`` /
``INCORRETO`` line (pt-PT ``CORRECTO``/``INCORRECTO`` too); a final ``\\boxed{CORRETO}``; a reply
that is nothing but the verdict word. Anything else (no verdict, or both in the final line) gives
None: an unreadable judge never counts as a verdict (it is recorded as ``unparsed``).
"""

from __future__ import annotations

import re

from engine.problems import Problem

#: bump when the prompt changes, so cached judge answers of another prompt are not reused
JUDGE_PROMPT_VERSION = "paper-1"
STYLES = ("pt", "paper-en")

_PAPER_EN = (
    "You are an impartial judge. Your task is to evaluate the correctness of a model's \n"
    "answer to an open-ended math question by comparing it ONLY to the gold solution.\n\n"
    "The model’s answer may use different reasoning steps or formatting than the \n"
    "gold solution; this is acceptable **as long as the final mathematical result \n"
    "is equivalent**. Focus strictly on mathematical correctness.\n\n"
    "Instructions:\n"
    "1. Compare the **final result** of the model answer to the gold answer.\n"
    "2. Minor algebraic, arithmetic, or formatting differences are allowed.\n"
    "3. Completely ignore writing style, explanation detail, or formatting.\n"
    "4. If the final results match or are mathematically equivalent → score 1.\n"
    "5. If the final results do not match → score 0.\n"
    "6. Output ONLY a JSON object in this exact format:\n\n"
    "{{\n  \"score\": 0 or 1,\n  \"explanation\": \"short explanation of the comparison\"\n}}\n\n"
    "[BEGIN DATA]\n************\n[Golden Answer]: {gold}\n************\n[Model Answer]: {answer}\n************\n"
    "[END DATA]\n\nProvide your judgment now.\n"
)

_PT = {
    "pt-BR": (
        "Você é um avaliador imparcial. A sua tarefa é avaliar se a resposta de um modelo a uma questão aberta "
        "de matemática está correta, comparando-a APENAS com a resolução de referência.\n\n"
        "A resposta do modelo pode usar um raciocínio ou uma formatação diferentes da resolução de referência; "
        "isso é aceitável **desde que o resultado matemático final seja equivalente**. Concentre-se apenas na "
        "correção matemática.\n\n"
        "Instruções:\n"
        "1. Compare o **resultado final** da resposta do modelo com o da resolução de referência.\n"
        "2. Pequenas diferenças algébricas, aritméticas ou de formatação são permitidas (0,5 e 1/2 são iguais).\n"
        "3. Ignore completamente o estilo, o detalhe da explicação e a formatação.\n"
        "4. Se os resultados finais coincidem ou são matematicamente equivalentes → score 1.\n"
        "5. Se os resultados finais não coincidem → score 0.\n"
        "6. Responda APENAS com um objeto JSON exatamente neste formato:\n\n"
        "{{\n  \"score\": 0 ou 1,\n  \"explanation\": \"breve explicação da comparação\"\n}}\n\n"
        "[INÍCIO DOS DADOS]\n************\n[Problema]: {problem}\n************\n[Resolução de referência]: {gold}\n"
        "************\n[Resposta do modelo]: {answer}\n************\n[FIM DOS DADOS]\n\nDê agora o seu julgamento.\n"
    ),
    "pt-PT": (
        "És um avaliador imparcial. A tua tarefa é avaliar se a resposta de um modelo a uma questão de resposta "
        "aberta de matemática está correta, comparando-a APENAS com a resolução de referência.\n\n"
        "A resposta do modelo pode usar um raciocínio ou uma formatação diferentes da resolução de referência; "
        "isso é aceitável **desde que o resultado matemático final seja equivalente**. Concentra-te apenas na "
        "correção matemática.\n\n"
        "Instruções:\n"
        "1. Compara o **resultado final** da resposta do modelo com o da resolução de referência.\n"
        "2. Pequenas diferenças algébricas, aritméticas ou de formatação são permitidas (0,5 e 1/2 são iguais).\n"
        "3. Ignora completamente o estilo, o detalhe da explicação e a formatação.\n"
        "4. Se os resultados finais coincidem ou são matematicamente equivalentes → score 1.\n"
        "5. Se os resultados finais não coincidem → score 0.\n"
        "6. Responde APENAS com um objeto JSON exatamente neste formato:\n\n"
        "{{\n  \"score\": 0 ou 1,\n  \"explanation\": \"breve explicação da comparação\"\n}}\n\n"
        "[INÍCIO DOS DADOS]\n************\n[Problema]: {problem}\n************\n[Resolução de referência]: {gold}\n"
        "************\n[Resposta do modelo]: {answer}\n************\n[FIM DOS DADOS]\n\nDá agora o teu julgamento.\n"
    ),
}

#: long texts are cut (the response to its end, where the final answer is): a judge run's context
#: window must hold the prompt and its reply
MAX_RESPONSE_CHARS = 3000
MAX_SOLUTION_CHARS = 3000
MAX_PROBLEM_CHARS = 1500


def _cut_end(text: str, n: int) -> str:
    return text if len(text) <= n else "…" + text[-n:]


def _cut_start(text: str, n: int) -> str:
    return text if len(text) <= n else text[:n] + "…"


def build_judge_messages(problem: Problem, gold_solution: str, response: str, style: str = "pt") -> list[dict[str, str]]:
    """Chat messages asking a judge model to grade ``response`` against ``gold_solution``."""
    if style not in STYLES:
        raise ValueError(f"judge prompt style {style!r}: expected one of {', '.join(STYLES)}")
    answer = _cut_end(response or "", MAX_RESPONSE_CHARS)
    gold = _cut_end(gold_solution.split("Conteúdo referenciado:")[0].strip(), MAX_SOLUTION_CHARS)
    if style == "paper-en":
        content = _PAPER_EN.format(gold=gold, answer=answer)
    else:
        template = _PT.get(problem.variant, _PT["pt-PT"])
        text = _cut_start(problem.problem.split("Conteúdo referenciado:")[0].strip(), MAX_PROBLEM_CHARS)
        content = template.format(problem=text, gold=gold, answer=answer)
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


_SCORE = re.compile(r"[\"']?score[\"']?\s*[:=]\s*[\"']?\s*([01])(?:\.0)?\b(?!\s*(?:ou|or|/)\s*1)", re.I)


def parse_judge_verdict(text: str) -> str | None:
    """"correct", "incorrect" or None (no clear verdict) from a judge's reply."""
    if not text or not text.strip():
        return None
    scores = list(_SCORE.finditer(text))
    if scores:
        return "correct" if scores[-1].group(1) == "1" else "incorrect"
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
