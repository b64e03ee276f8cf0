"""The light shared package: stdlib + platformdirs only.

Status types, paths, error shape, the LCAI formatter, redaction, logging setup and small file helpers are used by
every process (agent, tray, windows, CLI); none of them may pull in web3, docker, keyring or a GUI toolkit.
"""
