"""Replaces pyinstaller-hooks-contrib's hook-pystray, whose collect_submodules("pystray") imports pystray,
which fails without a display (CI, servers) and then silently collects no backend. The spec lists the
backends of each OS explicitly instead."""

hiddenimports: list = []
