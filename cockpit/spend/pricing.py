"""What Claude models cost, as data: LiteLLM's model price file is the origin.

`cockpit/spend/pricing.json` is a dated copy of the Claude entries of LiteLLM's
`model_prices_and_context_window_backup.json` (the file ccusage prices with), converted to USD per
million tokens. Later sources win, per model: the shipped copy, then `pricing update`'s copy in the user
data dir, then the user's `~/.config/cockpit/pricing.json`, then a file named by `COCKPIT_PRICING` or
passed to `Pricing.load`. A model with no price is unpriced (cost None), never guessed.

Regenerate the shipped copy (it downloads the `litellm` wheel with pip and reads the file inside it):

    python -m cockpit.spend.pricing --out cockpit/spend/pricing.json [--from FILE|URL|WHEEL]

Long-context rates apply per token field, as ccusage applies them: of a field's tokens in one request,
those beyond the threshold (200k for most models) cost the long-context rate.
"""

from __future__ import annotations

import functools
import json
import os
import re
import sys
from dataclasses import dataclass
from datetime import date
from importlib import resources
from pathlib import Path

from cockpit import paths

LITELLM_FILE = "model_prices_and_context_window_backup.json"
LITELLM_URL = "https://raw.githubusercontent.com/BerriAI/litellm/main/" + LITELLM_FILE
FIELDS = ("input", "output", "cache_write_5m", "cache_write_1h", "cache_read")
# LiteLLM's per-token keys for each of our fields; a long-context key adds `_above_<N>k_tokens`.
_LITELLM_KEYS = {"input": "input_cost_per_token", "output": "output_cost_per_token",
                 "cache_write_5m": "cache_creation_input_token_cost",
                 "cache_write_1h": "cache_creation_input_token_cost_above_1hr",
                 "cache_read": "cache_read_input_token_cost"}
# Providers whose Claude entries carry Anthropic's list prices, best first. Regional Bedrock ids
# (us., eu., ... or bedrock/<region>/) are left out: some carry a regional premium.
_RANK = {"anthropic": 0, "bedrock": 1, "bedrock_converse": 1, "vertex_ai-anthropic_models": 2}
_REGIONS = re.compile(r"^(?:us|eu|apac|global|jp|au|us-gov|ca|sa|ap)\.")


class PricingError(Exception):
    """A price file that cannot be read or used: one line."""


@functools.lru_cache(maxsize=4096)  # a log names a handful of models a million times
def canonical(model: str) -> str:
    """The one name of a model, whatever wrote it.

    'claude-sonnet-4-5-20250929', 'anthropic/claude-sonnet-4-5', 'claude-sonnet-4-5[1m]',
    'us.anthropic.claude-sonnet-4-5-20250929-v1:0' (Bedrock) and 'claude-sonnet-4-5@20250929' (Vertex)
    are all 'claude-sonnet-4-5'; 'claude-sonnet-4-0' is 'claude-sonnet-4'. Other names come back lower-cased.
    """
    name = model.strip().lower()
    name = re.sub(r"\[[^\]]*\]$", "", name)  # [1m]: the 1M-context beta, same model
    name = name.rsplit("/", 1)[-1]  # anthropic/, vertex_ai/, bedrock/<region>/, an inference-profile ARN
    name = _REGIONS.sub("", name)
    name = re.sub(r"^anthropic\.", "", name)
    name = re.sub(r"-v\d+(?::\d+)?$", "", name)  # Bedrock's -v1:0
    name = re.sub(r"@(?:\d{8}|default)$", "", name)  # Vertex's @20250929
    name = re.sub(r"-\d{8}$", "", name)
    return re.sub(r"-0$", "", name)


