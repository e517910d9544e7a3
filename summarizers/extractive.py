"""The built-in summarizer: offline, deterministic, drawn from what the code says.

Every node gets six summaries of at most 2, 4, 8, 16, 32 and 64 words. Sources,
best first: docstrings and leading comments, READMEs and package docs, then
what the structure says (signatures, the most important children). Each rung is
written for its length: whole sentences when they fit, else the sentence cut at
a clause boundary, else a headline made of its content words. A rung never ends
mid-phrase on a dangling "of the".
"""

from __future__ import annotations

import re

BUDGETS = (2, 4, 8, 16, 32, 64)
SUMMARIZER_ID = "extractive/1"

ARTICLES = {"a", "an", "the"}
FILLERS = ARTICLES | {"this", "these", "those", "given", "specified", "provided", "some", "any", "all", "very", "just"}
# Words a summary must not end on; also the words dropped first from a headline.
FUNCTION_WORDS = FILLERS | {
    "of", "to", "in", "on", "for", "with", "by", "from", "into", "onto", "at", "as", "and", "or", "but", "nor",
    "is", "are", "was", "be", "been", "being", "it", "its", "which", "that", "who", "whose", "where", "when",
    "if", "then", "than", "so", "such", "via", "per", "not", "no", "can", "may", "will", "should", "would",
    "used", "using", "also", "has", "have", "do", "does", "an", "we", "you", "our", "your", "their", "there",
}
# Words that start a new clause: a shorter summary may stop just before them.
CLAUSE_STARTS = {
    "which", "that", "where", "when", "while", "if", "unless", "because", "since", "although", "whereas",
    "so", "and", "or", "but", "with", "using", "by", "for", "from", "into", "in", "on", "to", "via", "as",
    "after", "before", "until", "without", "except", "instead", "returning", "including",
}
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=\S)")
_ABBREVIATIONS = ("e.g.", "i.e.", "etc.", "vs.", "cf.", "approx.", "resp.", "Mr.", "Dr.", "No.", "a.k.a.", "aka.")
_SECTION_HEADER = re.compile(
    r"^\s*(?:(?:Args|Arguments|Parameters|Params|Returns?|Yields?|Raises|Examples?|Notes?|Usage|Attributes|"
    r"See Also|Warnings?|Todo)\s*:?\s*$|(?:Args|Arguments|Parameters|Returns?|Yields?|Raises|Examples?)\s*:|"
    r":param|:returns?|:raises|:type|:rtype|@param|@return|@throws|>>>|\.\.\s)",
    re.IGNORECASE,
)
_MARKUP = [
    (re.compile(r":[a-z:]+:`~?([^`<]+?)(?:\s*<[^>]*>)?`"), r"\1"),  # :func:`name` -> name
    (re.compile(r"`{1,2}([^`]+)`{1,2}_?"), r"\1"),  # ``code`` and `link`_
    (re.compile(r"\*\*([^*]+)\*\*|\*([^*\s][^*]*)\*"), r"\1\2"),  # **bold**, *emphasis*
    (re.compile(r"\[([^\]]+)\]\([^)]*\)"), r"\1"),  # [text](url)
    (re.compile(r"\s*<(?:https?|mailto|ftp):[^<>\s]*>"), ""),  # <https://...> autolinks
    (re.compile(r"<(?:/?[A-Za-z][\w:-]*(?:\s[^<>]*)?/?|!--.*?--)>"), ""),  # html tags, not "a < b > c"
    (re.compile(r"https?://\S+"), ""),
]
_LEAD_IN = re.compile(
    r"^(?:this|the)\s+(?:module|file|package|class|function|method|script|library|program|directory|folder|"
    r"crate|header|type|struct|interface|component|object)\s+(?:is\s+)?(?:(?:a|an)\s+)?"
    r"(?:provides|contains|implements|defines|holds|handles|includes|is used to|is used for|is responsible for|"
    r"exports|offers|supplies)?\s*",
    re.IGNORECASE,
)
# Mixed-case words a reader keeps whole; then UUIDv4/IPv6, acronyms before a capitalised word
# (HTTPServer), words with their digits (utf8, OAuth2, base64).
_MIXED_WORDS = r"NaN|OAuth|GraphQL|JavaScript|TypeScript|GitHub|GitLab|PyPI|macOS|iOS|BigInt|WebSocket|MySQL|NumPy"
_IDENTIFIER_PARTS = re.compile(
    rf"(?:{_MIXED_WORDS})\d*|[A-Z]{{2,}}v\d+|[A-Z]+(?=[A-Z][a-z])|[a-z]+\d+[a-z][a-z0-9]*|[A-Z]?[a-z]+\d*|[A-Z]+\d*[a-z]?(?![a-z])|\d+[a-z]*"
)


def words(text: str) -> list[str]:
    return text.split()


def word_count(text: str) -> int:
    return len(text.split())


# --- turning doc text into sentences -----------------------------------------------


_BOILERPLATE = re.compile(
    r"(?i)(copyright\b|\(c\)\s*\d{4}|©|all rights reserved|^licen[sc]ed\b|licen[sc]ed under|^licen[sc]e\s*:|spdx-license|"
    r"^authors?\s*:|^contact\s*:|^maintainer\s*:|^\$(id|revision|date)|^written by\b|^created (by|on)\b|"
    r"-\*-.*-\*-|^vim?:|^[\w./-]+\.(py|c|h|js|ts|go|rs|rb|sh)$|spdx-|permission to use|this file is part of|"
    r"provided \W?as is\W?|without (any )?warranty)"
)
# Lines that are directives to a tool, not words for a reader.
_NOISE_LINE = re.compile(
    r"(?i)\bnoqa\b|@ts-(?:ignore|expect-error|nocheck|check)\b|\beslint(?:-disable|-enable|\s+[\w/-]+:)|"
    r"\bpylint:|\btype:\s*ignore|^pragma\b|#\s*pragma\b|\bistanbul\s+ignore|prettier-ignore|\bfmt:\s*(?:off|on|skip)|"
    r"^(?:mypy|pyright|isort|ruff|flake8|nosec|jshint|jscs|tslint|c8|biome-ignore|deno-lint-ignore)\b|"
    r"^#?\s*!|^\s*(?:TODO|FIXME|XXX|HACK)\b|\b(?:generated|created) (?:by|with|from|automatically)\b|"
    r"\bdo not (?:edit|modify)\b|@generated|\bauto-?generated\b|^(?:global|jslint|exported)\s|^\$\w+\$|"
    r"^[\w.-]+\.(?:py|js|ts|go|rs|c|h)\s*[:-]"
)
_SEPARATOR_RUN = re.compile(r"([/=*#~_+<>-])\1{3,}")
_IMAGE_OR_LINK = re.compile(r"\[!\[[^\]]*\]\([^)]*\)\]\([^)]*\)|!\[[^\]]*\]\([^)]*\)|!\[[^\]]*\]\[[^\]]*\]|"
                            r"\[[^\]]*\]\([^)]*\)|\[[^\]]*\]\[[^\]]*\]|<[^>]+>|https?://\S+")


