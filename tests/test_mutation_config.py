"""`scripts/mutation.py` mutates all of src/veo_mcp, area by area, each against the tests that cover it: every module
must belong to exactly one area and every named test must exist, or code would silently drop out of the run."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def mutation() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mutation_script", ROOT / "scripts" / "mutation.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("mutation_script", module)
    spec.loader.exec_module(module)
    return module


def test_every_module_of_src_is_in_exactly_one_area(mutation: ModuleType) -> None:
    every = sorted(
        path.relative_to(ROOT)
        for path in (ROOT / "src" / "veo_mcp").rglob("*.py")
        if path.name != "__main__.py" and (path.name != "__init__.py" or "def " in path.read_text("utf-8"))
    )
    listed = sorted(path for area in mutation.AREAS.values() for path in mutation.area_files(area))
    assert listed == every  # none left out, none twice
    # A package whose code lives in its __init__.py is mutated too (settings' was once left out: 0 mutants, 1.0).
    assert Path("src/veo_mcp/settings/__init__.py") in mutation.area_files(mutation.AREAS["settings"])
    assert mutation.module_of("src/veo_mcp/settings/__init__.py") == "veo_mcp.settings"
    assert Path("src/veo_mcp/money/__init__.py") not in mutation.area_files(mutation.AREAS["money"])
    top_packages = {p.name for p in (ROOT / "src" / "veo_mcp").iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert top_packages <= set(mutation.AREAS)  # an area per top-level package, as the figures report them


def test_every_covering_test_exists(mutation: ModuleType) -> None:
    for name, area in mutation.AREAS.items():
        missing = [test for test in area.tests if not (ROOT / test.partition("::")[0]).exists()]
        assert missing == [], f"{name}: {missing}"


def test_the_globs_select_an_areas_mutants_or_a_changed_functions_only(mutation: ModuleType) -> None:
    money = mutation.AREAS["money"]
    assert mutation.patterns(money) == ["veo_mcp.money.guards.*", "veo_mcp.money.ledger.*"]
    only = {Path("src/veo_mcp/money/guards.py"): {"x_needs_confirmation"}}
    globs = mutation.patterns(money, only)
    assert globs == ["veo_mcp.money.guards.x_needs_confirmation__mutmut_*"]
    assert mutation.selected("veo_mcp.money.guards.x_needs_confirmation__mutmut_3", globs)
    assert not mutation.selected("veo_mcp.money.guards.x_declined__mutmut_1", globs)


def test_a_change_is_traced_to_the_functions_and_methods_around_its_lines(mutation: ModuleType) -> None:
    source = "def a():\n    return 1\n\n\nclass B:\n    @property\n    def c(self):\n        return 2\n\n\nX = 3\n"
    assert mutation.functions_at(source, {2}) == {"x_a"}
    assert mutation.functions_at(source, {6, 8}) == {"xǁBǁc"}  # the decorator's line counts
    assert mutation.functions_at(source, {11}) == set()  # module level: nothing mutmut mutates


def test_shards_split_the_mutants_without_overlap(mutation: ModuleType) -> None:
    names = [f"m{i}" for i in range(10)]
    shards = [mutation.shard_of(names, (index, 3)) for index in (1, 2, 3)]
    assert sorted(name for shard in shards for name in shard) == sorted(names)
    assert all(len(shard) in (3, 4) for shard in shards)


def test_only_the_clusters_of_runs_that_are_gone_are_stopped(mutation: ModuleType, tmp_path: Path) -> None:
    import os

    dead = tmp_path / "postgres-999999999"  # above any pid the kernel gives
    alive = tmp_path / f"postgres-{os.getppid()}"
    own = tmp_path / f"postgres-{os.getpid()}"
    for folder in (dead, alive, own):
        folder.mkdir()
    (tmp_path / "postgres-999999999.lock").touch()  # the start script's lock beside a cluster
    (tmp_path / "postgres-notes").mkdir()
    assert mutation.stale_clusters(tmp_path) == [dead]


def test_a_run_started_with_ctrl_c_ignored_gives_mutmut_ctrl_c_back() -> None:
    """Started in the background by a script, the run inherits an ignored SIGINT; mutmut (and the Ctrl-C tests it
    runs in its own process) must not."""
    import subprocess
    import textwrap

    child = "import signal; print('ignored' if signal.getsignal(signal.SIGINT) == signal.SIG_IGN else 'Ctrl-C')"
    script = textwrap.dedent(
        f"""
        import importlib.util, signal, subprocess, sys
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        spec = importlib.util.spec_from_file_location("mutation_script", {str(ROOT / "scripts" / "mutation.py")!r})
        module = importlib.util.module_from_spec(spec)
        sys.modules["mutation_script"] = module
        spec.loader.exec_module(module)
        before = subprocess.run([sys.executable, "-c", {child!r}], capture_output=True, text=True).stdout.strip()
        module.ctrl_c_as_usual()
        after = subprocess.run([sys.executable, "-c", {child!r}], capture_output=True, text=True).stdout.strip()
        print(before, after)
        """
    )
    ran = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert ran.stdout.split() == ["ignored", "Ctrl-C"]


def test_the_app_uvicorn_serves_is_never_a_function_mutmut_wraps() -> None:
    """uvicorn calls the app it is given with no arguments to see whether it is a factory. A function mutmut wraps
    takes any arguments, so under a mutation run it would pass for a factory and the server would not start (every
    test of the served stack would fail). `HttpStack` hands uvicorn a function nested in its `__init__`: mutated
    only as part of `__init__`, never wrapped itself."""
    import io

    from mutmut.__main__ import write_all_mutants_to_file

    path = "src/veo_mcp/mcp/http_stack.py"
    mutated = write_all_mutants_to_file(out=io.StringIO(), source=(ROOT / path).read_text(), filename=path)
    wrapped = {name.split("__mutmut_")[0] for name in mutated.mutant_names}
    assert "xǁHttpStackǁ__init__" in wrapped  # a positive control: the stack's construction is mutated
    assert not [name for name in wrapped if "served" in name], wrapped
