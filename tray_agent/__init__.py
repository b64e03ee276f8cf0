"""lcai-worker-tray: a desktop/headless agent that runs and keeps online a LightChain AI worker."""

__version__ = "0.1.0"
