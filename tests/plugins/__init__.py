"""pytest plugins shared by test packages (register with ``pytest_plugins`` or import the fixtures)."""
