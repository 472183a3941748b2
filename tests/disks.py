"""A small disk under the output folder, for the full-disk tests, in two kinds that prove the same things:

- `tmpfs`: a real filesystem of that size (`tests.helpers.tiny_disk`); mounting needs root, so it skips elsewhere.
- `simulated`: runs anywhere. The folder stays on the real disk, and the two places the operating system decides
  about room answer as a disk of that size would: every file veo-mcp writes there (a temporary file from
  `tempfile.mkstemp`, opened with `os.fdopen`, as the download and the atomic writer do) raises
  `OSError(ENOSPC)` at the write that does not fit, after writing what fits, and `shutil.disk_usage` reports the
  size less what the files in the folder take. Files the test writes (a filler) take room like any other.

Either way `looked` counts how often veo-mcp asked how much room the disk has: a test waits on it to know the
server looked and found none (no sleep), and a simulated disk that nobody asks about would show it.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

import anyio
import pytest

from tests.helpers import tiny_disk

DiskKind = Literal["tmpfs", "simulated"]
DISK_KINDS: tuple[DiskKind, ...] = ("tmpfs", "simulated")


class DiskUsage(NamedTuple):
    total: int
    used: int
    free: int


@dataclass
class SmallDisk:
    folder: Path
    capacity: int
    simulated: bool
    looked: int = 0
    _descriptors: set[int] = field(default_factory=set)

    def holds(self, path: str | os.PathLike[str] | int) -> bool:
        if isinstance(path, int):
            return False
        resolved, root = Path(path).resolve(), self.folder.resolve()
        return resolved == root or root in resolved.parents

    def used(self) -> int:
        """What the files in the folder take (a hard-linked file once)."""
        seen: set[tuple[int, int]] = set()
        total = 0
        for where, _, names in os.walk(self.folder):
            for name in names:
                status = os.lstat(os.path.join(where, name))
                if stat.S_ISREG(status.st_mode) and (status.st_dev, status.st_ino) not in seen:
                    seen.add((status.st_dev, status.st_ino))
                    total += status.st_size
        return total

    async def looked_at(self, times: int, *, or_when: Callable[[], bool] = lambda: False) -> None:
        """Until veo-mcp has asked about this disk's room `times` times in all, or `or_when()` (within a bound)."""
        with anyio.fail_after(10):
            while self.looked < times and not or_when():  # noqa: ASYNC110 - veo-mcp's own checks, within a bound
                await anyio.sleep(0.005)


class _FileOnSmallDisk:
    """A file being written on a simulated small disk: each write lands at once (so the folder's size is what is
    written) or, where it does not fit, writes what fits and raises ENOSPC, as a full filesystem does."""

    def __init__(self, file: Any, disk: SmallDisk) -> None:
        self._file = file
        self._disk = disk

    def write(self, data: bytes) -> int:
        room = max(0, self._disk.capacity - self._disk.used())
        if len(data) > room:
            self._file.write(memoryview(data)[:room])
            self._file.flush()
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        written: int = self._file.write(data)
        self._file.flush()
        return written

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)

    def __enter__(self) -> _FileOnSmallDisk:
        return self

    def __exit__(self, *exc: object) -> None:
        self._file.close()


def _simulate(disk: SmallDisk, monkeypatch: pytest.MonkeyPatch) -> None:
    mkstemp, fdopen, disk_usage = tempfile.mkstemp, os.fdopen, shutil.disk_usage

    def made(*args: Any, **kwargs: Any) -> Any:
        descriptor, name = mkstemp(*args, **kwargs)
        if disk.holds(name):
            disk._descriptors.add(descriptor)
        return descriptor, name

    def opened(descriptor: int, *args: Any, **kwargs: Any) -> Any:
        file = fdopen(descriptor, *args, **kwargs)
        if descriptor in disk._descriptors:
            disk._descriptors.discard(descriptor)
            return _FileOnSmallDisk(file, disk)
        return file

    def usage(path: Any) -> Any:
        if not disk.holds(path):
            return disk_usage(path)
        disk.looked += 1
        used = min(disk.used(), disk.capacity)
        return DiskUsage(disk.capacity, used, disk.capacity - used)

    monkeypatch.setattr(tempfile, "mkstemp", made)
    monkeypatch.setattr(os, "fdopen", opened)
    monkeypatch.setattr(shutil, "disk_usage", usage)


def _count_looks(disk: SmallDisk, monkeypatch: pytest.MonkeyPatch) -> None:
    disk_usage = shutil.disk_usage

    def usage(path: Any) -> Any:
        if disk.holds(path):
            disk.looked += 1
        return disk_usage(path)

    monkeypatch.setattr(shutil, "disk_usage", usage)


@contextmanager
def small_disk(kind: DiskKind, folder: Path, size_kb: int) -> Iterator[SmallDisk]:
    """`folder` on a disk of `size_kb` KiB of the given kind (see the module docstring), until the block ends."""
    with pytest.MonkeyPatch.context() as patch:
        if kind == "tmpfs":
            with tiny_disk(folder, size_kb):
                disk = SmallDisk(folder, size_kb * 1024, simulated=False)
                _count_looks(disk, patch)
                yield disk
            return
        folder.mkdir(parents=True)
        disk = SmallDisk(folder, size_kb * 1024, simulated=True)
        _simulate(disk, patch)
        yield disk
