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
_ABBREVIATIONS = ("e.g.", "i.e.", "etc.", "vs.", "cf.", "approx.", "resp.", "Mr.", "Dr.", "No.")
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
    (re.compile(r"<[^>]+>"), ""),  # html tags
    (re.compile(r"https?://\S+"), ""),
]
_LEAD_IN = re.compile(
    r"^(?:this|the)\s+(?:module|file|package|class|function|method|script|library|program|directory|folder|"
    r"crate|header|type|struct|interface|component|object)\s+(?:is\s+)?(?:(?:a|an)\s+)?"
    r"(?:provides|contains|implements|defines|holds|handles|includes|is used to|is used for|is responsible for|"
    r"exports|offers|supplies)?\s*",
    re.IGNORECASE,
)
_IDENTIFIER_PARTS = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")


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
# Docs that only say a directory is a package: no better than no doc at all.
_GENERIC_DOC = re.compile(
    r"(?i)^(?:this (?:directory|dir|file) is )?(?:a |an |the )?(?:python )?(?:package|module)(?: marker)?\.?$|"
    r"^dummy file to make this directory a package\.?$|^(?:package|module) (?:init|initiali[sz]ation)\.?$"
)


def _is_code_block(lines: list[str], margin: int) -> bool:
    """Indented past the doc's own margin, or a shell/doctest session."""
    return all(line[margin:].startswith(("    ", "\t", ">>>", "$ ", "% ")) for line in lines)


