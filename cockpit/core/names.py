"""Every node's name, for find-as-you-type: which names hold a query's letters in order.

A large repository has ~100k names (the standard library: 80k). A regex tried on each name costs a
Python call per name, ~100 ms per keystroke, and the lazy `a.*?b.*?c` form backtracks without end on
long names that almost match (seconds). Here the names are one lowered string, a name a line,
shortest first, searched by one possessive pattern (`a[^\\nb]*+b[^\\nc]*+c`: the next letter, never
backtracking) in one pass of the regex engine; a longer query searches only the names the shorter
one found, when it found them all.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator

from cache.store import Store


class NameIndex:
    """The names of a cache's nodes (a file by its path, a symbol by its file and qualified name, a
    directory with its slash), shortest first."""

    def __init__(self, rows: list[tuple[str, str]], generation: int = 0):
        entries = [(node_id, kind, node_id.replace("::", " ") if kind != "dir" else node_id + "/")
                   for node_id, kind in rows]
        entries.sort(key=lambda e: (len(e[2]), e[2]))
        self.entries = entries  # (id, kind, text matched)
        self.generation = generation
        self.lowered = [text.lower() for _, _, text in entries]
        self.blob = "\n".join(self.lowered)
        self.starts, at = [], 0
        for text in self.lowered:
            self.starts.append(at)
            at += len(text) + 1

    @classmethod
    def load(cls, store: Store) -> NameIndex:
        generation = store.generation()
        rows = store.db.conn.execute("SELECT id, kind FROM nodes WHERE kind != 'repo'").fetchall()
        return cls(rows, generation)

    @staticmethod
    def pattern(query: str) -> re.Pattern:
        letters = query.lower()
        parts = [re.escape(letters[0])]
        parts += [f"[^\\n{re.escape(c)}]*+{re.escape(c)}" for c in letters[1:]]
        return re.compile("".join(parts))

    def matches(self, query: str, within: list[int] | None = None) -> Iterator[int]:
        """Indices of the entries whose text holds the query's letters in order (case aside), shortest
        first; `within`: look only at these (a shorter query's complete answer)."""
        if not query:
            return
        pattern = self.pattern(query)
        if within is not None:
            yield from (i for i in within if pattern.search(self.lowered[i]))
            return
        last = -1
        for found in pattern.finditer(self.blob):
            i = bisect.bisect_right(self.starts, found.start()) - 1
            if i != last:
                yield i
                last = i
