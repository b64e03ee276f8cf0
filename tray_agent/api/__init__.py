"""Local HTTP API on 127.0.0.1: the only way the tray, windows, browsers and the CLI reach the agent."""
