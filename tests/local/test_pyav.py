"""PyAV's first import, from two threads at once (the automatic save probing a file while a tool makes its poster).

Python's import locks give way rather than deadlock when two threads import PyAV's modules crosswise, and one of them
then sees a half-made package: `wait_for_generation` once failed with "cannot import name InvalidDataError" that way.
The second thread must wait for the first import to finish before it imports anything of PyAV.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

_SCRIPT = textwrap.dedent(
    """
    import sys, threading, time
    from veo_mcp.local import pyav

    assert "av" not in sys.modules, "PyAV was imported already"
    inside, b_started, errors = threading.Event(), threading.Event(), []
    where_b_waited = []

    def innermost(thread):
        frame = sys._current_frames().get(thread.ident)
        return frame.f_code.co_name if frame is not None else None

    class HoldFirstImport:
        # Holds thread A inside PyAV's import until thread B has stopped somewhere (the event says where).
        def find_spec(self, name, path=None, target=None):
            if threading.current_thread().name == "A" and name == "av.logging" and not inside.is_set():
                inside.set()
                b_started.wait(30)
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    stopped_in = innermost(b)
                    if stopped_in not in (None, "run", "body", "wait"):  # B is past its start
                        where_b_waited.append(stopped_in)
                        break
                    time.sleep(0.005)
            return None

    sys.meta_path.insert(0, HoldFirstImport())

    def body(name):
        try:
            if name == "B":
                inside.wait(30)
                b_started.set()
            pyav.load_pyav()
            import av, av.error
            av.error.InvalidDataError, av.open  # the whole package, in both threads
        except Exception as error:
            errors.append(f"{name}: {error!r}")

    a = threading.Thread(target=body, args=("A",), name="A")
    b = threading.Thread(target=body, args=("B",), name="B")
    a.start(); b.start(); a.join(60); b.join(60)
    print(where_b_waited, errors)
    """
)


def test_a_second_thread_waits_for_the_first_import_of_pyav_to_finish() -> None:
    done = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    # B stopped in load_pyav itself (at its lock), not inside the import machinery beside A's half-made package
    assert done.stdout.strip() == "['load_pyav'] []", done.stdout + done.stderr
