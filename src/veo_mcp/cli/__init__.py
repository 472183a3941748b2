"""The `veo-mcp` command line (`veo_mcp.cli:main` is the console script)."""

from veo_mcp.cli.main import main

__all__ = ["main"]
