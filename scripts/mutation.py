"""Mutation testing of all of src/veo_mcp, area by area, with mutmut.

    python scripts/mutation.py [--area NAME ...] [--changed-since REF] [--max-children N] [--shard I/N] [--fresh]

mutmut changes the code one small step at a time (a `>` into `>=`, a dropped argument, a string turned into
"XX...XX", `True` into `False`, ...) and runs the tests that reach the changed function; a change no test notices
"survived". The code is split into areas - each top-level package of veo_mcp (the simulator included: every test
stands on it) and each top-level module - and each area is run against the tests that cover it (AREAS), in a work
folder of its own under `.mutation/` (the worktree is never touched). Server subprocesses that tests start run the
mutated code too (PYTHONPATH), with the active mutant passed in the environment.

What did not change is not run again: mutmut keeps every verdict with a hash of its function, so a later run tests
only the functions that changed since (and the survivors again, when the tests changed). `--fresh` starts over.
`--changed-since REF` mutates only the functions a change since REF touches (a quick check before a stop).
`--shard I/N` runs the I-th of N equal slices of the selected mutants (several machines, one full run).

A mutant that `mypy --strict` rejects is caught without running a test (CI's type check would refuse it).

It prints each surviving mutant's diff, then, last, one JSON object:
{"modules": [...], "mutants": N, "killed": K, "survived": S, "timeout": T, "caught_by_type_check": C,
 "score": (K+C)/N, "areas": {area: score}}
(`tests/MUTATION.md` keeps the figures of the last full run and says why each survivor is left alive).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "veo_mcp"
CACHE = ROOT / ".mutation"
# What tests read besides the code and themselves (the README's test reads the docs and `.ci/run`, others `deploy/`).
PROJECT_FILES = (
    "README.md",
    "LICENSE",
    "Dockerfile",
    "docs",
    "deploy",
    "manifests",
    "scripts",
    "bench",
    ".ci",
    ".github",
)


@dataclass(frozen=True)
class Area:
    """Some of the code, and the tests that cover it in the test process (mutmut learns which test reaches which
    function by watching them run, so a test that only drives a subprocess is never chosen for a mutant)."""

    sources: tuple[str, ...]  # paths under src/veo_mcp: a package folder or a module
    tests: tuple[str, ...]
    # Its tests also run on PostgreSQL (a cluster of the run's own): its code for PostgreSQL is judged too. Elsewhere
    # the tests that also run on PostgreSQL run on SQLite only (the rules are the same on both engines).
    postgres: bool = False


# The tests each area is judged by: its mirror under tests/, and the tests that reach it through real MCP sessions
# (in-process: an MCPServer and the SDK's in-memory client), the CLI's entry point and the simulator.
_MCP = (
    "tests/mcp/test_journey.py",
    "tests/mcp/test_server_e2e.py",  # what a saved file is said to be (its length, size, sound) is checked here
    "tests/mcp/test_words.py",
    "tests/mcp/test_edges.py",
    "tests/mcp/test_questions.py",
    "tests/mcp/test_batches.py",
    "tests/mcp/test_batch_restart.py",
    "tests/mcp/test_combine.py",
    "tests/mcp/test_stalls.py",
    "tests/mcp/test_security.py",
    "tests/mcp/test_scoped_bus.py",
    "tests/mcp/test_mcp_property.py",
    "tests/mcp/test_verifier.py",
    "tests/mcp/test_http_guard.py",
    "tests/mcp/test_sdk_seams.py",
    "tests/mcp/test_team.py",  # several users on one server: what each may see, pay for and reach
    "tests/mcp/test_shared_server.py",
    "tests/mcp/test_surface.py",  # every word and schema an assistant reads before calling anything
    "tests/mcp/test_listing_and_logs.py",
    "tests/mcp/test_sample_edges.py",  # edges a mutation sample found: exact words, a cut stream, default ports
    "tests/mcp/tasks",
)
AREAS: dict[str, Area] = {
    "evolink": Area(
        ("evolink",),
        (
            "tests/evolink",
            "tests/simulator",
            "tests/test_faults.py",
            "tests/money/test_guards.py",
            "tests/local/test_images.py",  # uploads to EvoLink's file service
        ),
    ),
    "storage": Area(
        ("storage",), ("tests/storage", "tests/money/test_ledger.py", "tests/test_resume.py"), postgres=True
    ),
    "money": Area(("money",), ("tests/money", "tests/test_users.py"), postgres=True),
    "local": Area(("local",), ("tests/local", "tests/mcp/test_combine.py", "tests/background")),
    "core": Area(
        ("core",),
        (
            "tests/core",
            "tests/test_resume.py",
            "tests/test_faults.py",
            "tests/test_callbacks.py",  # a create's callback joins its task (the registry)
            "tests/background",
            "tests/money",
            *_MCP,
        ),
    ),
    "background": Area(("background",), ("tests/background", "tests/test_faults.py", "tests/test_callbacks.py", *_MCP)),
    # (the HTTP stack served in the test process: operations, callbacks, file links, sessions, connection limits)
    "mcp": Area(("mcp",), (*_MCP, "tests/mcp/test_http_in_process.py", "tests/test_readme.py")),
    # The reference pages are generated from the parser and the tools: a changed flag or help text fails their test.
    "cli": Area(("cli",), ("tests/cli", "tests/test_readme.py")),
    "simulator": Area(
        ("simulator",),
        (
            "tests/simulator",
            "tests/evolink",
            "tests/test_faults.py",
            "tests/test_callbacks.py",
            "tests/local/test_images.py",  # the file service: uploads and the uploaded files
        ),
    ),
    "delivery": Area(("delivery",), ("tests/delivery",)),
    "settings": Area(
        ("settings",),
        ("tests/test_settings_and_files.py", "tests/cli/test_exit_paths.py", "tests/cli/test_keys_and_settings.py"),
    ),
    "app": Area(
        ("app.py",),
        (
            "tests/test_app.py",
            "tests/test_app_upstream.py",
            "tests/test_resume.py",
            "tests/background",
            # (what App hands the object store once a video is saved)
            "tests/delivery/test_objects_and_links.py::test_a_video_the_server_saves_goes_on_to_the_object_store_by_itself",
            "tests/mcp/test_http_in_process.py",  # the App an HTTP server runs: callbacks, users' own limits
            "tests/test_callbacks.py",  # a callback that joins a create whose answer was lost
            *_MCP,
        ),
    ),
    "errors": Area(
        ("errors.py",),
        (
            "tests/test_errors_and_folders.py",
            "tests/test_faults.py",
            "tests/background/test_saving.py",
            "tests/mcp/test_words.py",
        ),
    ),
    "users": Area(("users.py",), ("tests/test_users.py", "tests/mcp/test_verifier.py")),
    "context": Area(
        ("context.py",),
        (
            "tests/test_errors_and_folders.py",
            "tests/background/test_principal_context.py",
            "tests/storage/test_principals.py",
        ),
    ),
    # (the bundle's own tests build it from git's files, which the work folder has not)
    "reference": Area(
        ("reference.py",), ("tests/test_readme.py", "tests/test_packaging.py::test_mcpb_manifest_matches_the_code")
    ),
}

KILLED, SURVIVED, TIMEOUT, TYPE_CHECKED = "killed", "survived", "timeout", "caught by type check"
CAUGHT = (KILLED, TYPE_CHECKED)  # what counts for the score: a test failed, or CI's type check would


# --- what is mutated ------------------------------------------------------------------------------------------------


def area_files(area: Area) -> list[Path]:
    """The area's Python files, relative to the checkout (`src/veo_mcp/...`): its modules, and the `__init__.py` of
    a package that holds code of its own (`settings` is one: left out, its code would never be mutated)."""
    found: list[Path] = []
    for source in area.sources:
        path = PACKAGE / source
        found += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return [
        file.relative_to(ROOT)
        for file in found
        if file.name != "__main__.py" and (file.name != "__init__.py" or holds_functions(file.read_text("utf-8")))
    ]


def holds_functions(source: str) -> bool:
    """Whether a module defines a function or a method (what mutmut mutates)."""
    return bool(functions_at(source, set(range(1, source.count("\n") + 2))))


def module_of(path: Path | str) -> str:
    """`src/veo_mcp/money/guards.py` -> `veo_mcp.money.guards`; a package's `__init__.py` is the package itself, as
    mutmut names its mutants."""
    parts = Path(path).relative_to("src").with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def mutmut_name(qualified: tuple[str, ...]) -> str:
    """mutmut's name for a function (`x_name`) or a method (`xǁClassǁname`); nested ones are mutated with the
    function around them."""
    return f"x_{qualified[0]}" if len(qualified) == 1 else f"xǁ{qualified[0]}ǁ{qualified[1]}"


def functions_at(source: str, lines: set[int]) -> set[str]:
    """The mutmut names of the top-level functions and methods that contain any of `lines`."""
    found = set()
    for node in ast.parse(source).body:
        members = [(node, (node.name,))] if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) else []
        if isinstance(node, ast.ClassDef):
            members = [
                (item, (node.name, item.name))
                for item in node.body
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
            ]
        for function, qualified in members:
            start = min([function.lineno, *(d.lineno for d in function.decorator_list)])
            if any(start <= line <= (function.end_lineno or start) for line in lines):
                found.add(mutmut_name(qualified))
    return found


def changed_functions(ref: str) -> dict[Path, set[str]]:
    """The functions each file of src/veo_mcp has changed (added or edited lines) since `ref`."""
    diff = subprocess.run(
        ["git", "diff", "-U0", ref, "--", "src/veo_mcp"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    lines: dict[Path, set[int]] = {}
    current: Path | None = None
    for line in diff.splitlines():
        if line.startswith("+++ "):
            target = line[4:].strip()
            current = Path(target[2:]) if target.startswith("b/") and target.endswith(".py") else None
        elif current is not None and (hunk := re.match(r"@@ -\S+ \+(\d+)(?:,(\d+))? @@", line)):
            start, count = int(hunk.group(1)), int(hunk.group(2) or "1")
            lines.setdefault(current, set()).update(range(start, start + max(count, 1)))
    changed = {}
    for path, numbers in lines.items():
        if (ROOT / path).is_file():
            changed[path] = functions_at((ROOT / path).read_text(encoding="utf-8"), numbers)
    return {path: names for path, names in changed.items() if names}


def patterns(area: Area, only: dict[Path, set[str]] | None = None) -> list[str]:
    """mutmut's mutant-name globs for the area (a function's own mutants end in `__mutmut_<n>`)."""
    files = area_files(area)
    if only is None:
        return [f"{module_of(path)}.*" for path in files]
    return [f"{module_of(path)}.{name}__mutmut_*" for path in files for name in sorted(only.get(path, ()))]


def selected(name: str, globs: list[str]) -> bool:
    return any(fnmatch(name, pattern) for pattern in globs)


def shard_of(names: list[str], shard: tuple[int, int] | None) -> list[str]:
    """The I-th of N slices of `names` (stable: by name)."""
    if shard is None:
        return names
    index, count = shard
    return [name for position, name in enumerate(sorted(names)) if position % count == index - 1]


# --- the work folder ------------------------------------------------------------------------------------------------


def _digest(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(str(path).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _tests_of(area: Area) -> list[Path]:
    files: list[Path] = [ROOT / "tests" / name for name in ("conftest.py", "helpers.py", "postgres.py")]
    for test in area.tests:
        path = ROOT / test.partition("::")[0]
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return [file for file in files if "node_modules" not in file.parts]


def _sync(source: Path, target: Path) -> None:
    """`target` made a copy of `source` (a folder or a file), files rewritten only where their content differs
    (mutmut compares times: an unchanged file keeps its mutants and their verdicts)."""
    pairs = (
        [(source, target)]
        if source.is_file()
        else [(path, target / path.relative_to(source)) for path in source.rglob("*")]
    )
    for path, copy in pairs:
        if "__pycache__" in path.parts or "node_modules" in path.parts or path.is_dir():
            continue
        if not copy.exists() or copy.read_bytes() != path.read_bytes():
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, copy)
    if source.is_file():
        return
    for copy in list(target.rglob("*.py")):
        if not (source / copy.relative_to(target)).exists():
            copy.unlink()


# Run at the start of mutmut's process and of every process a test starts (PYTHONPATH):
# - A test's own subprocess runs the active mutant, but while mutmut only measures which tests reach which code
#   ("stats"), a child has nothing to report to: it runs the code unchanged.
# - mutmut swaps sys.stderr for an object without a file descriptor while it collects the tests, and the MCP SDK's
#   stdio client takes sys.stderr as a default argument when first imported: imported here first, in mutmut's own
#   process only (the flag is removed before any child is started), it keeps the real one and the tests that
#   start a stdio server can run.
# - mutmut hands a mutant's tests to pytest in no particular order and stops at the first that fails: given the
#   quickest first (by the times it measured), a mutant that is caught is caught sooner.
# - mutmut runs in a session of its own (so that its forked workers can be stopped with it); should the run that
#   started it be killed outright (SIGKILL, which no handler sees), mutmut notices and ends its session.
SITECUSTOMIZE = """import os
if os.environ.get("MUTANT_UNDER_TEST") == "stats":
    os.environ["MUTANT_UNDER_TEST"] = ""
