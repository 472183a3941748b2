"""A real terminal for the command: a pseudo-terminal of a given width that is the command's controlling terminal, so
Ctrl-C typed into it reaches the command as the terminal's SIGINT and the command measures its width as a person's
terminal would report it. POSIX only (the tests that use it skip elsewhere)."""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence

try:
    import fcntl
    import pty
    import struct
    import termios

    HAVE_PTY = True
except ImportError:  # Windows
    HAVE_PTY = False

# Becomes the session leader of the pseudo-terminal (os.login_tty: setsid, TIOCSCTTY, fds 0-2), then execs the command.
# (Ctrl-C reaches a terminal's command with SIGINT at its default, even where this test runs with it ignored: a
# job started in the background by a script, or a mutation run's worker.)
_LAUNCH = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.login_tty(int(sys.argv[1])); "
    "os.execv(sys.argv[2], sys.argv[2:])"
)
_ESCAPES = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07|\x1b[()][0-9A-Za-z]")


def plain(text: str) -> str:
    """What a person sees: colours and cursor movements taken out, line ends as \\n."""
    return _ESCAPES.sub("", text).replace("\r\n", "\n").replace("\r", "\n")


class Terminal:
    """`argv` running in a `columns`-wide terminal: read what it shows, type into it, wait for it to end."""

    def __init__(
        self, argv: Sequence[str], *, env: Mapping[str, str], columns: int = 80, rows: int = 40, cwd: str | None = None
    ) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        environment = {k: v for k, v in env.items() if k not in ("COLUMNS", "LINES")}  # the terminal says its size
        environment.setdefault("TERM", "xterm-256color")
        self._master = master
        self._output = b""
        self.process = subprocess.Popen(
            [sys.executable, "-c", _LAUNCH, str(slave), *argv],
            pass_fds=(slave,),
            env=environment,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(slave)

    def _pump(self, timeout_s: float) -> bool:
        """Read what the command shows within `timeout_s`; whether anything came."""
        ready, _, _ = select.select([self._master], [], [], timeout_s)
        if not ready:
            return False
        try:
            data = os.read(self._master, 65536)
        except OSError:  # EIO: every process holding the terminal has ended
            return False
        self._output += data
        return bool(data)

    @property
    def screen(self) -> str:
        return plain(self._output.decode("utf-8", errors="replace"))

    def wait_for(self, text: str, timeout_s: float = 60.0) -> str:
        """Everything shown up to (and including) the first appearance of `text`."""
        deadline = time.monotonic() + timeout_s
        while text not in self.screen:
            if time.monotonic() > deadline or (self.process.poll() is not None and not self._pump(0.1)):
                raise AssertionError(f"{text!r} never appeared; the terminal shows:\n{self.screen}")
            self._pump(0.2)
        return self.screen

    def type(self, keys: bytes) -> None:
        os.write(self._master, keys)

    def ctrl_c(self) -> None:
        """Ctrl-C as a person types it: the terminal sends SIGINT to its foreground process group."""
        self.type(b"\x03")

    def finish(self, timeout_s: float = 60.0) -> int:
        """Wait for the command to end (reading everything it shows); its exit code, 130 for death by SIGINT."""
        deadline = time.monotonic() + timeout_s
        while self.process.poll() is None:
            if time.monotonic() > deadline:
                self.close()
                raise AssertionError(f"still running after {timeout_s} s; the terminal shows:\n{self.screen}")
            self._pump(0.1)
        while self._pump(0.1):  # what it showed last
            pass
        code = self.process.returncode
        return 128 - code if code < 0 else code

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        if self._master >= 0:
            os.close(self._master)
            self._master = -1