def is_noise_line(line: str) -> bool:
    """A pragma, banner, separator, badge row, TODO or licence line: never a summary."""
    stripped = line.strip()
    if not stripped or _NOISE_LINE.search(stripped) or _BOILERPLATE.search(stripped):
        return True
    rest = _IMAGE_OR_LINK.sub(" ", stripped)
    if _SEPARATOR_RUN.search(rest):  # a banner: "///// TYPES /////"
        rest = _SEPARATOR_RUN.sub(" ", rest)
        if word_count(rest) <= 4:
            return True
    return not re.search(r"[^\W\d_]{2}", rest)  # only images, links, rules or punctuation left


# Docs that only say a directory is a package: no better than no doc at all.
_GENERIC_DOC = re.compile(
    r"(?i)^(?:this (?:directory|dir|file) is )?(?:a |an |the )?(?:python )?(?:package|module)(?: marker)?\.?$|"
    r"^dummy file to make this directory a package\.?$|^(?:package|module) (?:init|initiali[sz]ation)\.?$"
)


def _is_code_block(lines: list[str], margin: int) -> bool:
    """Indented past the doc's own margin, or a shell/doctest session."""
    return all(line[margin:].startswith(("    ", "\t", ">>>", "$ ", "% ")) for line in lines)


def lead_paragraph(doc: str, max_words: int = 120, enough: int = 12) -> str:
    """The opening prose of a doc: its first real paragraph (or, until `enough` words, the next ones
    too), markup removed.

    Skips a bare title line, copyright and licence lines, code blocks and rules,
    and stops at parameter lists and examples.
    """
    paragraphs: list[list[str]] = [[]]
    for line in doc.splitlines():
        stripped = line.strip()
        if _SECTION_HEADER.match(stripped):
            break
        if not stripped:
            if paragraphs[-1]:
                paragraphs.append([])
            continue
        paragraphs[-1].append(line.rstrip())
    paragraphs = [p for p in paragraphs if p]
    body = [line for p in paragraphs for line in p][1:]  # the first line often starts right after the quotes
    indents = [len(line) - len(line.lstrip()) for line in body]
    margin = max(set(indents), key=indents.count) if indents else 0  # the usual indent, not a stray line's
    kept: list[str] = []
    for index, paragraph in enumerate(paragraphs):
        if _is_code_block(paragraph if index else paragraph[1:] or [""], margin):
            if kept:
                break
            continue
        lines = [ln.strip().lstrip("#").strip() for ln in paragraph]
        lines = [_SEPARATOR_RUN.sub(" ", ln).strip() for ln in lines if not is_noise_line(ln)]
        if not lines:
            continue
        text = " ".join(lines)
        title_like = len(lines) == 1 and word_count(text) <= 2 and not text.endswith((".", ":", "!", "?"))
        if title_like and not kept and index + 1 < len(paragraphs):
            continue  # a heading that only repeats the name
        if kept and text.endswith(":"):  # it introduces an example or a list: a fuller text keeps what it
            said = sentences(text)[:-1] if enough > 12 else []  # says before that
            if said and word_count(" ".join(said)) >= 5:
                kept[-1] += "" if kept[-1].endswith((".", "!", "?")) else "."
                kept.append(" ".join(said))
            break
        if kept and word_count(text) < 5:
            break
        if kept and not kept[-1].endswith((".", "!", "?", ":")):
            kept[-1] += "."
        kept.append(text)
        if sum(map(word_count, kept)) >= min(enough, max_words):
            break
    text = " ".join(kept)
    for pattern, replacement in _MARKUP:
        text = pattern.sub(replacement, text)
    text = " ".join(text.split()[:max_words])
    return "" if _GENERIC_DOC.match(text) else text


def sentences(text: str) -> list[str]:
    found: list[str] = []
    for piece in _SENTENCE_END.split(text):
        if found and (found[-1].endswith(_ABBREVIATIONS) or piece[:1] in ",;:)" or not _balanced([found[-1]])):
            found[-1] += " " + piece  # "e.g. foo" does not end a sentence
        elif piece.strip():
            found.append(piece.strip())
    return found


def drop_lead_in(sentence: str) -> str:
    """'This module provides support for X' -> 'Support for X'."""
    rest = _LEAD_IN.sub("", sentence, count=1)
    if rest and rest != sentence and word_count(rest) >= 2:
        return rest[0].upper() + rest[1:]
    return sentence


def doc_versions(doc: str, lead: str | None = None) -> list[str]:
    """What a doc says, at ever greater length: its lead, then one more of its sentences at a time, up to
    what a 64-word rung holds (the longer rungs say more of the doc, not the lead again). `lead`: the
    doc's lead, where the caller has it already."""
    lead = drop_lead_in(lead_paragraph(doc)) if lead is None else lead
    if not lead:
        return []
    versions: list[str] = []
    taken: list[str] = []
    for sentence in sentences(drop_lead_in(lead_paragraph(doc, BUDGETS[-1], enough=BUDGETS[-1]))):
        taken.append(sentence)
        text = " ".join(taken)
        if word_count(text) > BUDGETS[-1]:
            break
        versions.append(text)
    return versions if versions and word_count(versions[-1]) >= word_count(lead) else [lead]


# --- fitting a text into a word budget ----------------------------------------------


