"""Mutation testing of the code that holds money, consent, secrets and the HTTP guard, with mutmut.

    python scripts/mutation.py [--keep DIR] [--max-children N]

mutmut changes the code one small step at a time (a `>` into `>=`, a dropped argument, a string turned into
"XX...XX", `True` into `False`, ...) and runs the tests that reach the changed function; a change no test notices
"survived". The run happens in a scratch copy of the checkout (the worktree is never touched); the code under test
is listed in TARGETS, function by function where only part of a module holds money, consent or secrets, and the tests
that cover it in TESTS. Server subprocesses that tests start run the mutated code too (PYTHONPATH), with the active
mutant passed in the environment.

It prints each surviving mutant's diff, then, last, one JSON object:
{"modules": [...], "mutants": N, "killed": K, "survived": S, "timeout": T, "score": K/N}
(`tests/MUTATION.md` keeps the figures of the last run and says why each survivor is equivalent).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from fnmatch import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Module → the functions mutated in it ("*": all of it). Names are mutmut's: `x_name` for a function, `xǁClassǁname`
# for a method; nested functions are mutated with the function around them.
TARGETS: dict[str, list[str]] = {
    "src/veo_mcp/money/guards.py": ["*"],
    "src/veo_mcp/money/ledger.py": ["*"],
    "src/veo_mcp/storage/creates.py": [
        "xǁCreateTableǁbegin_create",
        "xǁCreateTableǁspending",
        "xǁCreateTableǁaccept_create",
        "xǁCreateTableǁlink_create",
        "xǁCreateTableǁmark_create_unknown",
        "xǁCreateTableǁforget_create",
        "xǁCreateTableǁcreate_for_request",
        "xǁCreateTableǁrecover_interrupted_creates",
        "xǁCreateTableǁrecent_duplicate",
        "xǁCreateTableǁcommitted_usd_since",
        "xǁCreateTableǁrecord_decline",
        "xǁCreateTableǁdeclined_since",
        "x__duplicate",
        "x__spending",
        "x__committed_since",
    ],
    "src/veo_mcp/core/pipeline.py": ["x__require_consent"],
    "src/veo_mcp/mcp/questions.py": ["x_consent_of", "x__can_ask_user", "x_cost_consent"],
    "src/veo_mcp/settings/__init__.py": [
        "x_settings_files",
        "xǁSettingsǁsettings_customise_sources",
        "x__source_name",
        "x__field_of",
        "x_load_settings",
    ],
    "src/veo_mcp/settings/rules.py": [
        "xǁSettingsRulesǁ_key_only_over_https",
        "xǁSettingsRulesǁ_blank_is_none",
    ],
    "src/veo_mcp/evolink/responses.py": ["x_redact"],
    "src/veo_mcp/mcp/http_security.py": ["*"],
    "src/veo_mcp/mcp/auth.py": ["xǁPrincipalVerifierǁverify_token"],
    "src/veo_mcp/users.py": ["x_token_hash", "xǁUsersFileǁlookup"],
    "src/veo_mcp/cli/main.py": ["x_main", "x__guarded", "x__innermost"],
    "src/veo_mcp/cli/output.py": ["xǁCommandFailedǁ__init__", "x_report_failure", "x_quiet_broken_pipe"],
    "src/veo_mcp/cli/parser.py": ["xǁParserǁerror"],
}

# The tests that cover TARGETS (mutmut runs, for each mutant, only those of them that reach its function). They
# reach the code in this process: mutmut learns which test covers which function by watching it run here, so a
# test that only drives a subprocess would never be chosen. Two kinds of test cannot run under mutmut at all and
# are covered here by in-process twins: a real `veo-mcp serve` over HTTP (uvicorn calls the app with no arguments
# to detect a factory, and a mutmut trampoline accepts that call) and a stdio server started by the SDK client
# (mutmut's captured stderr has no file descriptor to hand the child). The normal suite runs both for real.
TESTS = [
    "tests/money/test_guards.py",
    "tests/money/test_ledger.py",
    "tests/money/test_consent.py",
    "tests/storage/test_store.py",
    "tests/mcp/test_questions.py",
    "tests/mcp/test_http_guard.py",
    "tests/mcp/test_edges.py",
    "tests/test_settings_and_files.py",
    "tests/cli/test_exit_paths.py",
    "tests/test_users.py",
    "tests/storage/test_principals.py",
    "tests/mcp/test_verifier.py",
    "tests/storage/test_replicas_store.py",
]

KILLED, SURVIVED, TIMEOUT = "killed", "survived", "timeout"


def module_of(path: str) -> str:
    return ".".join(Path(path).relative_to("src").with_suffix("").parts)


def patterns() -> list[str]:
    """mutmut's mutant-name globs for TARGETS (a function's own mutants end in `__mutmut_<n>`)."""
    found = []
    for path, functions in TARGETS.items():
        module = module_of(path)
        found += [f"{module}.*" if name == "*" else f"{module}.{name}__mutmut_*" for name in functions]
    return found


def selected(name: str) -> bool:
    return any(fnmatch(name, pattern) for pattern in patterns())


def prepare(work: Path) -> None:
    """A scratch checkout: the sources, the tests (without node_modules) and a pyproject with mutmut's settings."""
    shutil.copytree(ROOT / "src", work / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "tests", work / "tests", ignore=shutil.ignore_patterns("__pycache__", "node_modules"))
    settings = {
        "source_paths": ["src"],
        "only_mutate": list(TARGETS),
        "pytest_add_cli_args_test_selection": TESTS,
        # In mutmut's own process (it watches which test reaches which function), not on xdist workers.
        # The store and ledger tests also run on PostgreSQL; the rules mutated here are the same on both engines, so
        # the SQLite runs judge the mutants (and the run needs no database server).
        "pytest_add_cli_args": [
            "-p",
            "no:cacheprovider",
            "-W",
            "ignore::DeprecationWarning",
            "-n",
            "0",
            "-k",
            "not postgres",
        ],
        # A mutant that hangs a test is stopped after (its tests' usual time + 5 s) × 3.
        "timeout_multiplier": 3.0,
        "timeout_constant": 5.0,
        "use_git_change_detection": False,
        "mutate_only_covered_lines": False,
    }
    table = "\n".join(f"{key} = {json.dumps(value)}" for key, value in settings.items())
    # A test's own subprocess runs the active mutant, but while mutmut only measures which tests reach which code
    # ("stats"), a child has nothing to report to: it runs the code unchanged.
    (work / "child").mkdir()
    (work / "child" / "sitecustomize.py").write_text(
        'import os\nif os.environ.get("MUTANT_UNDER_TEST") == "stats":\n    os.environ["MUTANT_UNDER_TEST"] = ""\n'
    )
    (work / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text() + "\n[tool.mutmut]\n" + table + "\n")


