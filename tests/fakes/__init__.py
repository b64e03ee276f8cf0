"""Test doubles for external services (documented stand-ins, used where the real binary is not available)."""

from .fake_ollama import DEFAULT_MODELS, FakeModel, FakeOllama, Fault, LatencyProfile, count_tokens

__all__ = ["DEFAULT_MODELS", "Fault", "FakeModel", "FakeOllama", "LatencyProfile", "count_tokens"]
