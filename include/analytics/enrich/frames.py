"""CSV in and out of PostgreSQL COPY, the fastest bulk path psycopg offers without pyarrow."""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import psycopg


def copy_out(
    conn: psycopg.Connection, query: str, params: Mapping[str, Any], names: Sequence[str], dtypes: Mapping[str, Any]
) -> pd.DataFrame:
    """Run a `COPY (…) TO STDOUT (FORMAT csv)` and read it into a frame; empty fields are missing values."""
    buf = io.BytesIO()
    with conn.cursor().copy(query, params) as copy:
        for chunk in copy:
            buf.write(chunk)
    if buf.tell() == 0:
        return pd.DataFrame({n: pd.Series(dtype=dtypes.get(n, object)) for n in names})
    buf.seek(0)
    # keep_default_na=False: a referrer literally called "NA" or "null" stays a string.
    return pd.read_csv(
        buf, header=None, names=list(names), dtype=dict(dtypes), keep_default_na=False, na_values=[""], engine="c"
    )


def copy_in(conn: psycopg.Connection, statement: str, frame: pd.DataFrame) -> None:
    """Write a frame through `COPY … FROM STDIN (FORMAT csv)`, columns in the statement's order."""
    data = frame.to_csv(index=False, header=False, na_rep="").encode()
    with conn.cursor().copy(statement) as copy:
        copy.write(data)


def csv_field(value: Any) -> str:
    """One value in PostgreSQL's CSV dialect: unquoted empty is NULL, `""` the empty string."""
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, bool | np.bool_):
        return "t" if value else "f"
    s = str(value)
    if not s or "," in s or '"' in s or "\n" in s or "\r" in s or s.startswith("\\."):
        return '"' + s.replace('"', '""') + '"'
    return s


def csv_fragments(rows: Iterable[Sequence[Any]]) -> np.ndarray:
    """Each row's fields as one CSV fragment; built once per distinct value, then gathered per event."""
    return np.array([",".join(map(csv_field, row)) for row in rows], dtype=object)


def copy_lines(conn: psycopg.Connection, statement: str, lines: np.ndarray) -> None:
    data = ("\n".join(lines.tolist()) + "\n").encode() if len(lines) else b""
    with conn.cursor().copy(statement) as copy:
        copy.write(data)
