"""Package list for setuptools (everything else is in pyproject.toml).

``[tool.setuptools.packages.find]`` only sees folders where they are, so the top-level ``web_ui/``,
``icons/`` and ``installers/autostart/`` (mapped to ``tray_agent.web_ui``, ``tray_agent.icons`` and
``tray_agent.installers.autostart`` by ``package-dir`` in pyproject.toml) were silently left out of the
wheel. Their files, subfolders included, come along as package data. tests/installers checks the wheel.
"""

from setuptools import find_namespace_packages, setup

# namespace packages too (some folders have no __init__.py), as packages.find did; never __pycache__
packages = find_namespace_packages(include=["tray_agent", "tray_agent.*"], exclude=["*.__pycache__", "*__pycache__*"])
MAPPED = {"tray_agent.web_ui": "web_ui", "tray_agent.icons": "icons", "tray_agent.installers.autostart": "installers/autostart"}
for pkg, folder in MAPPED.items():
    packages += [pkg] + [f"{pkg}.{sub}" for sub in find_namespace_packages(where=folder, exclude=["*__pycache__*"])]

setup(packages=packages)