@dataclass(frozen=True)
class Price:
    """USD per million tokens. `cache_write_1h` None: the data has no 1-hour rate, and 1-hour writes cost
    the 5-minute rate; another rate None: tokens of that kind leave the call unpriced. `long_context`: the
    rates (FIELDS, each may be None) for a field's tokens beyond `long_context_above` in one request.
    `batch_discount`: the share taken off for Message Batches."""

    input: float
    output: float
    cache_write_5m: float | None = None
    cache_write_1h: float | None = None
    cache_read: float | None = None
    batch_discount: float = 0.0
    long_context_above: int | None = None
    long_context: dict | None = None
    source: str = ""

    @functools.cached_property
    def rates(self) -> tuple:
        """The rates of FIELDS, in order."""
        return tuple(self.rate(name) for name in FIELDS)

    def rate(self, name: str) -> float | None:
        value = getattr(self, name)
        return self.cache_write_5m if value is None and name == "cache_write_1h" else value

    def field_cost(self, name: str, tokens: int) -> float | None:
        """USD for `tokens` of one field in one request (None: the data has no rate for it)."""
        base = self.rate(name)
        if base is None:
            return None
        tier = name if name != "cache_write_1h" or self.cache_write_1h is not None else "cache_write_5m"
        above = (self.long_context or {}).get(tier)
        cut = self.long_context_above
        if above is None or cut is None or tokens <= cut:
            return base * tokens / 1e6
        return (base * cut + above * (tokens - cut)) / 1e6


def _price(name: str, fields: dict, source: str) -> Price:
    try:
        known = {k: fields[k] for k in ("input", "output")}
    except KeyError as exc:
        raise PricingError(f"{source}: model {name!r} has no {exc.args[0]!r} price") from None
    rest = {k: fields.get(k) for k in ("cache_write_5m", "cache_write_1h", "cache_read")}
    long_context = fields.get("long_context") or None
    numbers = [*known.values(), *rest.values(), fields.get("batch_discount"), *(long_context or {}).values()]
    if not all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0) for v in numbers):
        raise PricingError(f"{source}: model {name!r}: prices must be numbers of USD per million tokens")
    try:
        return Price(**known, **rest, batch_discount=fields.get("batch_discount") or 0.0,
                     long_context_above=(long_context or {}).get("above"),
                     long_context={k: v for k, v in (long_context or {}).items() if k in FIELDS} or None,
                     source=fields.get("from") and f"{source} (LiteLLM entries: {fields['from']})" or source)
    except TypeError as exc:
        raise PricingError(f"{source}: model {name!r}: {exc}") from None


class Pricing:
    def __init__(self, models: dict[str, dict], sources: dict[str, str] | None = None):
        sources = sources or {}
        self.models = {canonical(name): _price(name, fields, sources.get(name, "given"))
                       for name, fields in models.items()}
        self._known: dict[str, Price] = {}  # names as written, once found

    @classmethod
    def load(cls, path: str | os.PathLike | None = None) -> Pricing:
        """Every source in order (see the module docstring), later ones winning per model."""
        models: dict[str, dict] = {}
        sources: dict[str, str] = {}
        for label, source in price_files(path):
            data = read_file(source)
            origin = ", ".join(str(data[k]) for k in ("source", "generated") if data.get(k))
            for name, fields in data["models"].items():
                models[name] = fields
                sources[name] = f"{label} file {source}" + (f": {origin}" if origin else "")
        return cls(models, sources)

    def price(self, model: str) -> Price | None:
        return self.models.get(canonical(model))

    def cost(self, model: str, usage: dict, batched: bool = False) -> float | None:
        """USD for one call's usage (ledger token fields), or None when the model is unpriced."""
        p = self._known.get(model) or self.price(model)
        if p is None:
            return None
        self._known[model] = p
        write_1h = usage.get("cache_write_1h_tokens") or 0
        tokens = (usage.get("input_tokens") or 0, usage.get("output_tokens") or 0,
                  (usage.get("cache_write_tokens") or 0) - write_1h, write_1h, usage.get("cache_read_tokens") or 0)
        rates = p.rates
        if None not in rates and (p.long_context_above is None or max(tokens) <= p.long_context_above):
            dollars = sum(n * rate for n, rate in zip(tokens, rates)) / 1e6  # the common case, kept cheap
        else:
            parts = [p.field_cost(name, n) for name, n in zip(FIELDS, tokens) if n]
            if None in parts:
                return None
            dollars = sum(parts)
        return dollars * (1 - p.batch_discount) if batched else dollars

    def estimate(self, model: str, cached_tokens: int, input_tokens: int, max_tokens: int,
                 batched: bool = False) -> float | None:
        """The most a call can cost: its cacheable prefix written, the rest as input, max_tokens out."""
        return self.cost(model, {"input_tokens": input_tokens, "cache_write_tokens": cached_tokens,
                                 "output_tokens": max_tokens}, batched)

    def fingerprint(self) -> str:
        """Changes when any price does: stored costs computed with other prices are stale."""
        return repr(sorted((name, p.input, p.output, p.cache_write_5m, p.cache_write_1h, p.cache_read,
                            p.batch_discount, p.long_context_above, sorted((p.long_context or {}).items()))
                           for name, p in self.models.items()))


