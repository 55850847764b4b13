"""The house by stage: a stage imports only the core and the stages before it (collect → load → enrich, dedup →
monitor), never one after it."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "include" / "analytics"
RANK = {"core": 0, "collect": 1, "load": 2, "enrich": 3, "dedup": 3, "monitor": 4}
# DAG wiring shared by every DAG file: the failure notifier it installs lives with the alerts.
WIRING = {"dag_defaults"}


def _stage(parts: tuple[str, ...]) -> str:
    return parts[0] if parts and parts[0] in RANK else "core"


def _imports(path: Path) -> set[str]:
    """The analytics.* modules a file imports, at top level or inside functions."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "analytics":
                out.update(f"analytics.{a.name}" for a in node.names)
            elif node.module.startswith("analytics."):
                out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("analytics."))
    return out


def test_no_stage_imports_a_later_one():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] in WIRING:
            continue
        src = _stage(parts[:-1] if len(parts) > 1 else ())
        for module in _imports(path):
            dst = _stage(tuple(module.split(".")[1:-1]) or tuple(module.split(".")[1:2]))
            later = RANK[dst] > RANK[src]
            sibling = RANK[dst] == RANK[src] and dst != src
            if later or sibling:
                wrong.append(f"{'/'.join(parts)}.py ({src}) imports {module} ({dst})")
    assert wrong == []


def test_the_check_sees_a_wrong_import(tmp_path):
    """The rule above would catch a collect module importing the loader."""
    bad = tmp_path / "bad.py"
    bad.write_text("from analytics.load.job import run_load\n")
    (module,) = _imports(bad)
    assert RANK[_stage(tuple(module.split(".")[1:-1]))] > RANK["collect"]
