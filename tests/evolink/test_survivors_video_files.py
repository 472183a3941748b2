"""A downloaded video as a file, at its edges: the smallest MP4 there can be, the words for one that is not, the lock
on a part file while this process writes it (and a sink that cannot be locked), and the size of each write batch."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import anyio
import pytest

from veo_mcp.evolink.errors import DownloadError
from veo_mcp.evolink.video_files import QUEUED_CHUNKS, check_video, hold_while_written, is_leftover, write_chunks

MIB = 1024 * 1024


def test_twelve_bytes_with_an_mp4_box_is_the_smallest_video_and_anything_else_is_refused_in_words(
    tmp_path: Path,
) -> None:
    smallest = tmp_path / "smallest.mp4"
    smallest.write_bytes(b"\x00\x00\x00\x0cftypisom")
    check_video(smallest, 12, 12)  # passes
    check_video(smallest, 12, None)

    short = tmp_path / "short.mp4"
    short.write_bytes(b"\x00\x00\x00\x0bftypiso")
    with pytest.raises(DownloadError) as refused:
        check_video(short, 11, None)
    assert refused.value.message == "The download is not a video: only 11 bytes arrived."

    page = tmp_path / "page.mp4"
    page.write_bytes(b"<html><body>Access denied</body></html>")
    with pytest.raises(DownloadError) as refused:
        check_video(page, 39, 39)
    assert str(refused.value) == (
        "The download is not an MP4 file (no MP4 signature at its start). Nothing was saved; try the download again "
        "while the link is valid."
    )


def test_a_part_file_this_process_writes_is_no_leftover_until_it_is_closed(tmp_path: Path) -> None:
    part = tmp_path / ".clip.mp4.abc123.part"
    with part.open("wb") as sink:
        hold_while_written(sink)
        assert is_leftover(part) is False
    assert is_leftover(part) is True


def test_a_sink_that_cannot_be_locked_is_written_unlocked(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    hold_while_written(io.BytesIO())  # no file descriptor: nothing to lock, and no failure
    part = tmp_path / ".clip.mp4.abc123.part"
    with part.open("wb") as sink:
        monkeypatch.setitem(sys.modules, "fcntl", None)  # a system without advisory locks (Windows)
        hold_while_written(sink)
        # Without locks nobody can tell a live writer's part file: none is taken for a leftover (the caller goes by age).
        assert is_leftover(part) is False


class _Sink:
    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    def writelines(self, batch: list[bytes]) -> None:
        self.batches.append([len(chunk) for chunk in batch])


async def test_chunks_are_written_in_batches_of_at_most_four_mib() -> None:
    send, receive = anyio.create_memory_object_stream[bytes](QUEUED_CHUNKS)
    chunk = bytes(MIB)
    for _ in range(QUEUED_CHUNKS):
        send.send_nowait(chunk)
    send.close()
    sink, failures = _Sink(), list[Exception]()
    await write_chunks(receive, sink, failures)
    sizes = [sum(batch) for batch in sink.batches]
    assert failures == [] and sum(sizes) == QUEUED_CHUNKS * MIB and max(sizes) <= 4 * MIB
    assert len(sizes) == -(-QUEUED_CHUNKS // 4)  # as few thread hops as 4 MiB batches allow