def _trim_tail(tokens: list[str]) -> list[str]:
    """Drop trailing function words and punctuation so a phrase ends on content."""
    tokens = list(tokens)
    while tokens and (_bare(tokens[-1]) in FUNCTION_WORDS or not _bare(tokens[-1])):
        if not _balanced(tokens[:-1]) and _balanced(tokens):
            break  # "Tuple[str, ...]": the last token closes a bracket
        tokens.pop()
    if tokens:
        tokens[-1] = tokens[-1].rstrip(",;:-–—(")
        if tokens[-1].count("(") > tokens[-1].count(")"):
            tokens[-1] = tokens[-1].split("(")[0] or tokens[-1]
    return [t for t in tokens if t]


def _bare(token: str) -> str:
    return token.strip(".,;:!?()[]{}\"'`").lower()


_SUBORDINATORS = {"if", "when", "whenever", "unless", "while", "although", "though", "because", "since", "as",
                  "once", "until", "before", "after", "where", "whether"}


def _clause_prefix(tokens: list[str], budget: int) -> list[str] | None:
    """The longest prefix that ends at a clause boundary and fits the budget."""
    for end in range(min(len(tokens), budget), 0, -1):
        boundary = end == len(tokens) or tokens[end - 1][-1:] in ",;:)" or _bare(tokens[end]) in CLAUSE_STARTS
        if boundary and _balanced(tokens[:end]):
            candidate = _trim_tail(tokens[:end])
            if candidate:
                return candidate
    return None


def _balanced(tokens: list[str]) -> bool:
    """No parenthesis, bracket or quote left open: a cut here would leave one."""
    text = " ".join(tokens)
    return (text.count("(") <= text.count(")") and text.count("[") <= text.count("]")
            and text.count('"') % 2 == 0 and text.count("`") % 2 == 0)


def _strip_parentheticals(text: str) -> str:
    return re.sub(r"\s*\([^()]*\)", "", text)


def _headline(tokens: list[str], budget: int) -> list[str]:
    """The sentence's content words in order: the first word, then the rarest-looking ones."""
    content = [(i, t) for i, t in enumerate(tokens) if _bare(t) not in FUNCTION_WORDS and _bare(t)]
    if not content:
        return tokens[:budget]
    # The sentence's verb leads, not an adverb before it ("Recursively copy ..." -> "Copy ...").
    lead = 1 if len(content) > 2 and _bare(content[0][1]).endswith("ly") else 0
    first, rest = content[lead], content[lead + 1:]
    # A word just before "of", "for", ... or the end heads its phrase: it names the subject.
    heads = {i for i, t in rest if (i + 1 == len(tokens) or _bare(tokens[i + 1]) in FUNCTION_WORDS)
             and not t.endswith(",")}  # an item of a list heads nothing
    # Earlier heads first (the verb's object comes before its modifiers), then the weightiest words.
    ranked = sorted(rest, key=lambda it: (0, it[0]) if it[0] in heads else (1, -_weight(it[1])))[: budget - 1]
    chosen = sorted([first] + ranked)
    return [t.strip(",;:()") for _, t in chosen]


def capitalize(text: str) -> str:
    return text[:1].upper() + text[1:]


def _weight(token: str) -> float:
    bare = _bare(token)
    score = min(len(bare), 10) / 10
    if "_" in bare or any(c.isupper() for c in token[1:]):
        score += 0.5
    return score


class _Source:
    """A text to summarize, with what every budget's cut needs worked out once."""

    def __init__(self, text: str):
        self.text = " ".join(text.split())
        self.words = word_count(self.text)
        self._cuts: list[list[str]] | None = None
        self.sentence_counts: list[tuple[str, int]] = []

    def cuts(self) -> list[list[str]]:
        """Ever terser forms of the first sentence: as is, without asides, without fillers."""
        if self._cuts is None:
            parts = sentences(self.text)
            self.sentence_counts = [(p, word_count(p)) for p in parts]
            first = _drop_article(drop_lead_in(parts[0]) if parts else self.text)
            plain = _strip_parentheticals(first)
            self._cuts = [plain.split(), _telegraphic(plain).split()]
            if plain != first:
                self._cuts.insert(0, first.split())
        return self._cuts


def _drop_article(text: str) -> str:
    """'A package for X' -> 'Package for X': a cut-down summary has no room for articles."""
    words = text.split(" ", 1)
    if len(words) == 2 and words[0].lower() in ARTICLES and word_count(words[1]) >= 2:
        return capitalize(words[1])
    return text


def fit(text: str | _Source, budget: int) -> str:
    """A summary of `text` in at most `budget` words that reads as a whole phrase."""
    source = text if isinstance(text, _Source) else _Source(text)
    if not source.text:
        return ""
    if source.words <= budget:
        return _finish(source.text)
    cuts = source.cuts()
    taken, used = [], 0
    for sentence, count in source.sentence_counts:
        if used + count > budget:
            break
        taken.append(sentence)
        used += count
    if taken and (used * 2 >= budget or budget <= 8):
        return _finish(" ".join(taken))
    if taken and len(taken) < len(source.sentence_counts):  # room left: the next sentence's opening clauses
        following = _strip_parentheticals(source.sentence_counts[len(taken)][0]).split()
        clause = _clause_prefix(following, budget - used)
        if clause and _bare(clause[0]) in _SUBORDINATORS and not any(t.endswith(",") for t in clause[:-2]):
            clause = None  # "If the index is surrounded": a condition without what follows from it
        if clause and len(clause) >= 4 and (used + len(clause)) * 2 >= budget:
            return _finish(" ".join(taken + clause))
    for tokens in cuts:
        if len(tokens) <= budget:
            return _finish(" ".join(_trim_tail(tokens)) or " ".join(tokens))
        prefix = _clause_prefix(tokens, budget)
        if prefix and len(prefix) * 2 >= min(budget, len(tokens)) and len(prefix) >= min(2, budget):
            return _finish(" ".join(prefix))
    phrase = _leading_phrase(cuts[-1])
    if 2 <= len(phrase) <= budget:  # "Specialized container datatypes providing ..." -> its opening noun phrase
        return _finish(" ".join(phrase))
    return _finish(" ".join(_headline(cuts[-1], budget)))


