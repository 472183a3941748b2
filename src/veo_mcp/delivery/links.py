"""Signed, expiring links to the videos this server saved, so a client on another machine can play them.

Why: over HTTP a path on the server's disk is useless to the client. A link names a file by its path relative to
the output folder and an expiry, signed with HMAC-SHA256 under a key of its own (`VEO_MCP_LINK_SECRET`, or a random
key kept 0600 in the data folder so links survive a restart; never the EvoLink key). Whoever holds the link may
fetch that one file until it expires; a changed character or a passed expiry makes it worthless. When the link is
served, the path is resolved again inside the output folder and opened without following a symlink, so even a
valid signature cannot reach anything else.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import logging
import os
import re
import secrets
import socket
import stat
import tempfile
import time
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from veo_mcp.errors import VeoError
from veo_mcp.local.files import PRIVATE_FILE, confined, private_folder
from veo_mcp.settings import Settings

if TYPE_CHECKING:
    from veo_mcp.delivery.objects import ObjectStore

logger = logging.getLogger(__name__)

FILES_PATH = "/files/"
KEY_FILE = "link-secret"
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}\Z")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class LinkSigner:
    """Tokens `<payload>.<signature>`: the payload is `<expiry>:<reference>`, the signature HMAC-SHA256 over it."""

    def __init__(self, key: bytes, ttl_s: int, clock: Callable[[], float] = time.time) -> None:
        self._key = key
        self.ttl_s = ttl_s
        self._clock = clock

    def _signature(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()

    def token(self, reference: str, expires_at: float | None = None) -> str:
        expiry = int(self._clock() + self.ttl_s if expires_at is None else expires_at)
        payload = f"{expiry}:{reference}".encode()
        return f"{_b64(payload)}.{_b64(self._signature(payload))}"

    def reference(self, token: str) -> str | None:
        """The reference a genuine, unexpired token names; None for anything else (no reason given). The token must
        be exactly what `token` makes: base64url without padding, one dot, a 32-byte signature, nothing after it
        (base64 decoding alone would skip junk appended to a genuine token)."""
        if not _TOKEN_SHAPE.match(token):
            return None
        encoded, _, signature = token.partition(".")
        try:
            payload, given = _unb64(encoded), _unb64(signature)
        except (binascii.Error, ValueError):
            return None
        if _b64(payload) != encoded or _b64(given) != signature:
            return None  # not the one canonical spelling of these bytes
        if not hmac.compare_digest(self._signature(payload), given):
            return None
        expiry, _, reference = payload.decode("utf-8", "replace").partition(":")
        if not expiry.isdigit() or int(expiry) <= self._clock():
            return None
        return reference


class LinkKeyError(VeoError):
    default_advice = "Set VEO_MCP_LINK_SECRET to a long random string, or make the data folder writable."
    action = "fix_settings"


def link_key(settings: Settings) -> bytes:
    """VEO_MCP_LINK_SECRET, or the random key in the data folder (created 0600 on first use)."""
    if settings.link_secret is not None:
        return settings.link_secret.get_secret_value().encode()
    try:
        path = private_folder(settings.data_dir) / KEY_FILE
        if not path.exists():
            _write_key(path)
    except OSError as error:
        raise LinkKeyError(
            f"veo-mcp cannot write its link key in the data folder {settings.data_dir}: {error.strerror or error}.",
            advice="Set VEO_MCP_DATA_DIR to a folder veo-mcp may write (or VEO_MCP_LINK_SECRET to a long random "
            "string), or make this one writable.",
        ) from None
    return _read_key(path)


def _write_key(path: Path) -> None:
    """Written whole beside it, then linked into place: a server starting at the same moment reads either no key
    (and makes its own, of which one wins) or the whole key, never half of one."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{KEY_FILE}.")
    try:
        with os.fdopen(descriptor, "w") as sink:
            sink.write(secrets.token_hex(32))
        os.chmod(temporary, PRIVATE_FILE)
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        os.unlink(temporary)


def _read_key(path: Path) -> bytes:
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(descriptor) as source:
            key = source.read().strip()
    except OSError as error:
        raise LinkKeyError(f"The link key {path} cannot be read: {error.strerror or error}.") from None
    if len(key) < 32:
        raise LinkKeyError(f"The link key {path} is too short; delete it and veo-mcp makes a new one.")
    return key.encode()


def listening_base(host: str, port: int) -> str:
    """The address clients reach this server at when no VEO_MCP_PUBLIC_URL says otherwise."""
    if host in ("0.0.0.0", "::"):  # noqa: S104 - names, not a bind
        host = socket.getfqdn()
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class VideoLinks:
    """The `url` of a saved video: a presigned object-storage link when a store is configured, else a signed link
    to this server's `/files/` route (once the server knows where it is reached)."""

    def __init__(self, settings: Settings, signer: LinkSigner, objects: ObjectStore | None = None) -> None:
        self._output_dir = settings.output_dir
        self.signer = signer
        self.objects = objects
        self.base: str | None = settings.public_url

    def serve_at(self, base: str) -> None:
        """Where this server listens, used when VEO_MCP_PUBLIC_URL is not set."""
        if self.base is None:
            self.base = base.rstrip("/")

    def reference_of(self, path: str | Path) -> str | None:
        """The path relative to the output folder (posix), or None for a file outside it."""
        try:
            relative = Path(path).resolve().relative_to(self._output_dir.resolve())
        except (OSError, ValueError):
            return None
        return relative.as_posix() if relative.parts else None

    def local_url(self, reference: str) -> str | None:
        return None if self.base is None else f"{self.base}{FILES_PATH}{self.signer.token(reference)}"

    async def url_for(self, path: str | Path) -> str | None:
        reference = self.reference_of(path)
        if reference is None:
            return None
        if self.objects is not None:
            presigned = await self.objects.presigned(Path(path), reference, self.signer.ttl_s)
            if presigned is not None:
                return presigned
        return self.local_url(reference)

    def opened(self, token: str) -> tuple[Path, os.stat_result] | None:
        """The file a valid token names, checked: inside the output folder, a regular file, not a symlink."""
        reference = self.signer.reference(token)
        if reference is None:
            return None
        parts = PurePosixPath(reference).parts
        if not parts or any(part in ("", ".", "..") for part in parts):
            return None
        try:
            target = confined(self._output_dir, *parts)
            descriptor = os.open(self._output_dir.resolve().joinpath(*parts), os.O_RDONLY | os.O_NOFOLLOW)
        except (OSError, ValueError):
            return None
        try:
            status = os.fstat(descriptor)
        finally:
            os.close(descriptor)
        return (target, status) if stat.S_ISREG(status.st_mode) else None
