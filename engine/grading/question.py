"""What an open-ended problem asks: its parts, and for each part the kind of answer wanted.

:func:`read_question` splits a problem into its parts ("(a) ... (b) ...", ``\\item[(a)]``; a list
of conditions such as "a) ... b) ..." without a question in it is not a part) and says for each
part what a careful grader would expect:

``value``     one value (a number, an expression);
``count``     a count ("Quantos ...?", "De quantas maneiras ...?"): a whole number;
``set``       all solutions ("Determina todos ...", "Quais são ...", "Para que valores ...",
              "Que interruptores devem ser ligados ...?");
              the answer may still be a single value when the solution finds only one;
``name``      a person, a place or a word ("Quem ...?");
``yes_no``    a yes/no question ("Será possível ...?", "Existe ...?");
``values``    several values at once ("Quantos lápis e quantas canetas tem o João?", "Qual é o
              comprimento e a largura ...?", "Qual é a idade de cada uma das irmãs?" with the
              sisters named, "determina as idades atuais das duas amigas", a follow-up "Para esse
              número, determina ..."): graded when the number of values asked is known
              (:attr:`Part.n_values`);
``proof``     "Mostra que ...", "Prova que ...": nothing to compare;
``other``     a construction, a drawing, a table to fill, several values of unknown number:
              nothing to compare.

It also keeps the words of the asking sentence (to recognise the sentence of the solution that
answers it), the mathematical objects it names (``$n$``, ``$\\overline{BE}$``) and whether a
maximum or a minimum is asked. Pure regex, no dependencies.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace

FIGURE_MARKER = "Conteúdo referenciado:"

ASKS = ("value", "count", "set", "name", "yes_no", "values", "proof", "other")
GRADABLE = ("value", "count", "set", "name", "yes_no", "values")


@dataclass(frozen=True)
class Part:
    """One question of a problem (the whole problem when it has one question)."""

    label: str  # "a", "b", ... ("" for a problem with one question)
    text: str
    asks: str  # one of ASKS
    keywords: tuple[str, ...]  # content words of the asking sentence, plain (no accents), stemmed
    objects: tuple[str, ...]  # math objects the question names, normalized ("n", "\\overline{BE}")
    extremum: str | None  # "max" | "min" | None
    tuples: tuple[str, ...] = ()  # the variables of a tuple answer, in order ("x", "y") when asked for pairs/triples
    about: tuple[str, ...] = ()  # objects the asked quantity is computed from ("a soma dos algarismos de $N$": N)
    n_values: int = 0  # for ``values``: how many values are asked (0: unknown)

    @property
    def gradable(self) -> bool:
        return self.asks in GRADABLE


@dataclass(frozen=True)
class Question:
    """The parts of a problem (one part for a single question)."""

    parts: tuple[Part, ...]

    @property
    def multi_part(self) -> bool:
        return len(self.parts) > 1


def plain(text: str) -> str:
    """Lower case without accents."""
    return "".join(c for c in unicodedata.normalize("NFD", text.lower()) if unicodedata.category(c) != "Mn")


_STOP = set(
    """a o as os um uma uns umas de do da dos das em no na nos nas num numa por pelo pela pelos pelas para
    com sem que qual quais quanto quanta quantos quantas quem como onde quando e ou se ser sao foi era sera
    seria este esta estes estas esse essa esses essas isto isso aquele aquela ao aos à às seu sua seus suas
    teu tua meu minha nosso nossa ele ela eles elas lhe lhes ha tem tera têm pode podem deve devem entao
    cada todo toda todos todas mais menos muito pouco tal tais tambem ja ainda depois antes sobre entre ate
    determina determine determinar calcula calcule calcular indica indique encontra encontre descobre
    descubra qual e diga diz explica explique mostra mostre prova prove valor numero numeros possivel
    possiveis maior menor maximo minimo pedido pedida sabendo sabe-se sendo seja sejam dado dada dados
    dadas vez vezes""".split()
)
_KEEP_SHORT = {"area", "lado", "cm", "km", "dia", "mes", "ano"}


def stem(word: str) -> str:
    """A crude stem: plain, without a plural ending ("palitos" -> "palito", "cães" -> "cae")."""
    w = plain(word)
    for suf in ("oes", "aes", "ais", "eis", "es", "s"):
        if len(w) > 4 and w.endswith(suf):
            return w[: -len(suf)] if suf in ("s", "es") else w[: -len(suf)] + "a"
    return w


def content_words(text: str) -> tuple[str, ...]:
    """Stemmed content words of a sentence, math and figure code left out."""
    t = re.sub(r"\$\$.+?\$\$|\$.+?\$|\\\(.+?\\\)|\\\[.+?\\\]", " ", text, flags=re.S)
    t = re.sub(r"\\[a-zA-Z]+|\(image\d*\)|\(table\d*\)", " ", t)
    out = []
    for w in re.findall(r"[^\W\d_]+(?:-[^\W\d_]+)?", t):
        p = plain(w)
        if p in _STOP or (len(p) < 4 and p not in _KEEP_SHORT):
            continue
        out.append(stem(p))
    return tuple(dict.fromkeys(out))


# --- parts ---------------------------------------------------------------------------------------

_PART_LABEL = re.compile(
    r"\\item\s*\[\s*\(?(?P<a>[a-h])\)?\s*\]"  # \item[(a)] / \item[a)]
    r"|(?:^|(?<=\n)|(?<=[.:;?!]\s)|(?<=[.:;?!]))[ \t]*(?:\((?P<b>[a-h])\)|(?P<c>[a-h])\))(?=\s)"  # (a) / a)
    r"|\bal[íi]nea\s+(?P<d>[a-h])\)?",
    re.I | re.M,
)
_PLAIN_ITEM = re.compile(r"\\item(?!\s*\[)")


def _find_parts(text: str) -> list[tuple[str, str]]:
    """(label, text) of each labelled part, in order, when the labels run a, b, c, ...."""
    hits = [(m.start(), m.end(), (m.group("a") or m.group("b") or m.group("c") or m.group("d")).lower())
            for m in _PART_LABEL.finditer(text)]
    # keep the first run a, b, c... in order
    run: list[tuple[int, int, str]] = []
    for start, end, label in hits:
        want = chr(ord("a") + len(run))
        if label == want:
            run.append((start, end, label))
        elif label == "a" and len(run) < 2:
            run = [(start, end, label)]
    if len(run) < 2:
        items = list(_PLAIN_ITEM.finditer(text))
        if len(items) >= 2 and r"\begin{enumerate}" in text:
            run = [(m.start(), m.end(), chr(ord("a") + i)) for i, m in enumerate(items)]
        else:
            return []
    parts = []
    for i, (_s, end, label) in enumerate(run):
        stop = run[i + 1][0] if i + 1 < len(run) else len(text)
        body = re.sub(r"\\end\{enumerate\}.*$", "", text[end:stop], flags=re.S).strip()
        parts.append((label, body))
    return parts


def _is_question(text: str) -> bool:
    return "?" in text or bool(asking_sentences(text))


# --- what a question asks ------------------------------------------------------------------------

_PROOF = re.compile(
    r"(?:^|[\s.;:!?(])(?:mostr[ae]|prov[ae]|demonstr[ae]|justifi(?:ca|que)|expli(?:ca|que)|verifi(?:ca|que))"
    r"(?!-se)\s+(?:que|porqu[eê]|por\s+que|a\s+(?:igualdade|desigualdade|identidade))\b",
    re.I,
)
_CONSTRUCTION = re.compile(
    r"\b(?:mostr[ae]\s+como|d[ê]\s+um\s+exemplo|apresent[ae]\s+um\s+exemplo|complet[ae]|preench[ae]|numer[ae]\s+os|"
    r"desenh[ae]|constr[óo]i|construa|de\s+que\s+(?:forma|modo|maneira)|como\s+dever[áa]s?|como\s+poder[áa]s?|como\s+pode|como\s+deve|"
    r"descrev[ae]|explica\s+como|explique\s+como|como\s+termina|que\s+estrat[ée]gia|uma\s+estrat[ée]gia)\b",
    re.I,
)
_ALL = re.compile(
    r"\b(?:determin[ae]|encontr[ae]|ach[ae]|indi(?:ca|que)|escrev[ae]|list[ae]|descubr[ae]|descobre|d[ê](?=\s)|"
    r"calcul[ae]|quais)\b[^?.]*\b(?:todos|todas)\b\s+(?:os|as)\b",
    re.I,
)
_SUM_OF_ALL = re.compile(r"\b(?:soma|produto|n[úu]mero|quantidade|m[ée]dia|total)\s+d[eo]s?\s+(?:tod[oa]s|os|as)\b", re.I)
_WHICH = re.compile(
    r"\bquais\s+(?:s[ãa]o|ser[ãa]o|foram|os|as|podem|poder[ãa]o|dos|das)\b|\bquais\b\s*(?:\?|$)|"
    r"\bpara\s+que\s+(?:valores|meses|n[úu]meros|inteiros|naturais|dias|anos|casos|l[âa]mpadas|pares)\b|"
    r"\b(?:que|quais\s+os)\s+valores\b|\bem\s+que\s+(?:casos|condi[çc][õo]es)\b|\bem\s+quais\b|"
    r"\b(?:determin[ae]|calcul[ae]|encontr[ae]|indi(?:ca|que)|d[ê])\s+(?:as|os)\s+(?:idades|valores|n[úu]meros|medidas|"
    r"dimens[õo]es|comprimentos|lados|[âa]ngulos|amplitudes|coordenadas|solu[çc][õo]es|ra[íi]zes|pontos|pre[çc]os|algarismos|"
    r"termos|pares|ternos|poss[íi]veis)\b|"
    # "Que interruptores devem ser ligados ...?": which things (a plural noun), all of them
    r"(?:^|[.?!]\s+)(?:que|a\s+que|em\s+que)\s+(?!horas\b|vezes\b)[a-záéíóúâêôãõç]{3,}s\s+(?:devem|deve|podem|pode|s[ãa]o|foram|ser[ãa]o|t[êe]m|est[ãa]o)\b",
    re.I,
)
#: a relative "quais" is not a question: "cada um dos quais", "nas quais", "dos quais"
_RELATIVE_QUAIS = re.compile(r"\b(?:d[oa]s|n[oa]s|pel[oa]s|a[os]?s|com|para|sobre|entre|por)\s+quais\b", re.I)
#: "Quais são os dois últimos algarismos de ...?" asks for one number
_DIGITS_VALUE = re.compile(r"\bquais\s+(?:s[ãa]o|eram|ser[ãa]o)\s+(?:os|as)\s+(?:dois\s+|tr[êe]s\s+)?(?:[úu]ltim[oa]s|primeir[oa]s)\s+(?:dois\s+|tr[êe]s\s+)?(?:algarismos|d[íi]gitos)\b", re.I)
_YES_NO_START = re.compile(
    r"^(?:e\s+)?(?:é\s+poss[íi]vel|ser[áa]\s+poss[íi]vel|seria\s+poss[íi]vel|ser[áa]\s+que|poder[áa]|poderia|pode|podem|"
    r"existe|existem|existir[áa]|existir[ãa]o|haver[áa]|h[áa]|é\s+verdade|ser[áa]\s+verdade|consegue|conseguir[áa]|"
    r"queres|quer|tem|t[êe]m|ter[áa]|é|s[ãa]o|ser[áa]|est[áa])\b",
    re.I,
)
_WH = re.compile(r"\b(?:quant[oa]s?|qual|quais|quem|onde|quando|que\s+(?:valor|n[úu]mero|dia|ano|hora))\b", re.I)
_COUNT = re.compile(
    r"\b(?:quant[oa]s|(?:o|qual\s+(?:é\s+|será\s+)?o)\s+(?:menor\s+|maior\s+)?n[úu]mero\s+(?:total\s+|m[áa]ximo\s+|m[íi]nimo\s+|m[ée]dio\s+)?de|quantidade\s+de|"
    r"de\s+quantas?\s+(?:maneiras|formas|modos))\b",
    re.I,
)
_NAME = re.compile(
    r"(?:^|[\s.;:])quem\b|\bqual\s+(?:o\s+nome|d[oa]s\s+(?:amig[oa]s|irm[ãa][oa]s|jogador[ea]s|alun[oa]s|crian[çc]as|"
    r"concorrentes|participantes|meninos|meninas|rapazes|raparigas))\b|\bem\s+que\s+(?:sentido|dire[çc][ãa]o)\b|"
    r"\bqual\s+(?:é|foi|será)\s+(?:o|a)\s+mais\s+\w+\s+d[oa]s\b|\bqual\s+(?:é|foi|será|era)\s+a\s+palavra\b|\bqual\s+(?:é|foi|será|era)\s+o\s+dia\s+da\s+semana\b|\b(?:em\s+)?que\s+dia\s+da\s+semana\b|\bqual\s+d[oa]s\s+(?:dois|duas|tr[êe]s|quatro|cinco)\s+"
    r"(?:amig[oa]s|irm[ãa][oa]s|jogador[ea]s|alun[oa]s|crian[çc]as|concorrentes)\b",
    re.I,
)
_EACH = re.compile(
    r"\b(?:quant[oa]s?|qual|quais)\b(?:\s+[^\s?,]+){0,5}?\s+(?:em\s+|a\s+|para\s+)?cada\s+(?:um|uma|concorrente|jogador|participante|amigo)\b|"
    r"\brespe(?:c)?tivamente\b",
    re.I,
)
#: "determina as idades atuais das duas amigas": one value for each of a given number of things
_OF_EACH_OF_N = re.compile(
    r"\b(?:as|os)\s+(?:idades|pre[çc]os|pesos|alturas|comprimentos|quantias|montantes|pontua[çc][õo]es)(?:\s+(?:atuais|actuais|iniciais|finais))?"
    r"\s+d[oa]s\s+(dois|duas|tr[êe]s|quatro|cinco|seis)\s+[^\W\d_]+",
    re.I,
)
_TUPLES = re.compile(r"\b(?:pares|ternos|ternas|triplos|triplas|qu[áa]druplos|qu[áa]druplas|sequ[êe]ncias|quadras)\b", re.I)
_MAX = re.compile(r"\b(?:maior|m[áa]xim[oa]s?|mais\s+(?:alto|alta|longe|velho|velha|pesad[oa]))\b", re.I)
_MIN = re.compile(r"\b(?:menor|m[íi]nim[oa]s?|mais\s+(?:baix[oa]|perto|nov[oa]|lev[ea]))\b", re.I)
_MATH = re.compile(r"(?<!\\)\$\$(.+?)(?<!\\)\$\$|(?<!\\)\$(.+?)(?<!\\)\$|\\\((.+?)\\\)", re.S)


def _sentences(text: str) -> list[str]:
    # a full stop typed inside the math at a sentence end ("... $$123\\ldots 2002.$$ Qual é ...?") ends the sentence
    text = re.sub(r"(?<=[^\s$])\.(\$\$|\$)(?=\s+[A-ZÁÉÍÓÚÂÊÔ])", r"\1.", text)
    masked = text
    for m in _MATH.finditer(text):
        seg = m.group(0)
        masked = masked.replace(seg, seg.replace(".", "\x00").replace("?", "\x01").replace("!", "\x02"), 1)
    parts = re.split(r"(?<=[.?!:])\s+|\n\s*\n", masked)
    return [p.replace("\x00", ".").replace("\x01", "?").replace("\x02", "!").strip() for p in parts if p.strip()]


_IMPERATIVE = re.compile(
    r"(?:^|[\s,;:(])(?:determin[ae]|calcul[ae]|encontr[ae]|indi(?:ca|que)|descobre|descubra|escrev[ae]|mostr[ae]|prov[ae]|"
    r"demonstr[ae]|justifi(?:ca|que)|expli(?:ca|que)|verifi(?:ca|que)(?!-se)|complet[ae]|resolv[ae]|simplifi(?:ca|que)|"
    r"fator[ae]|factoriz[ae]|d[ê](?=\s+(?:um|uma|o|a|os|as|exemplo)\b)|diz|diga|decid[ae]|obtenha|numer[ae]|list[ae]|"
    r"ach[ae]|identifi(?:ca|que)|apresent[ae]|exib[ae]|desenh[ae]|constr[óo]i|construa|preench[ae]|estim[ae]|compar[ae]|"
    r"ordena|ordene|explicit[ae]|averigu[ae]|ajud[ae](?=\s+(?:[oa]s?\s+)?[A-ZÁÉÍÓÚ]?\w+\s+a\s+(?:encontrar|determinar|calcular|descobrir|contar)\b))\b",
    re.I,
)
_WH_START = re.compile(r"^(?:\W*)(?:quant[oa]s?|qual|quais|quem|onde|quando|como|em\s+que|de\s+que|para\s+que|por\s+que)\b", re.I)


def asking_sentences(text: str) -> list[str]:
    """The sentences of a question that ask something (end in "?", open with a question word, or
    hold an asking verb in the imperative: "Sabendo que ..., determina ...")."""
    out = []
    for s in _sentences(text):
        t = re.sub(r"\s*(?:\(image\d*\)|\(table\d*\)|\$\$\s*\$\$)\s*", " ", s).strip()
        if t.endswith("?") or _WH_START.match(t) or _IMPERATIVE.search(re.sub(_MATH, " ", t)):
            out.append(t)
    return out


def _normalize_object(math: str) -> str:
    s = re.sub(r"\s+", "", math)
    s = s.replace("\\widehat", "\\hat").replace("\\measuredangle", "\\angle")
    return s.strip(".,;:?")


_ASK_WORD = re.compile(
    r"\b(?:quant[oa]s?|qual|quais|determin[ae]|calcul[ae]|encontr[ae]|indi(?:ca|que)|descobre|descubra|ach[ae]|obtenha|"
    r"valor\s+de|mede|medem|vale|valem)\b",
    re.I,
)


def _objects(sentences: list[str], about: list[str] | None = None) -> tuple[str, ...]:
    """Math objects the question asks about: those after its last asking word ("..., determina
    $\\overline{DF}$"), else every short one of the asking sentences."""
    out = []
    for s in sentences:
        asks = list(_ASK_WORD.finditer(s))
        tail = s[asks[0].start() :] if asks else s
        if asks and _MATH.search(tail):
            s = tail
        for m in _MATH.finditer(s):
            lead = plain(s[: m.start()][-60:])
            if asks and re.search(r"\b(?:soma|produto|diferenca|quociente|numero\s+de|quantidade|algarismos?|digitos?|dobro|triplo|"
                                  r"metade|media|resto|perimetro|area|volume|quadrado|cubo|raiz)\s+d[oae]s?\s+(?:\w+\s+)?$", lead):
                if about is not None:
                    about.append(_normalize_object(next(g for g in m.groups() if g is not None)))
                continue  # "a soma dos algarismos de $N$" asks about N, it does not ask for N
            body = next(g for g in m.groups() if g is not None)
            body = re.split(r"\s*(?:>|<|\\geq?|\\leq?|\\in\b|\\neq?)\s*", body.strip())[0]
            body = body.strip()
            if "=" in body or len(body) > 40 or re.fullmatch(r"[\d\s.,^{}\\circ%]+", body.strip()):
                continue
            out.append(_normalize_object(body))
    return tuple(dict.fromkeys(out))


def classify(text: str) -> str:
    """What one question asks (one of :data:`ASKS`)."""
    t = text.split(FIGURE_MARKER)[0]
    asking = asking_sentences(t) or _sentences(t)[-1:]
    focus = " ".join(asking)
    last_q = next((s for s in reversed(asking) if s.endswith("?")), "")
    value_asked = bool(_WH.search(focus)) or bool(re.search(
        r"\b(?:determin|calcul|encontr|indi[cq]|descubr|descobr|obtenha)", plain(focus)))
    if _PROOF.search(focus) and not re.search(
        r"\b(?:quant[oa]s?|qual|quais|determin[ae]|calcul[ae])\b", re.sub(_PROOF, " ", focus), re.I
    ):
        return "proof"
    if _CONSTRUCTION.search(focus) and not _WH.search(re.sub(_CONSTRUCTION, " ", focus)):
        return "other"
    if last_q:
        lq = re.sub(r"^(?:e\s+|ent[ãa]o,?\s+|no\s+entanto,?\s+|nesse\s+caso,?\s+|agora,?\s+)", "", last_q.strip(), flags=re.I)
        lq = re.sub(r"^[^,?]{0,60},\s*(?=(?:é|ser[áa]|existe|h[áa]|pode)\b)", "", lq, flags=re.I)
        if (_YES_NO_START.match(lq) or re.match(
                r"^(?:[Oo]|[Aa]|[Oo]s|[Aa]s)?\s*[A-ZÁÉÍÓÚ][\wáéíóúâêôãõç]+(?:\s+[A-ZÁÉÍÓÚ]\w+)?\s*,?\s+(?:pode|podem|poder[áa]|poder[ãa]o|consegue|conseguem|conseguir[áa]|"
                r"tem|t[êe]m|ter[áa])\b", lq)) and not _WH.search(lq):
            return "yes_no"  # "Será possível ...?", "O João pode, depois de algumas trocas, ...?"
    if _NAME.search(last_q or focus):
        return "other" if _COUNT.search(last_q or focus) else "name"
    if re.search(r"\bpara\s+cada\s+(?:valor|n[úu]mero|inteiro|natural)\b", last_q or focus, re.I):
        return "other"  # the answer depends on n: a description, not a value
    if _EACH.search(last_q or focus) or re.search(
            r"\b(?:qual|quais|quanto|quantos|quanta|quantas)\b[^?]{0,30}\b(?:o|a)\s+(?:comprimento|largura|altura|idade|pre[çc]o|valor|[áa]rea|per[íi]metro)\s+e\s+(?:o|a)\s+\w+",
            last_q or focus, re.I) or (last_q and re.search(
            r"\b(?:quant[oa]s?|qual|quais|quem|onde)\b[^?]*\be\s+(?:qual|quais|quant[oa]s?|quem|onde|em\s+que|de\s+quantas?)\b", last_q, re.I)):
        return "values"  # several things asked at once ("Quantas casas ... e qual é o número ...?")
    if _OF_EACH_OF_N.search(last_q or focus):
        return "values"  # "Determina as idades atuais das duas amigas."
    questions = [x for x in asking if x.endswith("?")]
    if len(questions) >= 2 and re.match(r"^\W*e\s+(?:quant[oa]s?|qual|quais|quem)\b", questions[-1], re.I):
        return "values"  # "Quantos do tipo 1? E quantos do tipo 2?"
    if _ALL.search(focus) and not _SUM_OF_ALL.search(focus) and re.search(r"\btod[oa]s\s+(?:as|os)\s+(?:possibilidades|valores|solu[çc][õo]es|hip[óo]teses)\b", focus, re.I):
        return "set"  # "Determina todas as possibilidades para o número de velas": all values, not a count
    if _COUNT.search(focus):
        return "count"
    if _ALL.search(focus) and not _SUM_OF_ALL.search(focus):
        return "set"
    focus_no_rel = _RELATIVE_QUAIS.sub(" ", _DIGITS_VALUE.sub(" qual é o número ", focus))
    if _WHICH.search(focus_no_rel):
        return "set"
    if value_asked or "?" in focus or asking_sentences(t):
        return "value"
    return "other"


def _part(label: str, text: str) -> Part:
    t = text.split(FIGURE_MARKER)[0]
    asking = asking_sentences(t) or _sentences(t)[-1:]
    focus = " ".join(asking)
    extremum = "max" if _MAX.search(focus) else "min" if _MIN.search(focus) else None
    about: list[str] = []
    objects = _objects(asking, about)
    asks = classify(text)
    n_values = values_asked(t, asking) if asks == "values" else 0
    if asks == "values" and not n_values and re.search(r"\bquanto\s+(?:tem|t[êe]m|deve|devem|paga|pagam|recebe|recebem|gasta|gastam)\s+(?:que\s+|de\s+)?"
                                                   r"\w+\s+cada\s+um\b", focus, re.I) and not _named_people(t):
        asks = "value"  # "Quanto tem que pagar cada um dos amigos ...?": one amount, the same for each
    elif asks == "values" and not n_values:
        asks = "other"  # several values, how many unknown: nothing single to compare
    elif asks in ("value", "count") and len(asking) >= 2 and _FOLLOW_UP.match(asking[-1]) and not _ALL.search(asking[-1]) and \
            classify(asking[-2]) in ("value", "count") and classify(asking[-1]) in ("value", "count"):
        asks, n_values = "values", 2  # "Determina o menor número de colegas ... Para esse número, determina de quantas formas ..."
    return Part(label=label, text=text, asks=asks, keywords=content_words(focus),
                objects=objects, extremum=extremum, tuples=_tuple_variables(focus, objects), about=tuple(about),
                n_values=n_values)


#: a second question about the answer of the first: "Para esse número, determina ...", "E quantos ...?"
_FOLLOW_UP = re.compile(r"^\W*(?:para|com|nesse|neste)\s+(?:esse|este|essa|esta|tal)\s+(?:n[úu]mero|valor)\b", re.I)
_COUNT_WORDS = {"dois": 2, "duas": 2, "tres": 3, "quatro": 4, "cinco": 5, "seis": 6}
_NUMERIC_WH = r"(?:qual|quais|quant[oa]s?|de\s+quant[oa]s?)"


def _named_people(text: str) -> list[str]:
    """People named with an article, as Portuguese writes them: "o Pavlo e o José", "A Alice, a Beatriz"."""
    body = re.sub(_MATH, " ", text)
    names = re.findall(r"(?:^|[\s,(])(?:[Oo]|[Aa])\s+([A-ZÁÉÍÓÚÂÊÔÃÕÇ][a-záéíóúâêôãõç]{2,})\b", body)
    return list(dict.fromkeys(names))


def values_asked(text: str, asking: list[str]) -> int:
    """How many values a ``values`` question asks: two for "Quantos X e quantos Y?" or "o comprimento
    e a largura"; the number for "cada uma das três ..."; the people named for "cada um" ("O Pavlo e o
    José ... Quantas castanhas comprou cada um?"); 0 when it cannot be told or a part is not a value
    ("Quantos passos deu e em que direção?")."""
    last_q = next((s for s in reversed(asking) if s.endswith("?")), asking[-1] if asking else "")
    q = re.sub(_MATH, " x ", last_q)
    if re.search(r"\brespe(?:c)?tivamente\b|\b(?:quem|onde|em\s+que|como)\b|\bqual\s+d[oa]s\b", q, re.I):
        return 0
    joined = re.findall(r"\be\s+" + _NUMERIC_WH + r"\b", q, re.I)
    if joined and re.search(r"\b" + _NUMERIC_WH + r"\b", q.split(" e ")[0], re.I):
        return 1 + len(joined)
    questions = [x for x in asking if x.endswith("?")]
    if len(questions) >= 2 and re.match(r"^\W*e\s+" + _NUMERIC_WH + r"\b", questions[-1], re.I):
        return 2
    m = re.search(r"\b(?:o|a)\s+(comprimento|largura|altura|idade|pre[çc]o|valor|[áa]rea|per[íi]metro)((?:\s*,\s*(?:o|a)\s+\w+)*)\s+e\s+(?:o|a)\s+(\w+)", q, re.I)
    if m:
        return 2 + len(re.findall(",", m.group(2)))
    of_n = _OF_EACH_OF_N.search(q)
    if of_n:
        return _COUNT_WORDS.get(plain(of_n.group(1)), 0)
    each = re.search(r"\bcada\s+(?:um|uma|concorrente|jogador|participante|amigo)\b(?:\s+d[oa]s\s+(\w+))?", q, re.I)
    if each:
        word = plain(each.group(1) or "")
        if word in _COUNT_WORDS:
            return _COUNT_WORDS[word]
        people = _named_people(text)
        return len(people) if 2 <= len(people) <= 6 else 0
    return 0


def _tuple_variables(focus: str, objects: tuple[str, ...]) -> tuple[str, ...]:
    """The variables of the tuples a question asks for: "(p,q)", "pares ... $n$ e $m$", "$x$, $y$ e $z$"."""
    for obj in objects:
        m = re.fullmatch(r"\(([a-z](?:[,;][a-z])+)\)", obj)
        if m:
            return tuple(re.split(r"[,;]", m.group(1)))
    singles = [o for o in objects if re.fullmatch(r"[a-z]", o)]
    if len(singles) >= 2 and (_TUPLES.search(focus) or re.search(r"\btod[oa]s\b", focus, re.I)):
        return tuple(singles)
    if _TUPLES.search(focus):
        return ("?",)
    return ()


def read_question(problem: str) -> Question:
    """The parts of a problem and what each asks (see the module docstring)."""
    text = problem.split(FIGURE_MARKER)[0]
    found = _find_parts(text)
    questions = [(label, body) for label, body in found if _is_question(body)]
    if len(questions) >= 2:
        preamble = text[: text.find(found[0][1])] if found else ""
        parts = []
        for label, body in questions:
            part = _part(label, body)
            if not part.keywords and preamble:
                part = replace(part, keywords=content_words(preamble[-300:]))
            parts.append(part)
        return Question(tuple(parts))
    return Question((_part("", text),))
