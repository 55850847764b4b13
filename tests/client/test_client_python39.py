"""The client runs on Python 3.9, where pydantic cannot evaluate `X | None` in a model's annotations.

`from __future__ import annotations` keeps a function's `X | None` a string forever, but pydantic (and
TypedDict) evaluate class annotations: there, only Optional/Union work on 3.9. Syntax and standard-library use
are checked by `make lint` (ruff at py39 for clients/python, vermin)."""

from __future__ import annotations

import ast
from pathlib import Path

CLIENT_SRC = Path(__file__).resolve().parents[2] / "clients" / "python" / "src" / "analytics_pipeline_client"


def pep604_class_annotations(source: str) -> list[str]:
    """`Class.field: annotation` for each class-body annotation that uses the `|` operator."""
    found = []
    for cls in ast.walk(ast.parse(source)):
        if not isinstance(cls, ast.ClassDef):
            continue
        for stmt in cls.body:
            if isinstance(stmt, ast.AnnAssign) and any(
                isinstance(n, ast.BinOp) and isinstance(n.op, ast.BitOr) for n in ast.walk(stmt.annotation)
            ):
                found.append(f"{cls.name}.{ast.unparse(stmt.target)}: {ast.unparse(stmt.annotation)}")
    return found


def test_the_check_sees_a_pep604_field():
    assert pep604_class_annotations("class M(BaseModel):\n    a: Optional[int]\n    b: dict[str, int | None]\n") == [
        "M.b: dict[str, int | None]"
    ]


def test_no_class_annotation_in_the_client_needs_python_310():
    files = sorted(CLIENT_SRC.glob("*.py"))
    assert {"schema.py", "registry.py"} <= {f.name for f in files}
    offending = [f"{f.name}: {a}" for f in files for a in pep604_class_annotations(f.read_text())]
    assert offending == []
