"""Rewrite the generated tables of the documentation (tools, resources, settings, commands) from the code, in the pages
`veo_mcp.reference.DOCUMENTS` names: `python scripts/sync_readme.py`."""

from __future__ import annotations

import sys
from pathlib import Path

import anyio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from veo_mcp.reference import apply_blocks, generated_blocks, page_blocks  # noqa: E402


def main() -> None:
    for page, blocks in page_blocks(anyio.run(generated_blocks)).items():
        path = ROOT / page
        text = path.read_text(encoding="utf-8")
        updated = apply_blocks(text, blocks)
        if updated != text:
            path.write_text(updated, encoding="utf-8")
            print(f"{page} updated", file=sys.stderr)
        else:
            print(f"{page} already up to date", file=sys.stderr)


if __name__ == "__main__":
    main()