def results(work: Path) -> dict[str, str]:
    """Every selected mutant's status, from mutmut's own records (`mutants/<source>.meta`)."""
    from mutmut.stats import status_by_exit_code

    statuses: dict[str, str] = {}
    for path in TARGETS:
        meta = json.loads((work / "mutants" / f"{path}.meta").read_text())
        for name, code in meta["exit_code_by_key"].items():
            if selected(name):
                statuses[name] = status_by_exit_code[code]
    return statuses


def show(work: Path, name: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "mutmut", "show", name], cwd=work, env=env, capture_output=True, text=True, check=False
    )
    return done.stdout.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", type=Path, help="run in this folder and keep it (mutmut browse works there)")
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 2, help="mutants tested at once")
    parser.add_argument("--module", action="append", help="only this module of TARGETS (repeatable; for a quick look)")
    args = parser.parse_args()
    if args.module:
        for path in set(TARGETS) - set(args.module):
            del TARGETS[path]
    work = args.keep.resolve() if args.keep else Path(tempfile.mkdtemp(prefix="veo-mcp-mutation-"))
    if args.keep and work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    try:
        prepare(work)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("EVOLINK_", "VEO_MCP_", "MUTANT_UNDER_TEST"))}
        # Subprocesses (veo-mcp serve, the CLI) import the mutants too. The folder must exist before mutmut starts:
        # Python remembers a path that was missing when it first looked, which would hide the mutants from mutmut.
        (work / "mutants" / "src").mkdir(parents=True)
        env["PYTHONPATH"] = os.pathsep.join([str(work / "mutants" / "src"), str(work / "child")])
        run = subprocess.run(
            [sys.executable, "-m", "mutmut", "run", "--max-children", str(args.max_children), *patterns()],
            cwd=work,
            env=env,
            check=False,
            stdout=sys.stderr,  # mutmut's progress; stdout ends with the JSON object alone
        )
        if run.returncode != 0:
            print(f"mutmut run failed (exit {run.returncode})", file=sys.stderr)
            return run.returncode
        statuses = results(work)
        survivors = sorted(name for name, status in statuses.items() if status != KILLED)
        for name in survivors:
            print(f"--- {statuses[name]}: {name}\n{show(work, name, env)}\n")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    counts = {status: sum(1 for s in statuses.values() if s == status) for status in (KILLED, SURVIVED, TIMEOUT)}
    total = len(statuses)
    summary = {
        "modules": [module_of(path) for path in TARGETS],
        "mutants": total,
        "killed": counts[KILLED],
        "survived": counts[SURVIVED],
        "timeout": counts[TIMEOUT],
        "score": round(counts[KILLED] / total, 4) if total else 0.0,
    }
    if others := total - sum(counts.values()):  # no test reached them, or mutmut found them suspicious: not killed
        print(f"{others} mutant(s) neither killed, survived nor timed out (see above)", file=sys.stderr)
    print(f"mutation run took {time.monotonic() - started:.0f} s", file=sys.stderr)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
