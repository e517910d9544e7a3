import re
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from cockpit.core.names import NameIndex


def reference(index: NameIndex, query: str) -> list[int]:
    letters = re.compile(".*?".join(map(re.escape, query.lower())))
    return [i for i, text in enumerate(index.lowered) if letters.search(text)]


@settings(max_examples=60, deadline=None)
@given(names=st.lists(st.from_regex(r"[a-cA-C_./]{1,12}", fullmatch=True), min_size=1, max_size=40),
       query=st.from_regex(r"[a-cA-C_.]{1,4}", fullmatch=True))
def test_the_index_finds_what_a_subsequence_regex_finds(names, query):
    index = NameIndex([(name, "file") for name in names])
    expected = reference(index, query)
    assert list(index.matches(query)) == expected
    shorter = query[:-1]
    if shorter:
        within = list(index.matches(shorter))
        assert list(index.matches(query, within)) == expected


def test_names_are_shortest_first_and_a_near_miss_does_not_backtrack():
    rows = [("lib/selectors.py", "file"), ("lib/selectors.py::DefaultSelector", "class"), ("lib", "dir")]
    rows += [(f"pkg/{'s_e_l_e_c_t_o_' * 20}{i}.py", "file") for i in range(2000)]  # almost "selectorx"
    index = NameIndex(rows)
    assert index.entries[0] == ("lib", "dir", "lib/")
    started = time.perf_counter()
    assert [index.entries[i][0] for i in index.matches("selectorsx")] == []
    assert time.perf_counter() - started < 1.0
    assert [index.entries[i][0] for i in index.matches("defsel")] == ["lib/selectors.py::DefaultSelector"]
