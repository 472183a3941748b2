"""PyAV imported whole, once, by whichever thread needs it first.

PyAV is heavy to import, so it is imported only once a video exists, in the worker thread that reads it. Two threads
importing it for the first time at once (the automatic save probing a file while a tool makes its poster) can hand
one of them a half-made package: its modules import each other, and Python's import locks give way rather than
deadlock ("cannot import name InvalidDataError"). One lock around the first import lets every later `import av` find
the finished package.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_first_import = threading.Lock()


def load_pyav() -> None:
    """Import PyAV (and its error types) unless another thread is doing it, in which case wait for that to finish."""
    with _first_import:
        import av
        import av.error  # noqa: F401


@contextmanager
def read_as_video(video: Path) -> Iterator[None]:
    """PyAV's own errors while reading `video` (a damaged file) as one ValueError that names it."""
    load_pyav()
    import av.error

    try:
        yield
    except av.error.FFmpegError as error:
        raise ValueError(f"{video} cannot be read as a video: {error}") from error
