"""A local behavioural clone of Anthropic's Messages API, for tests and for runs without a key."""
