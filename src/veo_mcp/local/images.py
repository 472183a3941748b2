"""Local images for image-to-video: which files may be read, and whether each really is an image we can send.

Why so strict: an MCP server reads files on behalf of a model that may have been talked into anything, and the
file's bytes leave the machine. So a path is resolved (symlinks included) before it is judged; it must sit under
the client's MCP roots when the client declares roots, otherwise under the folders in VEO_MCP_IMAGE_DIRS (default:
the home folder); system folders are never readable; and the file must be a regular file of at most 10 MB whose
bytes (not its name) say JPEG, PNG or WebP.
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys
from pathlib import Path

import anyio
from pydantic import BaseModel

from veo_mcp.evolink import catalog
from veo_mcp.evolink.errors import InvalidRequestError
from veo_mcp.evolink.image_types import image_type

# Never read from these, whatever the roots or settings say.
SYSTEM_FOLDERS: tuple[Path, ...] = tuple(
    Path(p)
    for p in (
        ("C:\\Windows", "C:\\Program Files", "C:\\Program Files (x86)", "C:\\ProgramData")
        if sys.platform == "win32"
        else ("/etc", "/proc", "/sys", "/dev", "/boot", "/bin", "/sbin", "/lib", "/lib64", "/usr", "/var", "/run")
    )
)


class LocalImage(BaseModel):
    """A checked local image: where it is, what it is, and its content hash (the upload cache key)."""

    path: Path
    sha256: str
    mime_type: str
    bytes: int

    @property
    def extension(self) -> str:
        return catalog.IMAGE_MIME_TYPES[self.mime_type]


class AllowedFolders(BaseModel):
    """The folders images may come from, and a sentence saying where that rule comes from."""

    folders: list[Path]
    source: str
    how_to_change: str


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _refuse(index: int, raw: str, problem: str, advice: str) -> InvalidRequestError:
    field = f"image_files[{index}]"
    return InvalidRequestError(f"{field}: {raw!r} {problem}", field=field, advice=advice)


def inspect_image(raw: str, index: int, allowed: AllowedFolders) -> LocalImage:
    """Check one local image path against every rule; read it once (for the hash). Raises InvalidRequestError."""
    given = Path(os.path.expanduser(raw))
    if not given.is_absolute():
        raise _refuse(index, raw, "is not an absolute path.", "Give the full path, e.g. /Users/me/Pictures/a.png.")
    try:
        resolved = given.resolve(strict=True)
    except (FileNotFoundError, NotADirectoryError):
        raise _refuse(
            index, raw, "does not exist.", "Check the path (and its spelling); nothing was uploaded."
        ) from None
    except (OSError, RuntimeError) as error:
        raise _refuse(index, raw, f"cannot be resolved ({error}).", "Check the path; nothing was uploaded.") from None
    if any(_inside(resolved, folder) for folder in SYSTEM_FOLDERS):
        raise _refuse(
            index, raw, f"is in a system folder ({resolved}); veo-mcp never reads those.", "Copy the image elsewhere."
        )
    folders = [folder for folder in allowed.folders if _inside(resolved, folder)]
    if not folders:
        where = ", ".join(str(f) for f in allowed.folders) or "(none)"
        shown = f"{raw!r} (really {resolved})" if str(resolved) != raw else repr(raw)
        raise InvalidRequestError(
            f"image_files[{index}]: {shown} is outside the folders images may be read from: {where} "
            f"({allowed.source}).",
            field=f"image_files[{index}]",
            advice=allowed.how_to_change,
        )
    info = resolved.stat()
    if not stat.S_ISREG(info.st_mode):
        kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise _refuse(index, raw, f"is {kind}.", "Give the path of an image file (JPEG, PNG or WebP).")
    if info.st_size > catalog.MAX_IMAGE_BYTES:
        raise _refuse(
            index,
            raw,
            f"is {info.st_size / 1024 / 1024:.1f} MB; images may be at most {catalog.MAX_IMAGE_BYTES // 1024 // 1024} MB.",
            "Resize or recompress it (a 1920 px JPEG is usually well under 1 MB).",
        )
    data = resolved.read_bytes()
    mime = image_type(data[:16])
    if mime is None:
        raise _refuse(
            index,
            raw,
            "is not a JPEG, PNG or WebP image (its content says otherwise, whatever its name).",
            "Convert it to JPEG, PNG or WebP; nothing was uploaded.",
        )
    return LocalImage(path=resolved, sha256=hashlib.sha256(data).hexdigest(), mime_type=mime, bytes=len(data))


def read_image(image: LocalImage) -> bytes:
    """The image's bytes, checked to be the ones inspected (the file may have changed since)."""
    data = image.path.read_bytes()
    if hashlib.sha256(data).hexdigest() != image.sha256:
        raise InvalidRequestError(
            f"image_files: {image.path} changed while it was being prepared.",
            field="image_files",
            advice="Call again once the file is no longer being written.",
        )
    return data


def placeholder_url(image: LocalImage, files_base_url: str) -> str:
    """A stand-in `image_urls` entry for validation and cost estimates before (or without) uploading."""
    return f"{files_base_url.rstrip('/')}/pending-upload/{image.sha256}{image.extension}"


def allowed_folders(image_dirs: list[Path], roots: list[Path] | None) -> AllowedFolders:
    """Where local images may come from: the client's roots when it declares any, else VEO_MCP_IMAGE_DIRS."""
    if roots is not None:
        return AllowedFolders(
            folders=[root.resolve() for root in roots],
            source="the folders your MCP client shares with this server, its roots",
            how_to_change="Open the image's folder in your client (add it to the workspace or roots) or move the "
            "image into a shared folder, then call again.",
        )
    return AllowedFolders(
        folders=list(image_dirs),
        source="VEO_MCP_IMAGE_DIRS",
        how_to_change="Move the image under one of these folders, or add its folder to VEO_MCP_IMAGE_DIRS "
        f"(folders separated by '{os.pathsep}') in the server's environment and restart it.",
    )


async def inspect_images(paths: list[str], allowed: AllowedFolders) -> list[LocalImage]:
    """Check every local image before anything is uploaded (see `inspect_image`), off the event loop."""
    return [await anyio.to_thread.run_sync(inspect_image, raw, index, allowed) for index, raw in enumerate(paths)]