if os.environ.pop("MUTATION_HOST", None):
    import signal
    import threading
    import time

    import mcp.client.stdio

    def _end_with_the_run(parent=os.getppid()):
        while os.getppid() == parent:
            time.sleep(1)
        os.killpg(0, signal.SIGKILL)  # the run that started mutmut was killed outright: its workers go too

    threading.Thread(target=_end_with_the_run, daemon=True).start()
    from mutmut.runners import harness
    from mutmut.state import state

    _regular_run = harness.PytestRunner._pytest_args_regular_run

    def _quickest_first(self, tests):
        took = state().duration_by_test
        return _regular_run(self, sorted(tests, key=lambda test: (took.get(test, 0.0), test)))

    harness.PytestRunner._pytest_args_regular_run = _quickest_first
"""


def prepare(work: Path, name: str, area: Area) -> None:
    """The area's work folder: the sources, the tests (without node_modules) and mutmut's settings. When the tests
    changed since the last run, verdicts that were not "killed" and mutmut's test map are dropped, so that a new
    test can kill an old survivor."""
    work.mkdir(parents=True, exist_ok=True)
    _sync(ROOT / "src", work / "src")
    _sync(ROOT / "tests", work / "tests")
    for extra in PROJECT_FILES:
        if (ROOT / extra).exists():
            _sync(ROOT / extra, work / extra)
    settings = {
        "source_paths": ["src"],
        "also_copy": list(PROJECT_FILES),
        "only_mutate": [str(path) for path in area_files(area)],
        "pytest_add_cli_args_test_selection": list(area.tests),
        # In mutmut's own process, not on xdist workers.
        "pytest_add_cli_args": [
            "-p",
            "no:cacheprovider",
            "-W",
            "ignore::DeprecationWarning",
            "-n",
            "0",
            *([] if area.postgres else ["-k", "not postgres"]),
            *["-m", "not not_under_mutation"],  # (see the marker in tests/conftest.py)
        ],
        # A mutant that hangs a test is stopped after (its tests' usual time + 5 s) × 3.
        "timeout_multiplier": 3.0,
        "timeout_constant": 5.0,
        "use_git_change_detection": False,
        "mutate_only_covered_lines": False,
        # A mutant that `mypy --strict` rejects could never pass CI (which runs it), so it is caught without running a
        # test. Two of mypy's complaints come from mutmut's own layout, not the mutant, and are switched off: every
        # mutant of a method is a method of the same class (an annotated `self.x: T = ...` "already defined"), and
        # the trampolines' `type: ignore` comments are not all needed.
        "type_check_command": [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            "../pyproject.toml",
            "--no-warn-unused-ignores",
            "--disable-error-code",
            "no-redef",
            "-O",
            "json",
            *[str(path) for path in area_files(area)],
        ],
    }
    table = "\n".join(f"{key} = {json.dumps(value)}" for key, value in settings.items())
    (work / "child").mkdir(exist_ok=True)
    (work / "child" / "sitecustomize.py").write_text(SITECUSTOMIZE)
    project = (ROOT / "pyproject.toml").read_text() + "\n[tool.mutmut]\n" + table + "\n"
    if not (work / "pyproject.toml").exists() or (work / "pyproject.toml").read_text() != project:
        (work / "pyproject.toml").write_text(project)
    tests_digest = _digest(_tests_of(area))
    seen = work / "tests.sha256"
    if seen.exists() and seen.read_text() != tests_digest:
        _forget_survivors(work)
    seen.write_text(tests_digest)
    (work / "mutants" / "src").mkdir(parents=True, exist_ok=True)


def _forget_survivors(work: Path) -> None:
    for meta in (work / "mutants").rglob("*.meta"):
        data = json.loads(meta.read_text())
        codes = data.get("exit_code_by_key", {})
        data["exit_code_by_key"] = {key: code if code == 1 else None for key, code in codes.items()}
        meta.write_text(json.dumps(data))
    for stats in (work / "mutants").glob("mutmut-stats.json"):
        stats.unlink()


def results(work: Path, area: Area, globs: list[str]) -> dict[str, tuple[str, Path]]:
    """Every selected mutant's status and source file, from mutmut's own records (`mutants/<source>.meta`)."""
    from mutmut.stats import status_by_exit_code

    found: dict[str, tuple[str, Path]] = {}
    for path in area_files(area):
        meta = work / "mutants" / f"{path}.meta"
        if not meta.exists():
            continue
        for name, code in json.loads(meta.read_text())["exit_code_by_key"].items():
            if selected(name, globs):
                found[name] = (status_by_exit_code[code], path)
    return found


def diffs(work: Path, mutants: dict[str, Path]) -> dict[str, str]:
    """Each mutant's diff, read from the area's mutated files in this process (one `mutmut show` per survivor cost
    a second each)."""
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    here = Path.cwd()
    os.chdir(work)
    try:
        return {name: get_diff_for_mutant(name, path=path) for name, path in mutants.items()}
    finally:
        os.chdir(here)


# --- running --------------------------------------------------------------------------------------------------------


def _postgres_folder(pid: int) -> Path:
    return CACHE / f"postgres-{pid}"


def _local_postgres(command: str, folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "local-postgres"), command],
        env={**os.environ, "VEO_MCP_LOCAL_PG_DIR": str(folder)},
        capture_output=True,
        text=True,
        check=False,
    )


def stale_clusters(cache: Path) -> list[Path]:
    """The clusters of runs that are gone (a `.lock` beside a cluster is the start script's, not a cluster)."""
    from veo_mcp.storage.owners import pid_alive

    found = []
    for folder in cache.glob("postgres-*"):
        pid = folder.name.removeprefix("postgres-")
        if folder.is_dir() and pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid)):
            found.append(folder)
    return found


