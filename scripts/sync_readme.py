"""Rewrite README.md's generated tables (tools, resources, settings) from the code: `python scripts/sync_readme.py`."""

from __future__ import annotations

import sys
from pathlib import Path

import anyio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from veo_mcp.reference import apply_blocks, generated_blocks  # noqa: E402


def main() -> None:
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    updated = apply_blocks(text, anyio.run(generated_blocks))
    if updated != text:
        readme.write_text(updated, encoding="utf-8")
        print("README.md updated", file=sys.stderr)
    else:
        print("README.md already up to date", file=sys.stderr)


if __name__ == "__main__":
    main()
