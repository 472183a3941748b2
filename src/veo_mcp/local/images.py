"""Local images for image-to-video: which files may be read, and whether each really is an image we can send.

Why so strict: an MCP server reads files on behalf of a model that may have been talked into anything, and the
file's bytes leave the machine. So a path is resolved (symlinks included) before it is judged; it must sit under
the client's MCP roots when the client declares roots, otherwise under the folders in VEO_MCP_IMAGE_DIRS (default:
the home folder); system folders are never readable; and the file must be a regular file of at most 10 MB whose
bytes (not its name) say JPEG, PNG or WebP.
"""

from __future__ import annotations

import builtins
import hashlib
import os
import stat
import sys
from pathlib import Path

import anyio
from pydantic import BaseModel, Field

from veo_mcp.context import LOCAL_PRINCIPAL, current_principal
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
    """A checked local image: where it is, what it is, its content hash (the upload cache key) and the bytes that
    were checked (what gets uploaded: the file is never read a second time)."""

    path: Path
    sha256: str
    mime_type: str
    bytes: int
    data: builtins.bytes = Field(repr=False, exclude=True)

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
    return InvalidRequestError(f"{field}: {_shown(raw)} {problem}", field=field, advice=advice)


def _shown(raw: str) -> str:
    """The path as the caller gave it, printable (control characters escaped)."""
    return repr(raw[:300])


def _outside(index: int, raw: str, allowed: AllowedFolders) -> InvalidRequestError:
    """The one refusal for every path outside the allowed folders: it says nothing of what exists there."""
    where = ", ".join(str(f) for f in allowed.folders) or "(none)"
    return _refuse(
        index,
        raw,
        f"is outside the folders images may be read from: {where} ({allowed.source}).",
        allowed.how_to_change,
    )


def _allowed(path: Path, allowed: AllowedFolders) -> bool:
    if any(_inside(path, folder) for folder in SYSTEM_FOLDERS):
        return False
    return any(_inside(path, folder) for folder in allowed.folders)


def _opened_path(descriptor: int) -> Path | None:
    """Where an open file really is, as the kernel sees it (None where the platform cannot say)."""
    for link in (f"/proc/self/fd/{descriptor}", f"/dev/fd/{descriptor}"):
        try:
            target = os.readlink(link)
        except OSError:
            continue
        if target.startswith("/"):
            return Path(target)
    return None


def inspect_image(raw: str, index: int, allowed: AllowedFolders) -> LocalImage:
    """Check one local image path against every rule and read it, from one open descriptor. Raises
    InvalidRequestError.

    The path is judged before anything is opened (so a refusal never tells what exists outside the allowed
    folders), then opened once without following a final symlink and without blocking (a FIFO cannot park us);
    the opened file itself is checked (where it really is, regular, size) and read through that same descriptor, so
    a symlink swapped between the check and the read changes nothing.
    """
    if "\x00" in raw:
        raise _refuse(index, raw.replace("\x00", "\\0"), "contains a NUL character.", "Give a plain file path.")
    given = Path(os.path.expanduser(raw))
    if not given.is_absolute():
        raise _refuse(index, raw, "is not an absolute path.", "Give the full path, e.g. /Users/me/Pictures/a.png.")
    if any(_inside(Path(os.path.normpath(given)), folder) for folder in SYSTEM_FOLDERS):
        raise _refuse(index, raw, "is in a system folder; veo-mcp never reads those.", "Copy the image elsewhere.")
    try:
        real = Path(os.path.realpath(given))
    except OSError:  # a link on the path changed while it was being resolved
        raise _refuse(index, raw, "changed while it was being checked.", "Call again once it stays put.") from None
    if not _allowed(real, allowed):
        raise _outside(index, raw, allowed)
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        descriptor = os.open(real, flags)
    except FileNotFoundError:
        raise _refuse(
            index, raw, "does not exist.", "Check the path (and its spelling); nothing was uploaded."
        ) from None
    except OSError as error:
        raise _refuse(index, raw, f"cannot be opened ({error.strerror}).", "Check the file's permissions.") from None
    try:
        return _read_checked(descriptor, index, raw, allowed)
    finally:
        os.close(descriptor)


