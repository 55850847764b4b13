"""docs/RUNBOOK.md keeps up with the code: check-failed lists every monitor check step (as registered in
analytics.monitor.job.collect), task-failure every DAG, and every anchor a failure alert links exists."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUNBOOK = (ROOT / "docs" / "RUNBOOK.md").read_text()


def _section(anchor: str) -> str:
    start = RUNBOOK.index(f"\n## {anchor}\n")
    end = RUNBOOK.find("\n## ", start + 1)
    return RUNBOOK[start:end]


def _monitor_steps() -> list[str]:
    """The step names of `steps = {...}` in job.collect(), read from the source (nothing runs)."""
    tree = ast.parse((ROOT / "include" / "analytics" / "monitor" / "job.py").read_text())
    collect = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "collect")
    for node in ast.walk(collect):
        target = (
            node.target
            if isinstance(node, ast.AnnAssign)
            else (node.targets[0] if isinstance(node, ast.Assign) else None)
        )
        if isinstance(target, ast.Name) and target.id == "steps" and isinstance(node.value, ast.Dict):
            return [k.value for k in node.value.keys]
    raise AssertionError("job.collect() registers no `steps` dict any more: update this test")


def test_check_failed_lists_every_monitor_check_step():
    steps = _monitor_steps()
    assert len(steps) >= 8
    means = _section("check-failed").split("**First checks:**")[0]
    listed = re.findall(r"`([a-z_]+)`", means)
    assert sorted(listed) == sorted(steps), f"RUNBOOK check-failed lists {listed}, job.collect() runs {steps}"


def test_task_failure_names_every_dag(dagbag):
    means = _section("task-failure").split("**One page")[0]
    missing = [d for d in dagbag.dag_ids if f"`{d}`" not in means]
    assert not missing, f"RUNBOOK task-failure does not name {missing}"


def test_every_failure_alert_links_an_existing_section():
    from analytics.monitor.alerts import notifier

    source = Path(notifier.__file__).read_text()
    anchors = set(re.findall(r'\{RUNBOOK\}#([a-z-]+)"', source))
    assert anchors >= {"task-failure", "dag-run-failed"}
    for anchor in anchors:
        assert f"\n## {anchor}\n" in RUNBOOK, anchor