# --- where prices come from -------------------------------------------------------------


def updated_path() -> Path:
    """Where `cockpit pricing update` writes (the user data dir, or $COCKPIT_DATA_DIR)."""
    return paths.data_dir() / "pricing.json"


def user_path() -> Path:
    return paths.user_pricing_file()


def price_files(path: str | os.PathLike | None = None) -> list[tuple[str, object]]:
    """(label, file) for every source that exists, first to last; the first is the shipped copy."""
    shipped = resources.files("cockpit.spend").joinpath("pricing.json")
    found: list[tuple[str, object]] = [("shipped", shipped)]
    for label, extra in (("updated", updated_path()), ("user", user_path()),
                         ("override", path or os.environ.get("COCKPIT_PRICING"))):
        if extra and Path(extra).is_file():
            found.append((label, Path(extra)))
    return found


def read_file(source) -> dict:
    """A Cockpit price file ({"models": {name: {input, output, ...}}}), checked."""
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise PricingError(f"{source}: not a readable price file ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("models"), dict):
        raise PricingError(f"{source}: a price file needs a \"models\" object")
    return data


def from_litellm(data: dict, origin: str) -> dict:
    """Cockpit's price file from LiteLLM's: its Claude entries, one per model (see `canonical`), USD per
    million tokens. A field comes from the best provider's entry that has it (`_RANK`, undated ids
    first); every model says which entries it came from."""
    if not isinstance(data, dict):
        raise PricingError(f"{origin}: not LiteLLM's price file (expected a JSON object)")
    candidates: dict[str, list[tuple]] = {}
    for key, entry in data.items():
        if not isinstance(entry, dict) or entry.get("litellm_provider") not in _RANK:
            continue
        if (_REGIONS.match(key.rsplit("/", 1)[-1]) or key.count("/") > 1
                or not isinstance(entry.get("input_cost_per_token"), (int, float))):
            continue
        name = canonical(key)
        if not name.startswith("claude-"):
            continue
        candidates.setdefault(name, []).append(((_RANK[entry["litellm_provider"]], key != name), key, entry))
    if not candidates:
        raise PricingError(f"{origin}: no Claude prices in it (is it LiteLLM's {LITELLM_FILE}?)")
    models = {}
    for name, found in sorted(candidates.items()):
        found.sort(key=lambda c: c[1], reverse=True)  # the newest dated id first
        found.sort(key=lambda c: c[0])
        used: list[str] = []
        pick = functools.partial(_pick, found, used)
        fields = {ours: pick(theirs) for ours, theirs in _LITELLM_KEYS.items()}
        batch = pick("input_cost_per_token_batches")
        fields["batch_discount"] = round(1 - batch / fields["input"], 6) if batch and fields["input"] else 0.0
        fields["long_context"] = _long_context(found, pick)
        fields["from"] = ", ".join(used)
        models[name] = fields
    return {
        "source": f"LiteLLM {LITELLM_FILE} ({origin})", "generated": date.today().isoformat(),
        "unit": "USD per million tokens",
        "note": "Generated by `python -m cockpit.spend.pricing`: do not edit; override in ~/.config/cockpit/pricing.json.",
        "models": models,
    }


def _pick(found: list[tuple], used: list[str], litellm_key: str) -> float | None:
    """The first entry's value of a LiteLLM key, in USD per million tokens; its entry's name joins `used`."""
    for _rank, key, entry in found:
        value = entry.get(litellm_key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if key not in used:
                used.append(key)
            return round(value * 1e6, 6)
    return None


def _long_context(found: list[tuple], pick) -> dict | None:
    """The long-context tier: its threshold and the rates beyond it, or None when the data has none."""
    above = None
    for _rank, _key, entry in found:
        for key in entry:
            match = re.fullmatch(r"input_cost_per_token_above_(\d+)k_tokens", key)
            if match:
                above = int(match.group(1)) * 1000
                break
        if above:
            break
    if above is None:
        return None
    suffix = f"_above_{above // 1000}k_tokens"
    rates = {ours: pick(theirs + suffix) for ours, theirs in _LITELLM_KEYS.items()}
    return {"above": above, **rates}


def fetch_litellm(source: str | None) -> tuple[dict, str]:
    """LiteLLM's price data from a JSON file, a litellm wheel, a URL, or (None) a wheel pip downloads."""
    import subprocess  # here, not at the top: every served answer loads this module to price nothing
    import tempfile
    import urllib.request

    if source is None:
        with tempfile.TemporaryDirectory() as tmp:
            done = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "litellm", "-d", tmp],
                                  capture_output=True, text=True, check=False)
            wheels = sorted(Path(tmp).glob("litellm-*.whl"))
            if done.returncode or not wheels:
                raise PricingError(f"pip download litellm failed: {(done.stderr or done.stdout).strip()[-300:]}")
            return _from_wheel(wheels[0])
    if re.match(r"https?://", source):
        try:
            with urllib.request.urlopen(source, timeout=30) as answer:
                raw = answer.read()
        except OSError as exc:
            raise PricingError(f"{source}: {exc}") from None
        return _loads(raw, source), source
    path = Path(source).expanduser()
    if not path.is_file():
        raise PricingError(f"{source}: no such file")
    if path.suffix == ".whl":
        return _from_wheel(path)
    return _loads(path.read_bytes(), source), path.name


