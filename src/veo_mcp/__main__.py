"""`python -m veo_mcp` is the `veo-mcp` command."""

from veo_mcp.cli import main

if __name__ == "__main__":
    main()
