"""The client and the collector validate with one schema: the collector's modules are the client's objects.

A second copy could drift (a props field added to one side only); here there is nothing to drift: the
collector's `analytics.collect.events` / `registry` re-export what `analytics_pipeline_client` defines, and
each definition exists once in the repo."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import analytics.collect.events as events
import analytics.collect.registry as registry
import analytics_pipeline_client.registry as client_registry
import analytics_pipeline_client.schema as client_schema
from analytics.collect import ingest

ROOT = Path(__file__).resolve().parents[2]
CLIENT_SRC = ROOT / "clients" / "python" / "src" / "analytics_pipeline_client"


def test_the_collector_validates_with_the_clients_objects():
    for name in ("EVENT_TYPES", "SOURCES", "ENTITY_TYPES", "EventType", "Props"):
        assert getattr(registry, name) is getattr(client_registry, name), name
    for name in ("EventIn", "Attribution", "EventRejected", "FieldError", "Rules", "parse_event", "normalise"):
        assert getattr(events, name) is getattr(client_schema, name), name
    for name in ("MAX_PROPS_BYTES", "MAX_PROPS_DEPTH", "MAX_PROPS_KEYS"):
        assert getattr(events, name) is getattr(client_schema, name), name
    # What the hot path binds at import time is the same too.
    assert ingest.EVENT_TYPES is client_registry.EVENT_TYPES
    assert ingest.parse_event is client_schema.parse_event and ingest.normalise is client_schema.normalise


def _definitions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


def test_each_schema_definition_exists_once_in_the_repo():
    shared = _definitions(CLIENT_SRC / "schema.py") | _definitions(CLIENT_SRC / "registry.py")
    assert {"EventIn", "EVENT_TYPES", "SOURCES", "MAX_PROPS_BYTES", "normalise"} <= shared
    shared -= {"__all__", "log"}
    tracked = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for rel in tracked:
        path = ROOT / rel
        if path.parent == CLIENT_SRC or not path.exists():
            continue
        again = _definitions(path) & shared
        assert not again, f"{rel} defines {sorted(again)} again: import them from analytics_pipeline_client"


def test_the_client_imports_no_pipeline_module():
    """Importing the client and validating an event loads neither the pipeline nor its dependencies."""
    code = (
        "import sys, analytics_pipeline_client as c\n"
        "c.AssetEventHelpers(source='api').view('usr_1', 'ast_1')\n"
        "print(sorted(m for m in ('analytics', 'orjson', 'uuid_utils', 'flask', 'redis') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"
