from tests.plugins.ollama import fake_ollama, fake_ollama_factory  # noqa: F401
