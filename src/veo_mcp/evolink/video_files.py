"""A downloaded video as a file: written in batches from the socket's chunks into a hidden part file that is locked
while it is written, and checked (its length, its MP4 signature) before it takes its name.

Why the lock: several processes (replicas on a shared volume) may save the same folder, and the one that takes over a
download from a process that died removes what the dead one left. A part file still locked is a live writer's (a
paused replica's, say), never a leftover: `is_leftover` says which.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream

from veo_mcp.evolink.errors import DownloadError

_MP4_BOX_TYPES = (b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide")


def hold_while_written(sink: Any) -> None:
    """Lock the open part file `sink` for as long as it stays open (the lock goes with the process)."""
    with contextlib.suppress(OSError, ImportError):
        import fcntl

        fcntl.flock(sink.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)


def is_leftover(part: Path) -> bool:
    """Whether no live process is writing `part` (its writer's lock is gone with it)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - no advisory locks here: only a stale part is taken for a leftover
        return False
    try:
        with part.open("rb") as probe:
            fcntl.flock(probe.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
    except OSError:
        return False


QUEUED_CHUNKS = 8  # socket reads (≤ 1 MiB each) waiting to be written
_WRITE_BATCH_BYTES = 4 * 1024 * 1024


async def write_chunks(chunks: MemoryObjectReceiveStream[bytes], sink: Any, failures: list[Exception]) -> None:
    """Write what arrives, in batches of up to a few MiB per thread hop, until the sender closes.

    A write error (disk full, say) is recorded in `failures` and closes the stream, which stops the sender.
    """
    async with chunks:
        async for first in chunks:
            batch, size = [first], len(first)
            while size < _WRITE_BATCH_BYTES:
                try:
                    more = chunks.receive_nowait()
                except (anyio.WouldBlock, anyio.EndOfStream):
                    break
                batch.append(more)
                size += len(more)
            try:
                await anyio.to_thread.run_sync(sink.writelines, batch)
            except OSError as error:
                failures.append(error)
                return


def check_video(path: Path, received: int, expected: int | None) -> None:
    if expected is not None and received != expected:
        raise DownloadError(f"The download is incomplete: {received} of {expected} bytes arrived.")
    if received < 12:
        raise DownloadError(f"The download is not a video: only {received} bytes arrived.")
    with path.open("rb") as handle:
        head = handle.read(12)
    if head[4:8] not in _MP4_BOX_TYPES:
        raise DownloadError("The download is not an MP4 file (no MP4 signature at its start).")
