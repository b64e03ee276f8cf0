"""The tray: a light client of the agent API (pystray is imported lazily, only by app/hosts)."""
