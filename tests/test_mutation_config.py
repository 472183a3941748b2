"""`scripts/mutation.py` names the code it mutates and the tests that cover it: those names must stay real, or a
renamed function would silently drop out of the mutation run (mutmut would just find no mutants for it)."""

from __future__ import annotations

import ast
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


def mutmut_names(path: Path) -> set[str]:
    """mutmut's name for every function (`x_name`) and method (`xǁClassǁname`) defined in `path`."""
    names = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(f"x_{node.name}")
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    names.add(f"xǁ{node.name}ǁ{item.name}")
    return names


def test_every_mutated_function_exists(mutation: ModuleType) -> None:
    for path, functions in mutation.TARGETS.items():
        source = ROOT / path
        assert source.is_file(), path
        missing = [name for name in functions if name != "*" and name not in mutmut_names(source)]
        assert missing == [], f"{path} has no {missing}"


def test_every_covering_test_file_exists_and_the_globs_select_only_the_targets(mutation: ModuleType) -> None:
    assert all((ROOT / test).is_file() for test in mutation.TESTS), mutation.TESTS
    patterns = mutation.patterns()
    assert "veo_mcp.money.guards.*" in patterns
    assert "veo_mcp.core.pipeline.x__require_consent__mutmut_*" in patterns
    assert mutation.selected("veo_mcp.mcp.questions.x_consent_of__mutmut_3")
    assert not mutation.selected("veo_mcp.mcp.questions.x_client_roots__mutmut_1")