def _leading_phrase(tokens: list[str]) -> list[str]:
    """The words before the first function word, participle or punctuation: the sentence's subject."""
    run: list[str] = []
    for i, token in enumerate(tokens):
        bare = _bare(token)
        if not bare or bare in FUNCTION_WORDS or (i and re.fullmatch(r"[a-z]{3,}(?:ing|ed)", bare)):
            break
        run.append(token.rstrip(",;:."))
        if token[-1:] in ",;:.()" or not _balanced(run):
            break
    return run if _balanced(run) else []


def _telegraphic(text: str) -> str:
    return " ".join(t for t in text.split() if _bare(t) not in FILLERS) or text


def _finish(text: str) -> str:
    text = text.strip().rstrip(",;:-–—")
    if not _balanced([text]):  # a cut left a bracket or quote open: end before it, or drop the marks
        tokens = text.split()
        while len(tokens) > 1 and not _balanced(tokens):
            tokens.pop()
        text = " ".join(tokens) if _balanced(tokens) else re.sub(r"[()\[\]{}\"`]", "", text)
    if not text:
        return ""
    ending = text[-1] if text[-1] in ".!?" else ""
    tokens = _trim_tail(text.split())
    text = " ".join(tokens) + (ending if tokens and tokens[-1][-1:] not in ".!?" else "") if tokens else text
    if text.endswith(".") and not re.search(r"[.!?]\s", text):
        text = text[:-1]  # a single phrase reads as a label, not a sentence
    if text and text[0].islower() and not re.match(r"^[a-z_]+[A-Z_(.]", text):
        text = capitalize(text)
    return text


def ladder(*texts: str) -> list[str]:
    """One summary per budget. Each text is a fuller alternative to the one before it.

    A rung uses the longest text that fits whole; otherwise it fits the
    shortest text that is long enough to be worth cutting down.
    """
    texts = [t for t in (" ".join(x.split()) for x in texts) if t]
    if not texts:
        return [""] * len(BUDGETS)
    pick = _Picker(texts)
    return [pick(budget) for budget in BUDGETS]


class _Picker:
    """The core of a rung of `limit` words: the longest text that fits whole, else the shortest cut down."""

    def __init__(self, texts: list[str]):
        self.texts, self.counts = texts, [word_count(t) for t in texts]
        self.shortest = _Source(texts[0])
        self.sources = {texts[0]: self.shortest}
        self.finished: dict[str, str] = {}  # several rungs often take the same whole text

    def __call__(self, limit: int) -> str:
        whole = [i for i, n in enumerate(self.counts) if n <= limit]
        if not whole:
            return fit(self.shortest, limit)
        at = whole[-1]
        if limit >= 16 and self.counts[at] * 2 < limit and at + 1 < len(self.texts):  # room: the next text, cut
            following = self.texts[at + 1]
            longer = fit(self.sources.setdefault(following, _Source(following)), limit)
            if word_count(longer) > self.counts[at]:
                return longer
        text = self.texts[at]
        if text not in self.finished:
            self.finished[text] = _finish(text)
        return self.finished[text]


# --- what a node says about itself ----------------------------------------------------


def identifier_words(name: str) -> str:
    """'parse_HTTPHeaders' -> 'parse HTTP headers'."""
    core = name.strip("_").split(".")[-1]
    parts = _IDENTIFIER_PARTS.findall(core) or [name]
    if core.isupper():  # SCREAMING_CASE: the capitals mark a constant, not acronyms
        return " ".join(p.lower() for p in parts)
    # Acronyms and mixed-case words (HTTP, UUIDv4, NaN) keep their capitals; plain words are lowered.
    return " ".join(p if any(c.isupper() for c in p[1:]) else p.lower() for p in parts)


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _params(signature: str) -> list[str]:
    signature = re.sub(r"^func\s*\([^)]*\)\s*", "func ", signature)  # a Go method's receiver is not a parameter
    opening = signature.find("(")
    if opening < 0:
        return []
    match = re.match(r"\((.*)\)", signature[opening:_closing(signature, opening)])
    if not match:
        return []
    names = []
    depth = 0
    current = ""
    for ch in match.group(1) + ",":
        if ch in "([{<":
            depth += 1
        elif ch in ")]}>":
            depth -= 1
        if ch == "," and depth == 0:
            part = current.strip()
            current = ""
            name = re.split(r"[:=]", part)[0].strip().lstrip("*&").split()[-1:] if part else []
            if name and name[0] not in ("self", "cls", "this", "void", "*", "/", "..."):
                names.append(name[0].strip("*&[]?").lstrip("."))
            continue
        current += ch
    return names


def _returns(signature: str) -> str:
    match = re.search(r"\)\s*(?:->|:)\s*([^={]+)$", signature)
    return " ".join(match.group(1).split()) if match else ""


