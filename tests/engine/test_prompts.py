"""Prompts: the paper's wording per variant and kind, and per-run templates."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.builtin import builtin_problems
from engine.problems import Problem
from engine.prompts import build_messages, build_prompt, check_template

MATHPT = Path(__file__).resolve().parents[2].parent / "shared" / "mathpt"

PTBR_MC = Problem(
    id="t/0", split="t", index=0, variant="pt-BR", kind="multiple_choice", problem="Quanto é $2+2$?",
    choices={"A": "3", "B": "4", "C": "5", "D": "6", "E": "7"}, answer="B",
)
PTPT_OPEN = Problem(id="t/1", split="t", index=1, variant="pt-PT", kind="open_ended",
                    problem="Calcula $2+2$.\n\n\nConteúdo referenciado:\n[table1]\n\\begin{tabular}{c} 1 \\end{tabular}")


def test_ptbr_multiple_choice_is_the_papers_prompt_verbatim() -> None:
    expected = (
        "Resolva a seguinte questão de múltipla escolha de matemática. Certifique-se de colocar a letra da opção "
        "correta (A,B,C,D or E), e somente a letra da opção correta, dentro de \\boxed{}. Use Português do Brasil "
        "para pensar e responder.\n\nQuestão: Quanto é $2+2$?\n\nA) 3\nB) 4\nC) 5\nD) 6\nE) 7\n"
    )
    assert build_messages(PTBR_MC) == [{"role": "user", "content": expected}]


def test_ptpt_and_open_ended_wording() -> None:
    mc = build_prompt(Problem(**{**PTBR_MC.to_dict(), "variant": "pt-PT"}))
    assert mc.startswith("Resolve a seguinte questão de escolha múltipla de matemática. Certifica-te")
    assert "(A,B,C,D ou E)" in mc and "Usa Português Europeu para pensar e responder." in mc
    text = build_prompt(PTPT_OPEN)
    assert text.startswith(
        "Resolve a seguinte questão de resposta aberta de matemática. Certifica-te de colocar a resposta final "
        "dentro de \\boxed{}. Usa Português Europeu para pensar e responder.\n\nQuestão: Calcula"
    )
    assert "\\begin{tabular}{c} 1 \\end{tabular}" in text  # figures stay as LaTeX source
    assert "A)" not in text
    br = build_prompt(Problem(**{**PTPT_OPEN.to_dict(), "variant": "pt-BR"}))
    assert br.startswith("Resolva a seguinte questão aberta de matemática. Certifique-se") and "Português do Brasil" in br


def test_every_builtin_problem_gets_its_variant() -> None:
    for p in builtin_problems():
        text = build_prompt(p)
        assert ("Português do Brasil" in text) == (p.variant == "pt-BR")
        assert ("E) " in text) == p.is_multiple_choice
        assert p.problem in text


def test_mathpt_figure_prompt_keeps_the_source() -> None:
    if not MATHPT.is_dir():
        pytest.skip("shared/mathpt is not present")
    from engine.dataset import load_problems

    p = next(p for p in load_problems(MATHPT, splits=["ptpt_multiple_choice"]) if p.has_figure)
    text = build_prompt(p)
    assert "Conteúdo referenciado:" in text and "\\begin{" in text


def test_template_placeholders() -> None:
    t = "[{variant}] {language}\n{instruction}\nProblema: {problem}\n{choices}\nResponda em \\boxed{{}}."
    text = build_prompt(PTBR_MC, t)
    assert text.startswith("[pt-BR] Português do Brasil\nResolva a seguinte")
    assert "Problema: Quanto é $2+2$?\nA) 3\nB) 4" in text and text.endswith("\\boxed{}.")
    assert build_prompt(PTPT_OPEN, "{problem}|{choices}|").endswith("|" + "|")  # choices empty for open-ended


@pytest.mark.parametrize(
    "template, name",
    [
        ("{problem} {question}", "{question}"),
        ("{problem} {choices[0]}", "{choices[0]}"),
        ("{problem.x}", "{problem.x}"),
        ("coloque em \\boxed{} {problem}", "positional placeholder"),
        ("{0} {problem}", "positional placeholder"),
        ("{problem", "malformed"),
    ],
)
def test_bad_templates_name_the_placeholder(template: str, name: str) -> None:
    with pytest.raises(ValueError) as e:
        build_prompt(PTBR_MC, template)
    assert name in str(e.value)
    with pytest.raises(ValueError):
        check_template(template)