def _from_wheel(path: Path) -> tuple[dict, str]:
    import zipfile

    try:
        with zipfile.ZipFile(path) as wheel:
            raw = wheel.read(f"litellm/{LITELLM_FILE}")
    except (zipfile.BadZipFile, KeyError, OSError) as exc:
        raise PricingError(f"{path}: no litellm/{LITELLM_FILE} in it ({exc})") from None
    return _loads(raw, path.name), path.name.split("-")[0] + " " + path.name.split("-")[1]


def _loads(raw: bytes, origin: str) -> dict:
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise PricingError(f"{origin}: not JSON ({exc})") from None


def update(source: str | None, out: Path | None = None) -> tuple[Path, dict]:
    """Convert LiteLLM's data (see `fetch_litellm`) into a Cockpit price file at `out` (default: the user
    data dir's, which then wins over the shipped copy)."""
    data, origin = fetch_litellm(source)
    converted = from_litellm(data, origin)
    out = out or updated_path()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(converted, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    tmp.replace(out)
    return out, converted


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m cockpit.spend.pricing",
                                     description="Write Cockpit's price file from LiteLLM's model price data.")
    parser.add_argument("--from", dest="source", metavar="FILE|URL|WHEEL",
                        help="LiteLLM's JSON, a litellm wheel, or a URL (default: the wheel pip downloads)")
    parser.add_argument("--out", type=Path, help="where to write (default: the user data dir's pricing.json)")
    args = parser.parse_args(argv)
    try:
        out, converted = update(args.source, args.out)
    except PricingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{out}: {len(converted['models'])} models from {converted['source']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
