"""A part file is a leftover only once no live process writes it: a paused writer's is never taken for one."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from tests.helpers import line_containing
from veo_mcp.evolink.video_files import is_leftover

WRITER = """
import sys, time
from veo_mcp.evolink.video_files import hold_while_written
sink = open(sys.argv[1], "wb")
hold_while_written(sink)
print("writing", flush=True)
time.sleep(600)
"""


def test_a_part_file_is_a_leftover_only_once_its_writer_is_gone(tmp_path: Path) -> None:
    part = tmp_path / ".clip.mp4.abc123.part"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(part)], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout is not None
        line_containing(writer.stdout, "writing")
        writer.send_signal(signal.SIGSTOP)  # paused, not gone
        while_paused = is_leftover(part)
    finally:
        writer.kill()
        writer.wait(timeout=10)
    assert while_paused is False and is_leftover(part) is True
