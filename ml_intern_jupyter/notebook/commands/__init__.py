"""What a `%%intern` cell and each `%intern` command do, the saved-session commands
(`resume`, `export`), the cost and MCP lines."""
