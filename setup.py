"""Package list for setuptools (everything else is in pyproject.toml).

``[tool.setuptools.packages.find]`` only sees folders where they are, so the top-level ``web_ui/`` and
``icons/`` (mapped to ``tray_agent.web_ui`` / ``tray_agent.icons`` by ``package-dir`` in pyproject.toml)
were silently left out of the wheel. Their files, subfolders included, come along as package data.
"""

from setuptools import find_packages, setup

packages = find_packages(include=["tray_agent", "tray_agent.*"])
packages += [p for p in ("tray_agent.web_ui", "tray_agent.icons") if p not in packages]

setup(packages=packages)
