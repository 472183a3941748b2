"""Build the Claude Desktop bundle: `python scripts/build_mcpb.py [--output dist/veo-mcp-<version>.mcpb]`.

First brings manifests/manifest.json up to date with the code (version, tools), then zips what a `uv`-type MCPB
needs: the manifest, the icon, pyproject.toml, README, LICENSE and the package source. Claude Desktop installs the
dependencies from pyproject.toml with uv when the bundle is installed. With `npx` on the machine the manifest is
validated with the official `@anthropic-ai/mcpb` tool as well.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import anyio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from veo_mcp import __version__  # noqa: E402
from veo_mcp.reference import manifest_tools  # noqa: E402

MANIFEST = ROOT / "manifests" / "manifest.json"
INCLUDED = ["pyproject.toml", "README.md", "LICENSE"]


def synced_manifest() -> dict[str, object]:
    """The manifest with the code's version and tool list."""
    manifest: dict[str, object] = json.loads(MANIFEST.read_text(encoding="utf-8"))
    manifest["version"] = __version__
    manifest["tools"] = anyio.run(manifest_tools)
    return manifest


def tracked_sources() -> list[str]:
    """The package's files as git tracks them: never a stray local file (a .env, a key, a database) by accident."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "src/veo_mcp"], cwd=ROOT, capture_output=True, check=True, text=True
    ).stdout
    return sorted(name for name in listed.split("\0") if name and (ROOT / name).is_file())


def build(output: Path) -> Path:
    manifest = synced_manifest()
    MANIFEST.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    output.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(output, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        bundle.write(MANIFEST, "manifest.json")
        bundle.write(ROOT / "manifests" / "icon.png", "icon.png")
        for name in INCLUDED:
            bundle.write(ROOT / name, name)
        for name in tracked_sources():
            bundle.write(ROOT / name, name)
    return output


def validate(manifest: Path) -> None:
    npx = shutil.which("npx")
    if npx is None:
        print("npx not found: skipped `mcpb validate`", file=sys.stderr)
        return
    subprocess.run([npx, "--yes", "@anthropic-ai/mcpb", "validate", str(manifest)], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, default=ROOT / "dist" / f"veo-mcp-{__version__}.mcpb")
    parser.add_argument("--no-validate", action="store_true", help="do not run `npx @anthropic-ai/mcpb validate`")
    args = parser.parse_args()
    bundle = build(args.output)
    if not args.no_validate:
        validate(MANIFEST)
    print(bundle)


if __name__ == "__main__":
    main()
