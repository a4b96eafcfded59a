"""Prompts: the chat messages a model receives for a problem, in the problem's own variant.

The default wording is the MATH-PT paper's, as released with its prompts
(``prompts/*-prompt-language-{ptbr,ptpt}.json`` of deep-spin/math-benchmark): one user message,
no system prompt, made of an instruction, a blank line, ``Questão: <problem>`` and, for multiple
choice, a blank line and the options as ``A) ...`` lines. The pt-BR multiple-choice instruction is
kept verbatim, including its "(A,B,C,D or E)"; the pt-PT ones use European Portuguese
("Resolve", "Certifica-te", "escolha múltipla", "Usa Português Europeu") as the paper's do.
Figures stay as their LaTeX source inside the problem text.

A run may override the prompt with a ``str.format`` template (``RunSpec.prompt`` in
models.toml). Its placeholders:

``{problem}``      the problem text (figures included);
``{choices}``      the ``A) ...`` lines, empty for open-ended problems;
``{variant}``      ``pt-BR`` or ``pt-PT``;
``{language}``     ``Português do Brasil`` or ``Português Europeu``;
``{instruction}``  the default instruction for this problem (so a template can wrap it).

Any other placeholder raises ValueError naming it; write ``{{`` and ``}}`` for literal braces
(``\\boxed{{}}``).
"""

from __future__ import annotations

import string

from engine.problems import Problem

LANGUAGE = {"pt-BR": "Português do Brasil", "pt-PT": "Português Europeu"}

#: the paper's instructions, by (variant, kind)
INSTRUCTIONS: dict[tuple[str, str], str] = {
    ("pt-BR", "multiple_choice"): (
        "Resolva a seguinte questão de múltipla escolha de matemática. Certifique-se de colocar a letra da "
        "opção correta (A,B,C,D or E), e somente a letra da opção correta, dentro de \\boxed{}. "
        "Use Português do Brasil para pensar e responder."
    ),
    ("pt-PT", "multiple_choice"): (
        "Resolve a seguinte questão de escolha múltipla de matemática. Certifica-te de colocar a letra da "
        "opção correta (A,B,C,D ou E), e apenas a letra da opção correta, dentro de \\boxed{}. "
        "Usa Português Europeu para pensar e responder."
    ),
    ("pt-BR", "open_ended"): (
        "Resolva a seguinte questão aberta de matemática. Certifique-se de colocar a resposta final dentro "
        "de \\boxed{}. Use Português do Brasil para pensar e responder."
    ),
    ("pt-PT", "open_ended"): (
        "Resolve a seguinte questão de resposta aberta de matemática. Certifica-te de colocar a resposta "
        "final dentro de \\boxed{}. Usa Português Europeu para pensar e responder."
    ),
}

PLACEHOLDERS = ("problem", "choices", "variant", "language", "instruction")


def choice_lines(problem: Problem) -> str:
    """The options as ``A) ...`` lines (empty for open-ended problems)."""
    if not problem.choices:
        return ""
    return "\n".join(f"{k}) {problem.choices[k]}" for k in sorted(problem.choices))


def instruction_for(problem: Problem) -> str:
    """The paper's instruction for this problem's variant and kind."""
    try:
        return INSTRUCTIONS[(problem.variant, "multiple_choice" if problem.is_multiple_choice else "open_ended")]
    except KeyError:
        raise ValueError(f"{problem.id}: unknown variant {problem.variant!r} (expected pt-BR or pt-PT)") from None


def check_template(template: str) -> None:
    """Raise ValueError naming the first unknown or malformed placeholder of a prompt template."""
    try:
        fields = list(string.Formatter().parse(template))
    except ValueError as e:
        raise ValueError(f"prompt template is malformed ({e}); write {{{{ and }}}} for literal braces") from None
    for _text, name, _spec, _conv in fields:
        if name is None:
            continue
        if name == "" or name.isdigit():
            raise ValueError(
                "prompt template has a positional placeholder '{}'; write {{}} for literal braces "
                f"(e.g. \\boxed{{{{}}}}); placeholders: {', '.join('{' + p + '}' for p in PLACEHOLDERS)}"
            )
        if name not in PLACEHOLDERS:
            raise ValueError(
                f"prompt template has an unknown placeholder {{{name}}}; "
                f"placeholders: {', '.join('{' + p + '}' for p in PLACEHOLDERS)}"
            )


def build_prompt(problem: Problem, template: str | None = None) -> str:
    """The text of the single user message."""
    choices = choice_lines(problem)
    instruction = instruction_for(problem)
    if template is None:
        text = f"{instruction}\n\nQuestão: {problem.problem}\n"
        if choices:
            text += f"\n{choices}\n"
        return text
    check_template(template)
    return template.format(
        problem=problem.problem, choices=choices, variant=problem.variant,
        language=LANGUAGE.get(problem.variant, problem.variant), instruction=instruction,
    )


def build_messages(problem: Problem, template: str | None = None) -> list[dict[str, str]]:
    """Chat messages for a problem: one user message (see the module docstring)."""
    return [{"role": "user", "content": build_prompt(problem, template)}]
