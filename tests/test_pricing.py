"""Prices as data: LiteLLM's entries converted, model names made canonical, tiers, sources and overrides."""

import json
import zipfile

import pytest
from click.testing import CliRunner

from cockpit.faces.cli import main
from cockpit.spend.pricing import Pricing, PricingError, canonical, from_litellm, update, updated_path

# A few entries shaped as LiteLLM writes them (USD per token), with the fields each provider really has.
LITELLM = {
    "sample_spec": {"input_cost_per_token": 0.0, "litellm_provider": "one of https://docs.litellm.ai/docs/providers"},
    "claude-sonnet-4-5": {"litellm_provider": "anthropic", "input_cost_per_token": 3e-06, "output_cost_per_token": 1.5e-05,
                          "cache_creation_input_token_cost": 3.75e-06, "cache_creation_input_token_cost_above_1hr": 6e-06,
                          "cache_read_input_token_cost": 3e-07, "input_cost_per_token_batches": 1.5e-06},
    "claude-sonnet-4-5-20250929-v1:0": {
        "litellm_provider": "bedrock", "input_cost_per_token": 3e-06, "output_cost_per_token": 1.5e-05,
        "input_cost_per_token_above_200k_tokens": 6e-06, "output_cost_per_token_above_200k_tokens": 2.25e-05,
        "cache_creation_input_token_cost_above_200k_tokens": 7.5e-06,
        "cache_creation_input_token_cost_above_1hr_above_200k_tokens": 1.2e-05,
        "cache_read_input_token_cost_above_200k_tokens": 6e-07},
    "us.anthropic.claude-sonnet-4-5-20250929-v1:0": {  # a regional premium: never the source
        "litellm_provider": "bedrock_converse", "input_cost_per_token": 3.3e-06, "output_cost_per_token": 1.65e-05},
    "anthropic.claude-3-5-haiku-20241022-v1:0": {"litellm_provider": "bedrock", "input_cost_per_token": 8e-07,
                                                 "output_cost_per_token": 4e-06, "cache_creation_input_token_cost": 1e-06,
                                                 "cache_read_input_token_cost": 8e-08},
    "vertex_ai/claude-3-5-haiku": {"litellm_provider": "vertex_ai-anthropic_models", "input_cost_per_token": 1e-06,
                                   "output_cost_per_token": 5e-06},
    "claude-haiku-5-5": {"litellm_provider": "anthropic", "input_cost_per_token": 1e-07, "output_cost_per_token": 5e-07,
                         "input_cost_per_token_above_100k_tokens": 5e-07},
    "claude-opus-latest": {"litellm_provider": None},
    "gpt-5": {"litellm_provider": "openai", "input_cost_per_token": 1.25e-06, "output_cost_per_token": 1e-05},
}


@pytest.mark.parametrize("written, model", [
    ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"), ("claude-opus-4-8[1m]", "claude-opus-4-8"),
    ("anthropic/claude-sonnet-5", "claude-sonnet-5"), ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5"),
    ("bedrock/us-east-1/anthropic.claude-3-5-haiku-20241022-v1:0", "claude-3-5-haiku"),
    ("vertex_ai/claude-sonnet-4-5@20250929", "claude-sonnet-4-5"), ("claude-opus-4-6@default", "claude-opus-4-6"),
    ("claude-sonnet-4-0", "claude-sonnet-4"), ("Claude-Opus-4-8", "claude-opus-4-8"),
    ("claude-mystery-9", "claude-mystery-9"),
])
def test_one_name_per_model(written, model):
    assert canonical(written) == model


def test_litellm_entries_become_one_price_per_model_with_their_sources():
    models = from_litellm(LITELLM, "test")["models"]
    assert sorted(models) == ["claude-3-5-haiku", "claude-haiku-5-5", "claude-sonnet-4-5"]
    sonnet = models["claude-sonnet-4-5"]
    assert (sonnet["input"], sonnet["output"], sonnet["cache_write_5m"], sonnet["cache_write_1h"],
            sonnet["cache_read"], sonnet["batch_discount"]) == (3, 15, 3.75, 6, 0.3, 0.5)
    # the Anthropic entry lacks the long-context tier; the same model's Bedrock entry has it
    assert sonnet["long_context"] == {"above": 200_000, "input": 6, "output": 22.5, "cache_write_5m": 7.5,
                                      "cache_write_1h": 12, "cache_read": 0.6}
    assert sonnet["from"] == "claude-sonnet-4-5, claude-sonnet-4-5-20250929-v1:0"
    haiku = models["claude-3-5-haiku"]  # Bedrock's list price before Vertex's; no 1-hour rate in the data
    assert (haiku["input"], haiku["cache_write_5m"], haiku["cache_write_1h"]) == (0.8, 1.0, None)
    assert models["claude-haiku-5-5"]["long_context"]["above"] == 100_000
    with pytest.raises(PricingError, match="no Claude prices"):
        from_litellm({"gpt-5": LITELLM["gpt-5"]}, "x.json")


