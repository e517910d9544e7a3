"""The money: the ledger of Cockpit's own LLM calls, model prices, and the coding agents' burn."""
