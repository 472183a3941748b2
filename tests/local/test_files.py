"""Where videos are saved and under what names: names made of the prompt's ASCII words and the task's own suffix
(numbered for a second video, marked for a test pattern), and the output folder tried for real before anything is
paid for - a file in its place, a folder that cannot be written, a disk without room - each refused in words that
name the folder, the figures and the setting that moves it."""

from __future__ import annotations

import errno
import os
from collections import namedtuple
from pathlib import Path

import pytest

from veo_mcp.errors import DiskFullError, LocalFileError
from veo_mcp.local import files
from veo_mcp.local.files import check_output_folder, slug, usable_folder, video_file_name

TASK = "task-unified-1757000000-4x3rx6ny"


@pytest.mark.parametrize(
    ("text", "limit", "made"),
    [
        ("A red fox, in SNOW!", 40, "a-red-fox-in-snow"),
        ("Crème brûlée à la café", 40, "creme-brulee-a-la-cafe"),
        ("--- hello ---", 40, "hello"),
        ("a lighthouse at dusk over a calm sea with gulls circling", 40, "a-lighthouse-at-dusk-over-a-calm-sea-wit"),
        ("one two three", 8, "one-two"),  # cut at 8 ("one-two-"), the dangling dash dropped
        ("雪の狐", 40, "video"),  # nothing ASCII left: never an empty name
        ("", 40, "video"),
    ],
)
def test_a_slug_is_the_texts_ascii_words_joined_by_dashes(text: str, limit: int, made: str) -> None:
    assert slug(text, limit) == made


def test_a_slug_is_forty_characters_unless_told() -> None:
    assert slug("x" * 50) == "x" * 40


def test_a_video_is_named_by_its_prompt_and_its_tasks_own_suffix() -> None:
    assert video_file_name(TASK, "A red fox in snow", 0) == "a-red-fox-in-snow-4x3rx6ny.mp4"
    assert video_file_name(TASK, "A red fox in snow", 1) == "a-red-fox-in-snow-4x3rx6ny-2.mp4"
    assert video_file_name(TASK, "A red fox in snow", 3, simulated=True) == "a-red-fox-in-snow-4x3rx6ny-4-simulated.mp4"
    assert video_file_name("task-AB-CD-" + "z" * 20, "?", 0) == f"video-{'z' * 16}.mp4"  # the last part, 16 at most


def test_a_usable_folder_is_made_owner_only_and_tried_with_a_probe_that_does_not_stay(tmp_path: Path) -> None:
    folder = tmp_path / "videos" / "kites"
    assert usable_folder(folder) == folder
    assert folder.is_dir() and (folder.stat().st_mode & 0o777) == 0o700
    assert list(folder.iterdir()) == []  # the probe file is gone


def test_a_file_where_the_folder_should_be_is_named_as_not_a_folder(tmp_path: Path) -> None:
    blocker = tmp_path / "videos"
    blocker.write_text("not a folder")
    with pytest.raises(LocalFileError) as refused:
        usable_folder(blocker)
    assert refused.value.message == f"The video could not be written to {blocker}: it is not a folder."
    assert refused.value.advice == "Make that folder writable, or set VEO_MCP_OUTPUT_DIR to a folder that is."
    with pytest.raises(LocalFileError) as before_sending:
        check_output_folder(blocker, 1)
    assert before_sending.value.message == (
        f"The video could not be written to {blocker}: it is not a folder. Nothing was sent or charged."
    )
    assert before_sending.value.advice == refused.value.advice


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere: the permission check cannot be seen as root")
def test_a_folder_that_cannot_be_written_is_refused(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(LocalFileError, match=r"could not be written to .*locked: Permission denied"):
        usable_folder(locked)


def test_the_probe_is_made_in_the_folder_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Root writes anywhere, so a folder's own refusal is shown by the probe's failure: the probe is the folder's."""
    made: list[tuple[str | None, str | None]] = []
    real = files.tempfile.TemporaryFile

    def probe(*, dir: str | Path | None = None, prefix: str | None = None) -> object:
        made.append((str(dir) if dir is not None else None, prefix))
        if dir is not None and Path(dir).name == "refusing":
            raise PermissionError(errno.EACCES, "Permission denied")
        return real(dir=dir, prefix=prefix)

    monkeypatch.setattr(files.tempfile, "TemporaryFile", probe)
    usable_folder(tmp_path / "fine")
    with pytest.raises(
        LocalFileError, match=r"could not be written to .*refusing: Permission denied\. Make that folder writable"
    ):
        usable_folder(tmp_path / "refusing")
    assert made == [(str(tmp_path / "fine"), ".veo-mcp-probe-"), (str(tmp_path / "refusing"), ".veo-mcp-probe-")]


def test_a_disk_without_room_is_refused_with_both_figures_before_anything_is_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(files.shutil, "disk_usage", lambda folder: usage(10**9, 10**9 - 2_500_000, 2_500_000))
    check_output_folder(tmp_path, 2_500_000)  # exactly enough is enough
    with pytest.raises(DiskFullError) as refused:
        check_output_folder(tmp_path, 2_500_001)
    assert refused.value.message == (
        f"The disk holding {tmp_path} has 2.5 MB free, and this video needs about 2.5 MB. Nothing was sent or charged."
    )
    assert refused.value.needed_bytes == 2_500_001
    assert refused.value.advice == (
        "Free some space there, or set VEO_MCP_OUTPUT_DIR to a folder on another disk, then ask again."
    )
    # Megabytes of a million bytes, to a tenth: 1,050,001 bytes is 1.1 MB (not 1.0).
    monkeypatch.setattr(files.shutil, "disk_usage", lambda folder: usage(10**9, 10**9 - 1_050_001, 1_050_001))
    with pytest.raises(DiskFullError, match=r"has 1\.1 MB free, and this video needs about 2\.1 MB\."):
        check_output_folder(tmp_path, 2_050_001)