def postgres_url() -> str:
    """This mutation run's own PostgreSQL cluster (`scripts/local-postgres`, in `.mutation/postgres-<pid>`), started
    on first use and stopped when the run ends (`main`); every mutant's tests make schemas of their own in it.
    Clusters of runs that were killed before they could stop theirs are stopped first."""
    for folder in stale_clusters(CACHE):
        _local_postgres("stop", folder)
    done = _local_postgres("start", _postgres_folder(os.getpid()))
    if done.returncode != 0:
        raise SystemExit(f"PostgreSQL for the mutation run could not be started: {done.stderr.strip()[-500:]}")
    return done.stdout.strip().splitlines()[-1]


def stop_postgres() -> None:
    if _postgres_folder(os.getpid()).exists():
        _local_postgres("stop", _postgres_folder(os.getpid()))


def run_area(name: str, area: Area, globs: list[str], args: argparse.Namespace) -> dict[str, str]:
    work = CACHE / name
    if args.fresh and work.exists():
        shutil.rmtree(work)
    prepare(work, name, area)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVOLINK_", "VEO_MCP_", "MUTANT_UNDER_TEST"))}
    env["PYTHONPATH"] = os.pathsep.join([str(work / "mutants" / "src"), str(work / "child")])
    env["MUTATION_HOST"] = "1"  # read by SITECUSTOMIZE
    if area.postgres:
        env["VEO_MCP_TEST_POSTGRES_URL"] = postgres_url()
    started = time.monotonic()
    wanted = globs if args.shard is None else _shard_names(area, globs, args.shard)
    mutmut = subprocess.Popen(
        [sys.executable, "-m", "mutmut", "run", "--max-children", str(args.max_children), *wanted],
        cwd=work,
        env=env,
        stdout=sys.stderr,  # mutmut's progress; stdout ends with the JSON object alone
        start_new_session=True,  # a group of its own: its forked workers end with it (see below)
    )
    try:
        returncode = mutmut.wait()
    finally:
        _stop(mutmut)
    if returncode != 0:
        raise SystemExit(f"mutmut run failed for {name} (exit {returncode})")
    found = results(work, area, wanted)
    statuses = {mutant: status for mutant, (status, _) in found.items()}
    print(f"{name}: {len(statuses)} mutants in {time.monotonic() - started:.0f} s", file=sys.stderr)
    alive = {mutant: path for mutant, (status, path) in found.items() if status not in CAUGHT}
    for mutant, diff in sorted(diffs(work, alive).items()):
        print(f"--- {statuses[mutant]}: {mutant}\n{diff}\n")
    return statuses


