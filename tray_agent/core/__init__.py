"""Domain layer: networks, keys, chain, Docker/Ollama, supervisor, hardware, state.

Never imports pystray, PIL or webview (tests/test_core_imports.py enforces it).
"""
