"""The light shared package: stdlib + platformdirs only (tests/foundation/test_import_rules.py enforces it).

Used by every process (agent, tray, windows, CLI) and by the tests: status types (``status``), paths, the error
shape and codes (``errors``; HTTP statuses are the API's business: ``api/http_status.py``), the one LCAI
formatter (``amounts``), redaction, logging setup, small file helpers, the shared operation lists (``ops``),
network names from networks.json (``networks``), and the one API client with its SSE parser and the one
"is the agent alive" check (``api_client.find_agent``). None of them may pull in web3, docker, keyring or a GUI.
"""