def grow(core: list[str], *extras: list[str], core_words: int = BUDGETS[-1], late: int = 0) -> list[str]:
    """A ladder whose rungs keep adding: the core said at each length, then whole extras while they fit.

    `core` holds ever fuller forms of what the node is; each of `extras` is one more fact
    (its parameters, what it returns or raises, what it calls, its parts) as ever longer
    versions, least to most. From the 8-word rung up, each rung adds the fullest version of
    each fact that still fits, so a longer rung says more than a shorter one; from the
    16-word rung up the core takes at most half the words when there are facts to add (less
    if they need less), and never more than `core_words`. The last `late` extras wait for the
    16-word rung (a class's members' gists: at 8 words its members' names say more).
    """
    core = [t for t in (" ".join(x.split()) for x in core) if t]
    pick = _Picker(core) if core else None
    base = [pick(budget) for budget in BUDGETS] if pick else [""] * len(BUDGETS)
    counted = [[(v, group.counts[v] if isinstance(group, Versions) else word_count(v)) for v in group if v]
               for group in extras]
    waiting = {id(group) for group in counted[len(counted) - late:]} if late else set()  # from 16 words on
    counted = [group for group in counted if group]
    facts = sum(group[-1][1] for group in counted)  # the fullest version of every fact
    rungs = []
    for budget, text in zip(BUDGETS, base):
        used = word_count(text)
        limit = min(max(budget // 2, budget - facts), core_words)  # half for the facts, unless they need less
        if budget >= 16 and counted and used > limit:
            text = pick(limit)
            used = word_count(text)
        groups = counted
        if not text and counted:  # nothing to say about it as a whole: its facts are the summary
            text, used = next(((v, n) for group in counted for v, n in reversed(group) if n <= budget), ("", 0))
            groups = [g for g in counted if all(v != text for v, _ in g)]
        added = False
        if budget >= 8:
            for group in groups:
                if budget < 16 and id(group) in waiting:
                    continue
                fitting = None
                for version, count in group:  # least to most: the last that fits
                    if count <= budget - used:
                        fitting = (version, count)
                if fitting:
                    text = (_sentence(text) + " " if text else "") + capitalize(fitting[0])
                    used += fitting[1]
                    added = True
        rungs.append(_finish(text) if added else text)
    return rungs


def _list_versions(lead: str, items: list[tuple[str, str]], limit: int = 8, gists: int = 4,
                   names: bool = True) -> list[str]:
    """A list at every length, least to most: 'Defines a', 'Defines a, b and 3 more', ..., then
    with the gists of the first few, short ones before whole ones: names first (they are what a
    reader searches for). `names` False: only the versions with gists (the names are said already)."""
    if not items:
        return []
    versions = []
    count = min(limit, len(items))
    told = min(gists, count)
    items = [(n, g if g and not _echoes(n, g) else "") for n, g in items[:count]] + items[count:]
    short = [(n, fit(g, 4) if i < told and g and word_count(g) > 4 else g)
             for i, (n, g) in enumerate(items[:count])] if not names else []
    steps = [(k, 0, items) for k in range(1, count + 1)] if names else []
    if not names:  # the first few, each with a short gist, then all with short gists, then whole ones
        steps += [(k, k, short) for k in range(1, told + 1)] + [(count, g, short) for g in range(1, told + 1)]
    steps += [(count, g, items) for g in range(1, told + 1)]
    for k, g, said in steps:
        shown = [f"{n} ({gist})" if i < g and gist else n for i, (n, gist) in enumerate(said[:k])]
        more = f" and {len(items) - k} more" if len(items) > k else ""
        text = f"{lead} {_join(shown) if not more else ', '.join(shown)}{more}"
        versions.append((word_count(text), k + g, k == count, text))
    # Least to most, once each; a partial list ("a, b and 1 more") only where it is shorter than a whole one.
    whole = min((n for n, _, complete, _ in versions if complete), default=None)
    kept = sorted(v for v in versions if whole is None or v[2] or v[0] < whole)
    return Versions(dict.fromkeys(text for *_, text in kept), {text: n for n, _, _, text in kept})


class Versions(list):
    """Versions of a fact, least to most, that know their word counts."""

    def __init__(self, texts, counts: dict[str, int]):
        super().__init__(texts)
        self.counts = counts


def _echoes(name: str, gist: str) -> bool:
    """'Features (Features section)': a gist that only repeats its name."""
    said = identifier_words(re.sub(r"\.\w+$", "", name.rstrip("/"))).lower()
    return bool(said) and gist.lower().startswith(said) and word_count(gist) <= word_count(said) + 1


# --- what a body does -------------------------------------------------------------------

# Three plain scans are faster than one alternation tried at every position.
_KEYWORD_FACT = re.compile(r"\b(return|yield|raise|throw)\b[ \t]*(?:new[ \t]+)?([^;\n]*)")
_ATTR_FACT = re.compile(r"\b(?:self|this)\.([A-Za-z_]\w*)[ \t]*=(?!=)")
_CALL_FACT = re.compile(r"([A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*)\(")
_AFTER_NAME = re.compile(r"\s*(?:<[^>]*>)?\s*\(")
_NOT_CALLS = {
    "if", "elif", "for", "while", "switch", "catch", "return", "function", "func", "fn", "def", "with", "and", "or",
    "not", "in", "is", "typeof", "sizeof", "super", "new", "match", "case", "yield", "await", "async", "lambda",
    "assert", "print", "len", "str", "int", "isinstance", "getattr", "setattr", "hasattr", "range", "list", "dict",
    "tuple", "set", "type", "bool", "float", "repr", "iter", "next", "enumerate", "zip", "map", "filter", "sorted",
    "min", "max", "abs", "any", "all", "self", "this", "cls", "throw", "raise", "else", "try", "except", "finally",
}
_NOTHING = {"None", "null", "undefined", "nil", "False", "True", "false", "true", "0", "-1", "1", "err", "self"}
_TRIPLE_QUOTED = re.compile(r'"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\'')
_GUARD = re.compile(r"^\s*(?:if|elif|else if|\}\s*else if)\s*\(?\s*(.+?)\s*\)?\s*[:{]?\s*$")


def _expression(expr: str) -> str:
    """What a returned or raised expression is, in a few words: `foo(...)` -> foo's result."""
    expr = " ".join(expr.split()).rstrip(";,").strip()
    if not expr:
        return ""
    flat = expr
    while True:  # arguments out: `a.map(f).join(s)` -> `a.map(…).join(…)`
        shorter = re.sub(r"\([^()]*\)", "\0", flat)
        if shorter == flat:
            break
        flat = shorter
    flat = flat.replace("\0", "(…)")
    if re.fullmatch(r"(?:await\s+|new\s+)?[A-Za-z_$][\w.$]*\(…\)(?:\.[A-Za-z_$][\w$]*(?:\(…\))?)*", flat) and len(flat) <= 48:
        return flat.replace("await ", "").replace("new ", "new ")
    if re.fullmatch(r"[\w.$\[\]]+", expr) and len(expr) <= 40 and _balanced([expr]):
        return expr
    first = expr[0]
    return {"[": "a list", "{": "an object", "(": "a tuple", "'": "a string", '"': "a string", "`": "a string",
            "f": "a string" if expr[1:2] in "'\"" else ""}.get(first, "")


def body_facts(body: str, name: str, params: list[str]) -> dict[str, list[str]]:
    """What a body returns, raises (and when), calls and sets, in order of first appearance."""
    facts: dict[str, dict[str, None]] = {"returns": {}, "raises": {}, "calls": {}, "sets": {}, "yields": {}}
    lines = None
    if '"""' in body or "'''" in body:  # a docstring's prose is not code
        body = _TRIPLE_QUOTED.sub('""', body)
    at = body.find(name)
    head = _AFTER_NAME.match(body, at + len(name)) if at >= 0 else None
    start = _closing(body, head.end() - 1) if head else 0
    for match in _KEYWORD_FACT.finditer(body, start):
        kw, expr = match.groups()
        if kw:
            what = _expression(expr)
            if kw in ("raise", "throw"):
                what = re.sub(r"\(.*", "", expr.split()[0]) if expr.split() else ""
                if not re.fullmatch(r"[A-Za-z_$][\w.$]*", what):
                    continue
                if lines is None:
                    lines = body.splitlines()
                row = body.count("\n", 0, match.start())
                guard = _GUARD.match(lines[row - 1]) if row > 0 and lines[row].strip().startswith(kw) else None
                cond = guard.group(1) if guard else ""
                if cond and word_count(cond) <= 6 and cond.count("(") == cond.count(")") and len(cond) <= 50 \
                        and not re.search(r"[;{}]|\breturn\b", cond):
                    what = f"{what} if {cond}"
                facts["raises"].setdefault(what)
            elif what:
                facts["returns" if kw == "return" else "yields"].setdefault(what)
    for attr in _ATTR_FACT.findall(body, start):
        facts["sets"].setdefault(attr)
    for call in _CALL_FACT.findall(body, start):
        last = call.rsplit(".", 1)[-1]
        if last != name and call not in _NOT_CALLS and not call.startswith("self.__"):
            facts["calls"].setdefault(call)
    facts["returns"] = dict.fromkeys(sorted(facts["returns"], key=lambda r: r in _NOTHING))  # the value first
    return {k: list(v) for k, v in facts.items()}


def _closing(text: str, open_at: int) -> int:
    """The index after the parenthesis that closes the one at `open_at`."""
    depth = 0
    for i in range(open_at, min(len(text), open_at + 2000)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return i + 1
    return open_at


def _or_join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " or " + items[-1]


def _fact_versions(verb: str, items: list[str], limit: int = 6, joiner=None) -> list[str]:
    joiner = joiner or _join
    return [f"{verb} {joiner(items[:k])}" + (" and more" if len(items) > k else "")
            for k in range(1, min(limit, len(items)) + 1)]


# --- what a node says about itself ----------------------------------------------------

DUNDER_NAMES = {"__all__": "Exported names", "__version__": "Version string", "__author__": "Author",
                "__slots__": "Instance slots"}
KIND_NOUNS = {"function": "function", "method": "method", "class": "class", "variable": "value", "constant": "constant"}
_BASES = re.compile(r"^\s*class\s+[\w$]+\s*\((?P<py>[^)]*)\)|\bextends\s+(?P<ts>[\w$.]+)")


def symbol_ladder(kind: str, name: str, signature: str, doc: str, parts: list[tuple[str, str, str]],
                  uses: list[str] = (), body: str = "") -> list[str]:
    """Summaries of a class, function or other symbol.

    `parts` are its children as (kind, name, short summary), most important first; `body`
    is its source, from which an undocumented symbol is described by what it does.
    """
    described = drop_lead_in(lead_paragraph(doc)) if doc else ""
    callable_ = kind in ("function", "method", "macro")
    params = _params(signature) if callable_ else []
    facts = body_facts(body, name, params) if body and callable_ else {}
    local = set(uses)
    calls = sorted(facts.get("calls", []), key=lambda c: c.rsplit(".", 1)[-1] not in local) if body else list(uses)
    returns = _returns(signature)
    returns = "itself" if returns == "this" else returns
    extras = [
        _fact_versions("takes", params),
        [f"returns {returns}"] if returns and returns not in ("None", "void", "()") and len(returns) <= 40
        and returns.count("(") == returns.count(")") and _balanced([returns]) else [],
        _fact_versions("raises", facts.get("raises", []), 3),
        _fact_versions("calls", calls),
        _fact_versions("sets", facts.get("sets", [])),
        _list_versions("has", [(n, g) for _, n, g in parts], 6),
    ]
    if described:
        return grow(doc_versions(doc, described), *extras)
    if kind in ("variable", "constant") and "=" in (body or signature):
        value = (body or signature).split("=", 1)[1].strip()
        return grow(_value_texts(value[:400], name))
    if name in DUNDER_NAMES:
        return grow([DUNDER_NAMES[name]], *extras)
    if callable_:
        core = _doing(facts, calls, body)
        if core:
            verb = core[0].split()[0].lower()
            if verb == "calls":  # the calls the core could not name come after the other facts
                extras[3] = _fact_versions("also calls", calls[2:])
            return grow(core, *[e for e in extras if not (e and e[0].split()[0] == verb)])
    if kind in SHAPE_KINDS and body and not parts:
        core = _shape(kind, body)
        if core:
            return grow(core)
    if kind == "class" or parts:
        bases = _BASES.search(signature)
        base = (bases.group("py") or bases.group("ts") or "").split(",")[0].split("[")[0].strip() if bases else ""
        base = "" if base in ("object", "") or "=" in base else base
        names = [n for _, n, _ in parts]
        core = [f"{base} subclass"] if base else []
        if names:
            lead = f"{base} subclass with" if base else f"{capitalize(KIND_NOUNS.get(kind, kind))} with"
            core += [f"{lead} {_join(names[:k])}" for k in (1, 2, 3) if k <= len(names)]
        if core:
            gists = [(n, g) for _, n, g in parts if g and not _echoes(n, g)]
            return grow(core, *extras[:-1], _list_versions("has", gists, 8, gists=8, names=False), late=1)
    return grow([capitalize(identifier_words(name))], *extras)  # nothing else to go by


SHAPE_KINDS = ("type", "interface", "struct", "enum", "trait")
_FIELD = re.compile(r"^\s*(?:readonly\s+|pub\s+)?([A-Za-z_$][\w$]*)\??\s*[:(]", re.MULTILINE)


def _shape(kind: str, body: str) -> list[str]:
    """A type by its shape: what it extends, the members it lists, or the types it unites."""
    head, _, rest = body.partition("{") if "{" in body.split("=", 1)[0] else (body, "", "")
    texts = []
    base = re.search(r"\bextends\s+([\w$.]+)", head)
    if base:
        texts.append(f"Extends {base.group(1)}")
    fields = [f for f in dict.fromkeys(_FIELD.findall(rest)) if f not in ("return", "if", "for")]
    if fields:
        lead = f"{texts[0]} with" if texts else ("Members" if kind == "enum" else "Fields")
        texts += [f"{lead} {_join(fields[:k])}" + (f" and {len(fields) - k} more" if len(fields) > k else "")
                  for k in (1, 2, 3, 5, 8) if k <= len(fields)]
    elif "=" in head and not texts:
        value = " ".join(head.split("=", 1)[1].split()).rstrip(";")
        options = [o.strip() for o in value.strip("| ").split("|")]
        if len(options) > 1 and all(re.fullmatch(r"[\w$.'\"<>\[\] ]+", o) and _balanced([o]) for o in options):
            texts += [f"One of {_or_join(options[:k])}" + (" and more" if len(options) > k else "")
                      for k in (1, 2, 3, 6) if k <= len(options)]
        elif word_count(value) <= 12 and _balanced([value]):
            texts.append(f"Alias of {value}")
    return texts


def _doing(facts: dict, calls: list[str], body: str) -> list[str]:
    """An undocumented function's core, by what its body does: returns, yields, raises, calls or sets."""
    for key, verb, joiner in (("returns", "Returns", _or_join), ("yields", "Yields", _or_join),
                              ("raises", "Raises", _or_join)):
        items = facts.get(key, [])
        if items:
            return [f"{verb} {joiner(items[:k])}" for k in range(1, min(3, len(items)) + 1)]
    if calls:
        return [f"Calls {_join(calls[:k])}" for k in range(1, min(2, len(calls)) + 1)]
    if facts.get("sets"):
        return [f"Sets {_join(facts['sets'][:k])}" for k in range(1, min(3, len(facts["sets"])) + 1)]
    lines = [ln for ln in body.splitlines()[1:] if ln.strip() and ln.strip() not in ("}", "pass", "...")]
    return ["Does nothing"] if body and not lines else []


def _value_texts(value: str, name: str) -> list[str]:
    """A constant or variable by its value: what builds it, or the value itself when short."""
    value = " ".join(value.split())
    if not value:
        return []
    short = word_count(value) <= 8 and len(value) <= 60 and _balanced([value]) and not is_noise_line(value)
    call = re.match(r"^(?:new\s+)?([A-Za-z_$][\w.$]*)\s*\(", value)
    if call:
        head = call.group(1)
        return [f"{head} result", f"Result of {value}" if short else f"Result of {head}(…)"]
    if value.startswith("(") and _closing(value, 0) == len(value.rstrip(";")) and "," not in value:
        return _value_texts(value.rstrip(";")[1:-1], name)  # parentheses around one expression
    generic = re.match(r"^([A-Za-z_][\w.]*)\[", value)
    if generic:  # a type alias: Tuple[str, ...], Callable[[str], str]
        return [f"{generic.group(1).rsplit('.', 1)[-1]} type"] + ([f"Type {value}"] if short else [])
    kinds = {"[": "List", "{": "Mapping", "(": "Tuple", "'": "String", '"': "String", "/": "Regex", "`": "String"}
    if value[:1] in kinds:
        return [f"{kinds[value[0]]} literal"] + ([f"{kinds[value[0]]} {value}"] if short else [])
    if re.fullmatch(r"-?[\d_.]+(?:e-?\d+)?", value):
        return [f"Number {value}"]
    if short:
        return [f"Set to {value}"]
    return [f"Set to {value.split()[0]} …"] if _balanced([value.split()[0]]) else ["Computed value"]


def _sentence(text: str) -> str:
    text = text.rstrip()
    return text if text.endswith((".", "!", "?")) else text + "."


def name_words(name: str) -> str:
    """A file or directory name as words, unless splitting it would lose what it says ('py3.11')."""
    if re.search(r"[\d.]", name):
        return name
    return identifier_words(name)


_TEST_FILE = re.compile(r"^(?:test_(?P<a>\w+)|(?P<b>[\w-]+?)(?:_test|_spec|\.test|\.spec))$")


def file_label(path: str, lang: str | None) -> str:
    """What a file is by its name alone: 'Tests for parser', 'Weather package initialiser'."""
    parts = path.split("/")
    name, package = parts[-1], (parts[-2] if len(parts) > 1 else "")
    stem = name.split(".")[0] if not name.startswith(".") else name
    if name == "__init__.py":
        return f"{capitalize(name_words(package))} package initialiser" if package else "Package initialiser"
    if name == "__main__.py":
        return f"{capitalize(name_words(package))} command-line entry point" if package else "Entry point"
    if name == "conftest.py":
        return "Pytest fixtures and hooks"
    if name == "setup.py":
        return "Package setup script"
    test = _TEST_FILE.match(name.rsplit(".", 1)[0] if "." in name else name)
    if test:
        return f"Tests for {name_words(test.group('a') or test.group('b'))}"
    return f"{capitalize(name_words(stem))} {_LANG_NOUN.get(lang or '', 'file')}"


def file_ladder(path: str, lang: str | None, doc: str, parts: list[tuple[str, str, str]],
                imports: list[str] = (), source: str = "") -> list[str]:
    """Summaries of a file from its own doc, its most important top-level symbols and what it imports."""
    described = drop_lead_in(lead_paragraph(doc)) if doc else ""
    items = [(_plain_name(n), g) for _, n, g in parts]
    items = [(n, g) for n, g in items if n]
    contents = _list_versions("Defines", items, 40, 3)
    uses = _fact_versions("uses", _imported(imports), 8)
    if described:  # a file is what it defines: its parts get the words its doc's lead leaves
        return grow([described], contents, uses, core_words=16)
    label = file_label(path, lang)
    if not items:
        exported = _imported([i for i in imports if i.startswith("export")])
        if exported:  # an index that re-exports: it is what it passes on
            rest = [i for i in _imported(imports) if i not in exported]
            return grow([f"Re-exports {_join(exported[:k])}" for k in (1, 2, 3) if k <= len(exported)],
                        _fact_versions("re-exports", exported[3:], 8), _fact_versions("uses", rest, 8))
        cases = list(dict.fromkeys(_TEST_CASE.findall(source[:200_000])))
        if cases:  # tests written as calls: what they check is in their names
            return grow([label], _fact_versions("checks", [" ".join(c.split()) for c in cases], 8), uses)
        return grow([label], uses)
    names = [n for n, _ in items]
    if not label.endswith((" module", " file", " document", " script")):  # a label that says what it is
        core = [label] + [f"{label}: {_join(names[:k])}" for k in (1, 2, 3) if k <= len(names)]
    else:  # a plain name says nothing: the file is what it defines
        core = [_join(names[:k]) for k in (1, 2, 3) if k <= len(names)]
    return grow(core, _list_versions("Also defines", items[min(3, len(items)):], 40, 3) if len(items) > 3 else
                [f"Defines {_join([f'{n} ({g})' for n, g in items[:k]])}" for k in range(1, len(items) + 1)], uses)


_IMPORTED = re.compile(r"""from\s+['"]([^'"]+)['"]|^\s*from\s+([\w.]+)\s+import|^\s*import\s+([\w.]+)|"""
                       r"""require\(\s*['"]([^'"]+)['"]|^\s*import\s+['"]([^'"]+)['"]|^\s*import\s+\(?\s*"([^"]+)"|"""
                       r"""^\s*use\s+([\w:]+)|#include\s*[<"]([^>"]+)""")


def _imported(imports: list[str]) -> list[str]:
    """The modules a file's import statements name, in order, once each."""
    found: dict[str, None] = {}
    for statement in imports:
        match = _IMPORTED.search(statement)
        if match:
            name = next(g for g in match.groups() if g)
            found.setdefault(re.sub(r"\.(?:js|ts|cjs|mjs)$", "", name))
    return list(found)


_TEST_CASE = re.compile(r"""^\s*(?:test|it|describe)(?:\.\w+)?\(\s*["'`]([^"'`\n]{3,60})["'`]""", re.MULTILINE)
_LANG_NOUN = {"python": "module", "markdown": "document", "bash": "script", None: "file"}


def _plain_name(name: str) -> str:
    """A part's name without Markdown markup: a heading that is a link reads as its text."""
    for pattern, replacement in _MARKUP:
        name = pattern.sub(replacement, name)
    return " ".join(name.split())


# Words that say what kind of thing a part is, not what it is about.
_GENERIC = FUNCTION_WORDS | {
    "directory", "package", "packages", "subpackage", "module", "modules", "file", "files", "function", "functions",
    "class", "classes", "method", "methods", "code", "support", "implementation", "implements", "defines", "holds",
    "returns", "calls", "takes", "sets", "raises", "yields", "subclass", "initialiser", "entry", "point", "tests",
    "test", "here", "sample", "contains", "containing", "various", "utilities", "helpers", "helper", "misc", "more",
    "other", "result", "literal", "value", "values", "mapping", "string", "list", "tuple", "number", "does", "nothing",
    "private", "public", "internal", "simple", "basic", "generic", "common", "core", "base", "used", "related",
    "purely", "set", "new", "get", "make", "create", "interface", "object", "objects", "type", "types", "section",
}
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-'][A-Za-z]+)?")


def _topics(parts: list[tuple[str, str, str]]) -> tuple[list[str], list[str]]:
    """What the parts are about: the words most of them share, and one topic word per part.

    A part's topic is the word of its gist that its own name also says ('cookiejar.py:
    HTTP cookie handling' -> cookie), else its name's words, else its gist's first word.
    """
    seen_in: dict[str, int] = {}
    display: dict[str, str] = {}
    per_part = []
    for _, name, gist in parts:
        words = [w for w in _WORD.findall(gist) if w.lower() not in _GENERIC and len(w) > 2]
        per_part.append((name, words))
        for w in dict.fromkeys(w.lower() for w in words):
            seen_in[w] = seen_in.get(w, 0) + 1
        for w in words:
            display.setdefault(w.lower(), w)
    needed = max(2, (len(parts) + 1) // 2)
    shared = [display[w] for w, n in sorted(seen_in.items(), key=lambda kv: -kv[1]) if n >= needed][:2]
    used = {w.lower() for w in shared}
    topics: list[str] = []
    for name, words in per_part:
        stem = re.sub(r"\.\w+$", "", name.rstrip("/")).strip("_.")
        if not stem or stem.lower() in ("init", "main", "index", "mod", "lib", "conftest", "setup") or \
                stem.lower().startswith("test"):
            continue
        own = identifier_words(stem).lower().split()
        pick = next((w for w in words if w.lower() not in used and any(
            len(o) >= 4 and (w.lower().startswith(o[:4]) or o.startswith(w.lower()[:4])) for o in own)), None)
        if pick is None:
            pick = " ".join(o for o in own if o not in _GENERIC) or None
        if pick and not any(pick.lower()[:5] == u[:5] for u in used):
            used.add(pick.lower())
            topics.append(pick)
    return shared, topics


def _theme_versions(parts: list[tuple[str, str, str]]) -> list[str]:
    """A directory's purpose composed from its children: 'HTTP cookie, client and server'."""
    shared, topics = _topics(parts)
    if not topics:
        return [" ".join(shared)] if shared else []
    head = " ".join(shared)
    return [capitalize(f"{head} {_join(topics[:k])}".strip()) for k in range(1, min(6, len(topics)) + 1)]


def directory_ladder(path: str, doc: str, parts: list[tuple[str, str, str]], is_repo: bool = False) -> list[str]:
    """Summaries of a directory: its README or package doc, else the themes of its children; then its parts."""
    name = path.rsplit("/", 1)[-1] if path else "repository"
    described = drop_lead_in(lead_paragraph(doc)) if doc else ""
    holds = _list_versions("Holds", [(n, g) for _, n, g in parts], 12, 4)
    if described:
        return grow(doc_versions(doc, described), holds, core_words=16)
    themes = _theme_versions(parts) or ([parts[0][2]] if parts and parts[0][2] else [])
    if themes:
        return grow(themes, holds)
    noun = "repository" if is_repo else "directory"
    label = f"{capitalize(name_words(name))} {noun}" if name != "repository" else "Repository"
    return grow([label], holds)
