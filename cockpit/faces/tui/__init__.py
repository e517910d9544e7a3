"""The full-screen app (Textual): `cockpit` or `cockpit tui PATH`."""
