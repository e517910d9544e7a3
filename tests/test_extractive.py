from hypothesis import given, settings
from hypothesis import strategies as st

from summarizers.extractive import (
    BUDGETS,
    FUNCTION_WORDS,
    directory_ladder,
    file_ladder,
    identifier_words,
    ladder,
    lead_paragraph,
    symbol_ladder,
)


def check_rungs(rungs):
    assert len(rungs) == len(BUDGETS)
    for budget, rung in zip(BUDGETS, rungs):
        words = rung.split()
        assert len(words) <= budget, (budget, rung)
        bare = [w.strip(".,;:!?()[]{}\"'`").lower() for w in words]
        if any(b and b not in FUNCTION_WORDS for b in bare):  # a text with some content to end on
            assert bare[-1] not in FUNCTION_WORDS, rung


words = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)


@settings(max_examples=300, deadline=None)
@given(st.lists(words, max_size=40).map(" ".join))
def test_any_text_gives_rungs_within_budget(text):
    check_rungs(ladder(text))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(
    ["Return", "the", "a", "of", "to", "value", "for", "parse", "parser", "file", "files", "in", "on", "with", "which", "(", ")", ",", ";", ".", ":", "``x``", ":func:`y`", "and"]
), max_size=90).map(" ".join))
def test_prose_like_text_gives_rungs_within_budget(text):
    check_rungs(ladder(text))


def test_each_rung_is_a_summary_at_its_length_not_a_cut():
    doc = ("Utility functions for copying and archiving files and directory trees.\n\n"
           "XXX The functions here don't copy the resource fork or other metadata on Mac.\n")
    rungs = ladder(lead_paragraph(doc))
    assert rungs[0] == "Utility functions"
    assert rungs[3] == "Utility functions for copying and archiving files and directory trees"
    assert rungs[5].startswith("Utility functions for copying and archiving files and directory trees. XXX")
    check_rungs(rungs)


def test_lead_in_phrases_are_dropped_and_heads_kept():
    rungs = ladder("This module provides access to the Unix password database. It is available on all Unix versions.")
    # ladder alone keeps the lead-in; the node summarizers drop it.
    check_rungs(rungs)
    file_rungs = file_ladder("pwd.py", "python", "This module provides access to the Unix password database.", [])
    assert file_rungs[:3] == ["Access database", "Access Unix password database", "Access to the Unix password database"]


def test_docstring_sections_and_markup_are_not_summaries():
    doc = """Return the value of :func:`os.getenv` for ``name``.

    Args:
        name: the variable.
    Returns:
        The value.
    """
    assert lead_paragraph(doc) == "Return the value of os.getenv for name."


def test_undocumented_symbols_are_described_by_their_structure():
    rungs = symbol_ladder("function", "parse_http_headers", "def parse_http_headers(raw: bytes, strict=False) -> dict",
                          "", [])
    assert rungs[0] == "Parse http headers" or len(rungs[0].split()) <= 2
    assert "Takes raw and strict" in rungs[4] and "returns dict" in rungs[4]
    check_rungs(rungs)
    cls = symbol_ladder("class", "HTTPServer", "class HTTPServer(TCPServer)", "",
                        [("method", "serve", "Serve requests until stopped")])
    assert cls[1] == "HTTP server class"
    assert "serve (Serve requests until stopped)" in cls[5]


def test_directories_use_their_readme_or_children():
    with_doc = directory_ladder("weather", "Fetches forecasts and caches them on disk.", [("file", "client.py", "x")])
    assert with_doc[2] == "Fetches forecasts and caches them on disk"
    bare = directory_ladder("net/http", "", [("file", "client.py", "HTTP client"), ("file", "server.py", "HTTP server")])
    assert bare[1] == "Http directory"
    assert bare[5] == "Http directory. Holds client.py (HTTP client) and server.py (HTTP server)."
    check_rungs(bare)


def test_identifier_words():
    assert identifier_words("parse_HTTPHeaders") == "parse HTTP headers"
    assert identifier_words("getTerminalSize") == "get terminal size"
