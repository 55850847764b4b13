"""SQL files beside their users; `load_sql("load/insert_events")` reads one."""

from __future__ import annotations

from functools import cache
from pathlib import Path

_ROOT = Path(__file__).parent


@cache
def load_sql(name: str) -> str:
    return (_ROOT / f"{name}.sql").read_text()