def _stop(mutmut: subprocess.Popen[bytes]) -> None:
    """End mutmut and every worker it forked (a stopped run would leave them running their tests): first as Ctrl-C
    would (mutmut stops its workers and keeps what it found), then for good."""
    if mutmut.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(mutmut.pid, signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            mutmut.wait(timeout=30)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(mutmut.pid, signal.SIGKILL)
    mutmut.wait()


def _shard_names(area: Area, globs: list[str], shard: tuple[int, int]) -> list[str]:
    """This shard's mutants by name: mutmut names them the same way every time it mutates the same code."""
    import io

    from mutmut.__main__ import write_all_mutants_to_file
    from mutmut.utils.format_utils import get_mutant_name

    names = []
    for path in area_files(area):
        mutated = write_all_mutants_to_file(out=io.StringIO(), source=(ROOT / path).read_text(), filename=path)
        names += [get_mutant_name(path, name) for name in mutated.mutant_names]
    return shard_of([name for name in names if selected(name, globs)], shard) or ["no-mutant-in-this-shard"]


def score(statuses: dict[str, str]) -> float:
    return round(sum(1 for s in statuses.values() if s in CAUGHT) / len(statuses), 4) if statuses else 1.0


def ctrl_c_as_usual() -> None:
    """A run started in the background by a script (`... &`) has Ctrl-C ignored, and mutmut would inherit that: it
    could not be stopped as Ctrl-C would (`_stop`), and the tests of Ctrl-C (a command interrupted in the test's
    own process) would wait forever for a signal that is ignored. Python's own handler is put back; a program it
    starts then gets the default."""
    signal.signal(signal.SIGINT, signal.default_int_handler)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--area", action="append", choices=sorted(AREAS), help="only this area (repeatable)")
    parser.add_argument("--module", action="append", help="only the area holding this file (compatibility)")
    parser.add_argument("--changed-since", metavar="REF", help="only the functions changed since this git revision")
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 2, help="mutants tested at once")
    parser.add_argument("--shard", type=_shard, default=None, help="I/N: the I-th of N slices of the mutants")
    parser.add_argument("--fresh", action="store_true", help="forget what earlier runs found (.mutation/)")
    args = parser.parse_args()
    # Stopped with SIGTERM or a hang-up as with Ctrl-C: mutmut and its workers (`_stop`) and the PostgreSQL cluster
    # end with it, and what was found so far is kept for the next run. (Killed outright, the run takes mutmut along
    # all the same: SITECUSTOMIZE.)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGHUP, lambda *_: sys.exit(129))
    ctrl_c_as_usual()
    names = list(args.area or AREAS)
    if args.module:
        names = [name for name, area in AREAS.items() if any(Path(m) in area_files(area) for m in args.module)]
    only = changed_functions(args.changed_since) if args.changed_since else None
    started = time.monotonic()
    statuses: dict[str, dict[str, str]] = {}
    try:
        for name in names:
            area = AREAS[name]
            globs = patterns(area, only)
            if not globs:
                continue
            statuses[name] = run_area(name, area, globs, args)
    finally:
        stop_postgres()
    every = {mutant: status for found in statuses.values() for mutant, status in found.items()}
    counts = {
        status: sum(1 for s in every.values() if s == status) for status in (KILLED, SURVIVED, TIMEOUT, TYPE_CHECKED)
    }
    summary = {
        "modules": sorted({module_of(path) for name in statuses for path in area_files(AREAS[name])}),
        "mutants": len(every),
        "killed": counts[KILLED],
        "survived": counts[SURVIVED],
        "timeout": counts[TIMEOUT],
        "caught_by_type_check": counts[TYPE_CHECKED],
        "score": score(every),
        "areas": {name: score(found) for name, found in statuses.items()},
    }
    if others := len(every) - sum(counts.values()):  # no test reached them, or mutmut found them suspicious
        print(f"{others} mutant(s) neither caught, survived nor timed out (see above)", file=sys.stderr)
    print(f"mutation run took {time.monotonic() - started:.0f} s", file=sys.stderr)
    print(json.dumps(summary))
    return 0


def _shard(text: str) -> tuple[int, int]:
    index, _, count = text.partition("/")
    if not (index.isdigit() and count.isdigit() and 1 <= int(index) <= int(count)):
        raise argparse.ArgumentTypeError(f"{text!r} is not I/N with 1 <= I <= N")
    return int(index), int(count)


if __name__ == "__main__":
    sys.exit(main())