def _read_all(descriptor: int, limit: int) -> bytes:
    """Up to `limit` bytes from the descriptor (it may hold more than fstat said a moment ago)."""
    chunks, size = [], 0
    while size < limit and (chunk := os.read(descriptor, min(1 << 20, limit - size))):
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _read_checked(descriptor: int, index: int, raw: str, allowed: AllowedFolders) -> LocalImage:
    where = _opened_path(descriptor)
    if where is not None and not _allowed(where, allowed):
        raise _outside(index, raw, allowed)  # a link was swapped in after the check
    info = os.fstat(descriptor)
    if not stat.S_ISREG(info.st_mode):
        kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise _refuse(index, raw, f"is {kind}.", "Give the path of an image file (JPEG, PNG or WebP).")
    limit = catalog.MAX_IMAGE_BYTES
    data = _read_all(descriptor, limit + 1) if info.st_size <= limit else b""
    if info.st_size > limit or len(data) > limit:
        size = max(info.st_size, len(data))
        raise _refuse(
            index,
            raw,
            f"is {size / 1024 / 1024:.1f} MB or more; images may be at most {limit // 1024 // 1024} MB.",
            "Resize or recompress it (a 1920 px JPEG is usually well under 1 MB).",
        )
    mime = image_type(data[:16])
    if mime is None:
        raise _refuse(
            index,
            raw,
            "is not a JPEG, PNG or WebP image (its content says otherwise, whatever its name).",
            "Convert it to JPEG, PNG or WebP; nothing was uploaded.",
        )
    return LocalImage(
        path=where or Path(os.path.abspath(raw)),
        sha256=hashlib.sha256(data).hexdigest(),
        mime_type=mime,
        bytes=len(data),
        data=data,
    )


def read_image(image: LocalImage) -> bytes:
    """The image's bytes: exactly those that were checked (read once, through the checked descriptor)."""
    return image.data


def placeholder_url(image: LocalImage, files_base_url: str) -> str:
    """A stand-in `image_urls` entry for validation and cost estimates before (or without) uploading."""
    return f"{files_base_url.rstrip('/')}/pending-upload/{image.sha256}{image.extension}"


def allowed_folders(image_dirs: list[Path], roots: list[Path] | None) -> AllowedFolders:
    """Where local images may come from: VEO_MCP_IMAGE_DIRS, narrowed to the client's roots when it declares any.

    Roots can only narrow what the server allows, never widen it: a client declaring `file:///` still reads only
    inside VEO_MCP_IMAGE_DIRS.

    A principal other than the local user (a users-file or OAuth user of a shared HTTP server) may read nothing:
    the files are the server's, not theirs (other users' poster frames, the operator's pictures), and even a refusal
    that differs between "absent" and "not an image" would map the server's disk for them.
    """
    principal = current_principal()
    if principal != LOCAL_PRINCIPAL:
        return AllowedFolders(
            folders=[],
            source=f"none for {principal!r}: image_files reads this server's disk; give image_urls instead",
            how_to_change="Give the images as image_urls (public https links) instead; image_files is for the "
            "server's local user only.",
        )
    if roots is not None:
        narrowed = _narrowed(image_dirs, [Path(os.path.realpath(root)) for root in roots])
        return AllowedFolders(
            folders=narrowed,
            source="the folders your MCP client shares with this server (its roots) that are also within "
            "VEO_MCP_IMAGE_DIRS",
            how_to_change="Open the image's folder in your client (add it to the workspace or roots) or move the "
            "image into a shared folder; the server reads only within VEO_MCP_IMAGE_DIRS "
            f"({', '.join(str(d) for d in image_dirs) or 'none'}).",
        )
    return AllowedFolders(
        folders=list(image_dirs),
        source="VEO_MCP_IMAGE_DIRS",
        how_to_change="Move the image under one of these folders, or add its folder to VEO_MCP_IMAGE_DIRS "
        f"(folders separated by '{os.pathsep}') in the server's environment and restart it.",
    )


def _narrowed(image_dirs: list[Path], roots: list[Path]) -> list[Path]:
    """Every folder inside both a root and an allowed folder (the deeper of each overlapping pair)."""
    folders = [
        root if _inside(root, folder) else folder
        for root in roots
        for folder in image_dirs
        if _inside(root, folder) or _inside(folder, root)
    ]
    return sorted(set(folders))


async def inspect_images(paths: list[str], allowed: AllowedFolders) -> list[LocalImage]:
    """Check every local image before anything is uploaded (see `inspect_image`), off the event loop."""
    return [await anyio.to_thread.run_sync(inspect_image, raw, index, allowed) for index, raw in enumerate(paths)]