def test_costs_per_field_with_long_context_tiers_and_batches():
    pricing = Pricing(from_litellm(LITELLM, "test")["models"])
    assert pricing.cost("claude-sonnet-4-5-20250929", {"input_tokens": 300_000, "output_tokens": 1_000}) == \
        pytest.approx((200_000 * 3 + 100_000 * 6 + 1_000 * 15) / 1e6)
    # 5-minute and 1-hour writes are separate fields: only the 1-hour ones pass 200k here
    assert pricing.cost("claude-sonnet-4-5", {"cache_write_tokens": 300_000, "cache_write_1h_tokens": 250_000}) == \
        pytest.approx((50_000 * 3.75 + 200_000 * 6 + 50_000 * 12) / 1e6)
    assert pricing.cost("claude-sonnet-4-5", {"input_tokens": 100_000}, batched=True) == pytest.approx(0.15)
    # no 1-hour rate: 1-hour writes cost the 5-minute one
    assert pricing.cost("claude-3-5-haiku", {"cache_write_tokens": 10_000, "cache_write_1h_tokens": 10_000}) == \
        pytest.approx(0.01)
    # no cache-read rate at all for this model: a call that read the cache is unpriced, not guessed
    assert pricing.cost("claude-haiku-5-5", {"input_tokens": 10, "cache_read_tokens": 10}) is None
    assert pricing.cost("claude-opus-latest", {"input_tokens": 10}) is None


def test_the_shipped_copy_prices_todays_models():
    pricing = Pricing.load()
    for model in ("claude-opus-4-8", "claude-opus-4-8[1m]", "claude-sonnet-5", "claude-haiku-4-5-20251001",
                  "claude-3-5-haiku-20241022", "claude-sonnet-4-5-20250929", "anthropic/claude-opus-4-8"):
        assert pricing.price(model) is not None, model
    assert pricing.price("claude-sonnet-4-5").long_context_above == 200_000
    assert pricing.price("claude-mystery-9") is None


def test_update_from_a_file_or_wheel_then_show_says_where_prices_come_from(tmp_path):
    data = json.loads(json.dumps(LITELLM))
    data["claude-sonnet-4-5"]["input_cost_per_token"] = 4e-06  # a price change upstream
    source = tmp_path / "model_prices.json"
    source.write_text(json.dumps(data))
    runner = CliRunner()
    result = runner.invoke(main, ["pricing", "update", "--from", str(source)])
    assert result.exit_code == 0, result.output
    assert f"3 models from LiteLLM model_prices_and_context_window_backup.json (model_prices.json) written to " \
           f"{updated_path()}" in result.output
    shown = runner.invoke(main, ["pricing", "show", "claude-sonnet-4-5-20250929"])
    assert shown.exit_code == 0
    assert "claude-sonnet-4-5 (asked for claude-sonnet-4-5-20250929)" in shown.output
    assert "input                   4, 6 for a request's tokens beyond 200,000" in shown.output
    assert f"updated file {updated_path()}" in shown.output
    # models the update does not have keep the shipped price
    assert Pricing.load().price("claude-opus-4-8").input == 5

    wheel = tmp_path / "litellm-9.9.9-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("litellm/model_prices_and_context_window_backup.json", json.dumps(LITELLM))
    out, converted = update(str(wheel), tmp_path / "p.json")
    assert "litellm 9.9.9" in converted["source"] and json.loads(out.read_text())["models"]["claude-sonnet-4-5"]["input"] == 3


def test_a_user_file_overrides_and_bad_input_is_one_line(tmp_path, monkeypatch):
    own = tmp_path / "mine.json"
    own.write_text(json.dumps({"models": {"claude-opus-4-8": {"input": 1, "output": 2}}}))
    monkeypatch.setenv("COCKPIT_PRICING", str(own))
    assert Pricing.load().cost("claude-opus-4-8", {"input_tokens": 1_000_000}) == pytest.approx(1)
    runner = CliRunner()
    assert f"override file {own}" in runner.invoke(main, ["pricing", "show", "claude-opus-4-8"]).output
    own.write_text("{not json")
    result = runner.invoke(main, ["pricing", "show", "claude-opus-4-8"])
    assert result.exit_code == 1 and result.output.count("\n") == 1 and "not a readable price file" in result.output
    monkeypatch.delenv("COCKPIT_PRICING")
    unknown = runner.invoke(main, ["pricing", "show", "claude-mystery-9"])
    assert unknown.exit_code == 1 and "'claude-mystery-9' has no price" in unknown.output
    missing = runner.invoke(main, ["pricing", "update", "--from", str(tmp_path / "nope.json")])
    assert missing.exit_code == 1 and "no such file" in missing.output


def test_a_price_that_is_not_a_number_is_refused_in_one_line(tmp_path, monkeypatch):
    own = tmp_path / "mine.json"
    own.write_text(json.dumps({"models": {"claude-opus-4-8": {"input": "cheap", "output": 2}}}))
    monkeypatch.setenv("COCKPIT_PRICING", str(own))
    with pytest.raises(PricingError, match="prices must be numbers"):
        Pricing.load()
