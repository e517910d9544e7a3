import subprocess
import sys

from summarizers import tokens


def test_counts_are_tiktokens_exact_counts():
    enc = tokens.encoding()
    assert enc.name == "cl100k_base"
    assert enc.encode_ordinary("hello world") == [15339, 1917]
    text = "def parse(argv: list[str]) -> Namespace:\n    return parser.parse_args(argv)\n"
    assert tokens.count(text) == len(enc.encode_ordinary(text))
    assert tokens.count("") == 0
    assert tokens.count_many(["hello world", ""]) == [2, 0]


def test_special_token_text_is_counted_not_rejected():
    assert tokens.count("<|endoftext|>") > 1


def test_vocabulary_is_installed_offline_into_an_empty_cache(tmp_path):
    # A fresh process with an empty cache dir and no network proxy reachable.
    code = "from summarizers import tokens; print(tokens.count('hello world'))"
    env = {"TIKTOKEN_CACHE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin", "HTTPS_PROXY": "http://127.0.0.1:9",
           "HTTP_PROXY": "http://127.0.0.1:9"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "2"
    assert len([p for p in tmp_path.iterdir() if not p.name.endswith(".marshal")]) == 1
    # The second process loads the snapshot the first one kept, and counts the same.
    again = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert again.stdout.strip() == "2"
    assert len(list(tmp_path.glob("cl100k_base.*.marshal"))) == 1


def test_a_long_text_is_counted_in_pieces_exactly():
    line = "    value = compute(alpha, beta)  # 2 ½ ünïcode\n\n  indented\n\t\ttabbed\n)\n"
    text = "".join(f"def f{i}():\n{line}" for i in range(4000))
    pieces = list(tokens.chunks(text, size=5000))
    assert len(pieces) > 10 and "".join(pieces) == text
    whole = len(tokens.encoding().encode_ordinary(text))
    assert sum(len(tokens.encoding().encode_ordinary(p)) for p in pieces) == whole
    old = tokens.CHUNK_CHARS
    try:
        tokens.CHUNK_CHARS = 5000
        assert tokens.count(text) == whole
    finally:
        tokens.CHUNK_CHARS = old
