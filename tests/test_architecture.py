"""The layout stays readable: data flows one way through the layers, and no function or module outgrows a reader.

Layers, lowest first (a module may import its own layer and the ones below, never above):
errors, context → evolink (and the simulator beside it) → settings (and users, local.files, a leaf the store uses too) → core.generation/core.events → storage → money, local, delivery → background →
core.registry/core.pipeline/core.batches → app → mcp → cli, reference. The simulator imports only evolink and itself.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "veo_mcp"

LAYERS: tuple[tuple[str, ...], ...] = (
    ("veo_mcp", "veo_mcp.errors", "veo_mcp.context"),
    ("veo_mcp.evolink", "veo_mcp.simulator"),
    ("veo_mcp.settings", "veo_mcp.local.files", "veo_mcp.users"),
    ("veo_mcp.core", "veo_mcp.core.generation", "veo_mcp.core.events"),
    ("veo_mcp.storage",),
    ("veo_mcp.money", "veo_mcp.local", "veo_mcp.delivery"),
    ("veo_mcp.background",),
    ("veo_mcp.core.registry", "veo_mcp.core.pipeline", "veo_mcp.core.batches"),
    ("veo_mcp.app",),
    ("veo_mcp.mcp",),
    ("veo_mcp.cli", "veo_mcp.reference", "veo_mcp.__main__"),
)
MAX_FUNCTION_LINES = 80
MAX_MODULE_LINES = 500


def module_name(path: Path) -> str:
    parts = ["veo_mcp", *path.relative_to(SRC).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> int | None:
    """The layer of `module`: the longest matching prefix wins (veo_mcp alone is only the package root)."""
    matches = [
        (len(prefix), index)
        for index, prefixes in enumerate(LAYERS)
        for prefix in prefixes
        if module == prefix or (prefix != "veo_mcp" and module.startswith(prefix + "."))
    ]
    return max(matches)[1] if matches else None


def imports_of(path: Path) -> list[tuple[int, str]]:
    """Every `veo_mcp` module `path` imports, with its line (lazy imports inside functions count too)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("veo_mcp"):
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names if alias.name.startswith("veo_mcp"))
    return found


SOURCES = sorted(SRC.rglob("*.py"))


def test_every_module_has_a_layer() -> None:
    assert [module_name(path) for path in SOURCES if layer_of(module_name(path)) is None] == []


def test_no_module_imports_a_higher_layer() -> None:
    upward = []
    for path in SOURCES:
        source = module_name(path)
        own = layer_of(source)
        assert own is not None, source
        for line, target in imports_of(path):
            target_layer = layer_of(target)
            if target_layer is not None and target_layer > own:
                upward.append(f"{path.relative_to(SRC)}:{line} {source} → {target}")
    assert upward == []


def test_the_simulator_imports_only_the_api_boundary_and_itself() -> None:
    foreign = [
        f"{path.relative_to(SRC)}:{line} → {target}"
        for path in SOURCES
        if module_name(path).startswith("veo_mcp.simulator")
        for line, target in imports_of(path)
        if not target.startswith(("veo_mcp.simulator", "veo_mcp.evolink", "veo_mcp.errors"))
    ]
    assert foreign == []


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(SRC)))
def test_functions_and_modules_fit_a_reader(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= MAX_MODULE_LINES
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(ast.parse(text))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert long == []


def test_the_layer_check_sees_an_upward_import(tmp_path: Path) -> None:
    """The checker itself: a storage module importing the MCP layer is an upward arrow."""
    assert layer_of("veo_mcp.storage.creates") == 4
    assert layer_of("veo_mcp.mcp.server") == 9
    assert layer_of("veo_mcp.core.pipeline") == 7 and layer_of("veo_mcp.core.generation") == 3
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from veo_mcp.mcp.server import create_server\n")
    assert imports_of(probe) == [(2, "veo_mcp.mcp.server")]


def _pyav_imports_not_after_load(source: str) -> list[str]:
    """Each `import av` inside a function that no `load_pyav()` call comes before, in that function (name:line)."""
    found = []
    for function in ast.walk(ast.parse(source)):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef) or function.name == "load_pyav":
            continue
        loaded_at = [
            node.lineno
            for node in ast.walk(function)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "load_pyav"
        ]
        found += [
            f"{function.name}:{node.lineno}"
            for node in ast.walk(function)
            if isinstance(node, ast.Import)
            and any(alias.name.split(".")[0] == "av" for alias in node.names)
            and not any(line < node.lineno for line in loaded_at)
        ]
    return found


def test_pyav_is_imported_in_a_function_only_after_load_pyav() -> None:
    """Two threads importing PyAV for the first time at once can leave one with a half-made package (see
    veo_mcp/local/pyav.py), so every lazy import goes through its lock (the simulator imports it at module level)."""
    unguarded = [
        f"{path.relative_to(SRC)} {where}"
        for path in SOURCES
        for where in _pyav_imports_not_after_load(path.read_text(encoding="utf-8"))
    ]
    assert unguarded == []
    control = "def a():\n    import av\n\ndef b():\n    load_pyav()\n    import av.error\n    import av\n"
    assert _pyav_imports_not_after_load(control) == ["a:2"]
