"""Holdout scenarios: end-to-end stories of what a user does and expects, kept outside the code the
agents see, run against the repository's current state and judged by satisfaction.

- `model`: a scenario file (TOML) read into frozen dataclasses, checked as it is read;
- `sandbox`: the throwaway copy a trial runs in (a git worktree of HEAD plus the working tree's
  changes), its clean environment, steps with timeouts, services with readiness checks;
- `trial`: one trial (setup, services, steps) and the checks of what the user would see;
- `judge`: the LLM judge (through the jobs' ledger, spend cap and redaction);
- `run`: a run as a job (trials, verdicts, resume) and what `cockpit scenarios` reports.
"""
