"""The three faces on top of the service layer: the CLI, the MCP server and the full-screen app."""