def lead_paragraph(doc: str, max_words: int = 120) -> str:
    """The opening prose of a doc: its first real paragraph, markup removed.

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
        lines = [ln for ln in lines if ln and not _BOILERPLATE.search(ln) and not set(ln) <= set("=-~^#*_+|. ")]
        if not lines:
            continue
        text = " ".join(lines)
        title_like = len(lines) == 1 and word_count(text) <= 2 and not text.endswith((".", ":", "!", "?"))
        if title_like and not kept and index + 1 < len(paragraphs):
            continue  # a heading that only repeats the name
        if kept and (word_count(text) < 5 or text.endswith(":")):
            break  # a paragraph that introduces an example or a list
        if kept and not kept[-1].endswith((".", "!", "?", ":")):
            kept[-1] += "."
        kept.append(text)
        if sum(map(word_count, kept)) >= 12 or sum(map(word_count, kept)) >= max_words:
            break
    text = " ".join(kept)
    for pattern, replacement in _MARKUP:
        text = pattern.sub(replacement, text)
    text = " ".join(text.split()[:max_words])
    return "" if _GENERIC_DOC.match(text) else text


def sentences(text: str) -> list[str]:
    found: list[str] = []
    for piece in _SENTENCE_END.split(text):
        if found and (found[-1].endswith(_ABBREVIATIONS) or piece[:1] in ",;:)"):
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


# --- fitting a text into a word budget ----------------------------------------------


def _trim_tail(tokens: list[str]) -> list[str]:
    """Drop trailing function words and punctuation so a phrase ends on content."""
    tokens = list(tokens)
    while tokens and (_bare(tokens[-1]) in FUNCTION_WORDS or not _bare(tokens[-1])):
        tokens.pop()
    if tokens:
        tokens[-1] = tokens[-1].rstrip(",;:-–—(")
        if tokens[-1].count("(") > tokens[-1].count(")"):
            tokens[-1] = tokens[-1].split("(")[0] or tokens[-1]
    return [t for t in tokens if t]


def _bare(token: str) -> str:
    return token.strip(".,;:!?()[]{}\"'`").lower()


def _clause_prefix(tokens: list[str], budget: int) -> list[str] | None:
    """The longest prefix that ends at a clause boundary and fits the budget."""
    for end in range(min(len(tokens), budget), 0, -1):
        boundary = end == len(tokens) or tokens[end - 1][-1:] in ",;:)" or _bare(tokens[end]) in CLAUSE_STARTS
        if boundary:
            candidate = _trim_tail(tokens[:end])
            if candidate:
                return candidate
    return None


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
    for tokens in cuts:
        if len(tokens) <= budget:
            return _finish(" ".join(_trim_tail(tokens)) or " ".join(tokens))
        prefix = _clause_prefix(tokens, budget)
        if prefix and len(prefix) * 2 >= min(budget, len(tokens)) and len(prefix) >= min(2, budget):
            return _finish(" ".join(prefix))
    return _finish(" ".join(_headline(cuts[-1], budget)))


def _telegraphic(text: str) -> str:
    return " ".join(t for t in text.split() if _bare(t) not in FILLERS) or text


def _finish(text: str) -> str:
    text = text.strip().rstrip(",;:-–—")
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
    counts = [word_count(t) for t in texts]
    shortest = _Source(texts[0])
    finished: dict[str, str] = {}  # several rungs often take the same whole text
    rungs = []
    for budget in BUDGETS:
        whole = [t for t, n in zip(texts, counts) if n <= budget]
        if whole:
            text = whole[-1]
            if text not in finished:
                finished[text] = _finish(text)
            rungs.append(finished[text])
        else:
            rungs.append(fit(shortest, budget))
    return rungs


# --- what a node says about itself ----------------------------------------------------


def identifier_words(name: str) -> str:
    """'parse_HTTPHeaders' -> 'parse HTTP headers'."""
    core = name.strip("_").split(".")[-1]
    parts = _IDENTIFIER_PARTS.findall(core) or [name]
    if core.isupper():  # SCREAMING_CASE: the capitals mark a constant, not acronyms
        return " ".join(p.lower() for p in parts)
    return " ".join(p if p.isupper() and len(p) > 1 else p.lower() for p in parts)


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _params(signature: str) -> list[str]:
    match = re.search(r"\((.*)\)", signature)
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
                names.append(name[0].strip("*&[]"))
            continue
        current += ch
    return names


def _returns(signature: str) -> str:
    match = re.search(r"\)\s*(?:->|:)\s*([^={]+)$", signature)
    return " ".join(match.group(1).split()) if match else ""


DUNDER_NAMES = {"__all__": "exported names", "__version__": "version", "__author__": "author",
                "__slots__": "instance slots", "__init__": "initialise instance"}
KIND_NOUNS = {"function": "function", "method": "method", "class": "class", "variable": "value", "constant": "constant"}


def symbol_ladder(kind: str, name: str, signature: str, doc: str, parts: list[tuple[str, str, str]],
                  uses: list[str] = ()) -> list[str]:
    """Summaries of a class, function or other symbol.

    `parts` are its children as (kind, name, short summary), most important first.
    """
    described = drop_lead_in(lead_paragraph(doc)) if doc else ""
    phrase = identifier_words(name)
    noun = KIND_NOUNS.get(kind, kind)
    if name in ("__init__", "constructor", "new", "initialize"):
        phrase = "initialise instance"
    elif name in DUNDER_NAMES:
        phrase = DUNDER_NAMES[name]
    elif name.startswith("__") and name.endswith("__"):
        phrase = f"{name} protocol"
    if kind in ("variable", "constant") and name.isupper():
        noun = "constant"
    structure = _structure_text(kind, signature, parts, uses)
    if kind in ("variable", "constant") and "=" in signature:
        value = signature.split("=", 1)[1].strip()
        structure = f"Set to {value}" if word_count(value) <= 8 and len(value) <= 60 else ""
    if described:
        return ladder(described, _sentence(described) + " " + structure)
    short = f"{capitalize(phrase)} {noun}" if noun not in phrase else capitalize(phrase)
    names = [n for _, n, _ in parts[:4]]
    listed = f"{short} with {_join(names)}" + (f" and {len(parts) - 4} more" if len(parts) > 4 else "") if names else short
    return ladder(capitalize(phrase), short, listed, f"{short}. {structure}" if structure else listed)


def _sentence(text: str) -> str:
    text = text.rstrip()
    return text if text.endswith((".", "!", "?")) else text + "."


def _structure_text(kind: str, signature: str, parts: list[tuple[str, str, str]], uses: list[str] = ()) -> str:
    bits = []
    params = _params(signature) if kind in ("function", "method", "macro") else []
    if params:
        bits.append(f"takes {_join(params[:6])}" + (" and more" if len(params) > 6 else ""))
    returns = _returns(signature)
    if returns and returns not in ("None", "void", "()"):
        bits.append(f"returns {returns}")
    if parts:
        named = [f"{n} ({s})" if s else n for _, n, s in parts[:6]]
        bits.append(f"has {_join(named)}" + (f" and {len(parts) - 6} more" if len(parts) > 6 else ""))
    if uses:
        bits.append(f"uses {_join(list(uses[:4]))}" + (" and more" if len(uses) > 4 else ""))
    return capitalize("; ".join(bits)) + ("." if bits else "")


def name_words(name: str) -> str:
    """A file or directory name as words, unless splitting it would lose what it says ('py3.11')."""
    if re.search(r"[\d.]", name):
        return name
    return identifier_words(name)


_TEST_FILE = re.compile(r"^(?:test_(?P<a>\w+)|(?P<b>\w+?)(?:_test|_spec|\.test|\.spec))$")


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


def file_ladder(path: str, lang: str | None, doc: str, parts: list[tuple[str, str, str]]) -> list[str]:
    """Summaries of a file from its own doc and its most important top-level symbols."""
    described = drop_lead_in(lead_paragraph(doc)) if doc else ""
    contents = _contents_text(parts)
    label = file_label(path, lang)
    if described:
        return ladder(described, _sentence(described) + (f" {contents}" if contents else ""))
    if contents:
        gist = _gist_from_parts(parts)
        return ladder(label, f"{label}: {gist}" if gist else label, f"{label}. {contents}")
    return ladder(label)


_LANG_NOUN = {"python": "module", "markdown": "document", "bash": "script", None: "file"}


def _gist_from_parts(parts: list[tuple[str, str, str]]) -> str:
    names = [n for _, n, _ in parts[:3]]
    return _join(names)


def _contents_text(parts: list[tuple[str, str, str]]) -> str:
    if not parts:
        return ""
    shown = [f"{name} ({summary})" if summary else name for _, name, summary in parts[:8]]
    more = f" and {len(parts) - 8} more" if len(parts) > 8 else ""
    return f"Defines {_join(shown)}{more}."


def directory_ladder(path: str, doc: str, parts: list[tuple[str, str, str]], is_repo: bool = False) -> list[str]:
    """Summaries of a directory from its README or package doc and its children."""
    name = path.rsplit("/", 1)[-1] if path else "repository"
    described = drop_lead_in(lead_paragraph(doc)) if doc else ""
    shown = [f"{n} ({s})" if s else n for _, n, s in parts[:8]]
    contents = f"Holds {_join(shown)}" + (f" and {len(parts) - 8} more" if len(parts) > 8 else "") + "." if parts else ""
    if described:
        return ladder(described, _sentence(described) + (f" {contents}" if contents else ""))
    noun = "repository" if is_repo else "directory"
    label = f"{capitalize(name_words(name))} {noun}" if name != "repository" else "Repository"
    gist = _join([n for _, n, _ in parts[:3]])
    return ladder(label, f"{label}: {gist}" if gist else label, f"{label}. {contents}" if contents else label)
