"""``python -m mathgauge.testing.server``: run the scripted OpenAI-compatible server."""

from ._server import main

if __name__ == "__main__":
    main()
