"""The phrases and math shapes a gold's extraction reads: conclusions, hypotheses, answer phrases,
stating verbs, relations, units, lists (see :mod:`engine.grading.gold`)."""

from __future__ import annotations

import re

STRONG = re.compile(
    r"\b(?:logo|portanto|assim|conclu[íi]mos|conclui-se|concluindo|em\s+conclus[ãa]o|deste\s+modo|desta\s+forma|"
    r"dessa\s+forma|desse\s+modo|por\s+conseguinte|consequentemente|finalmente|por\s+fim|no\s+total|ao\s+todo|"
    r"em\s+suma|em\s+resumo|em\s+qualquer\s+caso|pelo\s+que|donde|da[ií]|resposta|pedid[oa]s?|procurad[oa]s?|"
    r"pretendid[oa]s?|com\s+isso|dessa\s+maneira|desta\s+maneira|sendo\s+assim|por\s+isso|teremos,?\s+ent[ãa]o)\b",
    re.I,
)
WEAK = re.compile(
    r"\b(?:ent[ãa]o|ou\s+seja|isto\s+[ée]|temos|obtemos|obt[ée]m-se|vem|resulta|fica|tem-se|h[áa]|existem|s[ãa]o|"
    r"seja|tal\s+que|sendo)\b",
    re.I,
)
ANSWER_PHRASE = re.compile(
    r"\b(?:a\s+)?resposta(?:\s+(?:final|correta|correcta|pedida|procurada|pretendida|certa|ao\s+problema|à\s+quest[ãa]o))?"
    r"\s*(?:é|será|:|=)|\bResposta\s*:|\[\s*Resposta\s*:|\bR\s*:\s*(?=\$|\d)|\b(?:o\s+)?(?:valor|n[úu]mero|resultado)\s+"
    r"(?:pedido|procurado|pretendido)\s+(?:é|será)|\b(?:a\s+)?(?:soma|quantia|[áa]rea|probabilidade|dist[âa]ncia)\s+(?:pedida|procurada|pretendida)\s+(?:é|será)",
    re.I,
)
#: a solution that opens with its answer: "A resposta é 92.", "Resposta: 0004." (a short sentence, nothing else in it)
ANSWER_FIRST = re.compile(r"^\W*(?:a\s+)?resposta(?:\s+final)?\s*(?:é|será|:)\s*(?:\$[^$]{1,40}\$|[^\s$.;]{1,20})\s*\.?\s*$", re.I)
HYPOTHESIS = re.compile(
    r"^\W*(?:se|caso|suponha(?:mos)?|supondo|admita(?:mos)?|imagine|consideremos\s+o\s+caso|no\s+caso|nesse\s+caso|neste\s+caso|"
    r"no\s+(?:primeiro|segundo|terceiro|quarto|[úu]ltimo|outro)\s+caso|em\s+cada\s+caso|para\s+(?:o\s+caso|cada)|quando)\b|"
    r"\b(?:seria|seriam|teria|teriam|fosse|fossem|estaria|estariam|haveria|poderia|poderiam|deveria|deveriam|"
    r"\w+(?:ariam|eriam|iriam))\b|\bse\s+(?:\w+\s+)?\w+(?:armos|ermos|irmos)\b",
    re.I,
)
THIS_CASE = re.compile(r"\b(?:neste|nesse|naquele|no\s+primeiro|no\s+segundo|no\s+terceiro|em\s+cada)\s+caso\b|\bcada\s+um\s+d[eo]stes\s+(?:\w+\s+)?casos\b|\b\d+\s*[ºo]\s*caso\b|\bcaso\s+\d\b", re.I)
JUSTIFY = re.compile(r"\b(?:pois|porque|j[áa]\s+que|uma\s+vez\s+que|visto\s+que|dado\s+que)\b", re.I)
ROUNDING = re.compile(r"inteiro\s+mais\s+pr[óo]ximo|parte\s+inteira|arredond|maior\s+inteiro\s+(?:menor|que\s+n[ãa]o)", re.I)
ANGLE_PROBLEM = re.compile(r"[âa]ngulo|amplitude|graus?\b|\\widehat|\\hat|\\angle|\\measuredangle|\^\s*\{?\\circ|°|º", re.I)
PREMISE = re.compile(r"^\W*(?:como|uma\s+vez\s+que|dado\s+que|visto\s+que|j[áa]\s+que|sendo|porque|pois)\b[^,]*,", re.I)
UNIQUE = re.compile(r"\b(?:[úu]nic[oa]s?|[úu]nicamente|s[óo]|apenas|somente|exclusivamente)\b", re.I)
#: "O único par de primos $(m,n)$ que cumpre ... é $(m,n)=(3,17)$", "a única solução é: ...": a stated unique answer
UNIQUE_IS = re.compile(r"\b(?:o|a)\s+[úu]nic[oa]\b[^.;]*\b(?:é|ser[áa])\s*:?\s*$", re.I)
DEAD_END = re.compile(r"\b(?:absurd[oa]|contradi[çc][ãa]o|imposs[íi]vel|n[ãa]o\s+(?:é|s[ãa]o)\s+poss[íi]ve(?:l|is))\b", re.I)
EXAMPLE = re.compile(r"\bpor\s+exemplo\b|\bexemplifica|\bcomo\s+exemplo\b", re.I)
AFTERWORD = re.compile(
    r"^\W*(?:de\s+fa(?:c)?to|com\s+efeito|note\s+que|observe\s+que|repare\s+que|veja\s+que|perceba\s+que|"
    r"podemos\s+verificar|pode-se\s+verificar|para\s+(?:mostrar|ver|verificar|confirmar|provar)|para\s+concluir\s+que|para\s+(?:tal|isso|isto)\s+basta|"
    r"para\s+cada\s+um\s+d[eo]s(?:tes|ses)\s+(?:valores|casos|n[úu]meros)|(?:o|no)\s+exemplo\s+(?:seguinte|abaixo|ao\s+lado)|observe-se|observemos|"
    r"note-se|notemos|repare-se|verifica-se|verificamos|falta\s+(?:ver|mostrar|verificar)|resta\s+(?:ver|mostrar|verificar)|"
    r"vejamos\s+(?:agora\s+)?que|mostremos|como\s+curiosidade|nota\b|observa[çc][ãa]o|uma\s+(?:poss[íi]vel\s+)?"
    r"(?:configura[çc][ãa]o|distribui[çc][ãa]o|forma|maneira)|um\s+exemplo|por\s+exemplo|exemplo\b|tal\s+(?:é|pode\s+ser)\s+"
    r"(?:conseguido|obtido|feito)|(?:isso|isto)\s+(?:é|pode\s+ser)\s+(?:conseguido|obtido|feito)|a\s+figura|na\s+figura)",
    re.I,
)
STATES = re.compile(
    r"(?:\bé|\bs[ãa]o|\bser[áa]|\bser[ãa]o|\bfoi|\bforam|\bmede|\bmedem|\bvale|\bvalem|\bigual\s+a|\biguais\s+a|\bde|\bem|"
    r"=|\bh[áa]|\bexiste|\bexistem|\btotal\s+de|\btem|\bt[êe]m|\bter[áa]|\bter[ãa]o|\bobteve|\bobt[ée]m|\bcusta|\bcustou|"
    r"\bpagou|\brecebe|\brecebeu|\bd[áa]|\bdeu|\bfica|\bficou|\bficam|\bcom|\bpara|\bpor|\bpossui|\bcont[ée]m|\bresta|"
    r"\brestam|\bsobram|\bsobra|\bvai|\bv[ãa]o|\bpesa|\bdura|\bdurou|\bdemora|\bdemorou|\bdemoram|\bdemoraram|"
    r"\b(?:tem|t[êe]m|ter[áa]|ter[ãa]o|h[áa]|deve|devem|dever[áa]|dever[ãa]o)\s+(?:que|de)\s+ser|\bdeve\s+ser|\bdevem\s+ser|\bpercorre|\bpercorreu|\bfaz|\bfez|\btinha|\btinham|"
    r"\bprecisa|\bprecisaria|\bnecess[áa]ri[oa]s?|\bm[áa]ximo|\bm[íi]nimo|\bexatamente|\bexactamente|\bapenas|\bs[óo]|"
    r"\bsomente|\bcerca\s+de|\bou\s+seja,?|\bisto\s+é,?|\bpois|\bdar)\s*(?:a\s+|o\s+|os\s+|as\s+|um\s+|uma\s+)?$",
    re.I,
)
RANGE_BEFORE = re.compile(r"\b(?:de|entre|desde)\s*$", re.I)
APPROX = re.compile(r"(?:\baproximadamente|\bcerca\s+de|\bquase|\\approx|≈)\s*$", re.I)
BOUND_BEFORE = re.compile(
    r"\b(?:no\s+m[áa]ximo|no\s+m[íi]nimo|pelo\s+menos|quando\s+muito|at[ée]|mais\s+de|menos\s+de|mais\s+do\s+que|menos\s+do\s+que|"
    r"inferior\s+a|superior\s+a|maior\s+(?:ou\s+igual\s+)?(?:que|do\s+que|a)|menor\s+(?:ou\s+igual\s+)?(?:que|do\s+que|a)|n[ãa]o\s+(?:mais|menos))\s*$",
    re.I,
)
RELATION_SPLIT = re.compile(
    r"(\\Leftrightarrow|\\iff|\\implies|\\Longrightarrow|\\Rightarrow|\\Longleftrightarrow|\\to\b|\\approx|\\simeq|\\neq|\\ne\b|"
    r"\\leqslant|\\geqslant|\\leq|\\geq|\\le\b|\\ge\b|<|>|≤|≥|=|\\equiv|\\in\b|\\subset|\\notin)"
)
BARE_NUMBER = re.compile(r"(?<![\w\\^_{.,])-?\d+(?:[.,]\d+)*(?![\w])(?![.,]\d)")
UNIT_ONLY = re.compile(
    r"^\s*(?:(?:\{\s*\})?\^\s*\{?\s*(?:2|3|\\circ|o)\s*\}?|\\%|%|\\circ|\\text\{\s*[a-zA-Z]*\s*\}\s*(?:\^\s*\{?[23]\}?)?|"
    r"\\mbox\{\s*[a-zA-Z ]*\s*\}\s*(?:\^\s*\{?[23]\}?)?|[a-zA-Z]{1,3}(?:\^\s*\{?[23]\}?)?|\\,\s*(?:cm|m|km|dm|mm)(?:\^\s*\{?[23]\}?)?|"
    r"\\(?:rm|mbox)\s*\{?\s*[a-z]+\s*\}?)\s*$"
)
LIST_JOIN = re.compile(r"^\s*(?:,|;|e|ou|,\s*e|,\s*ou|\\text\{\s*e\s*\}|\\mbox\{\s*e\s*\})\s*$", re.I)
RESPECTIVELY = re.compile(r"\brespe(?:c)?tivamente\b", re.I)
NEG = re.compile(
    r"\bn[ãa]o\b|\bnenhum[a]?\b|\bimposs[íi]vel\b|\bnunca\b|\bjamais\b|\bnem\b", re.I
)
NAME_WORD = re.compile(r"(?<![\w$\\])([A-ZÁÉÍÓÚÂÊÔÃÕÇ][a-záéíóúâêôãõçà]+(?:\s+(?:de|da|do|dos|das)\s+[A-ZÁÉÍÓÚ][a-záéíóúâêôãõç]+)?)")



VARS = re.compile(r"(?<![\\a-zA-Z])([a-zA-Z])(?![a-zA-Z])")


POLY_ZERO = re.compile(r"0")
POLYNOMIAL = re.compile(r"[a-zA-Z]\s*\^\s*\{?\s*\d|\d\s*[a-zA-Z]\b|[a-zA-Z]\s*[-+]\s*\d")
