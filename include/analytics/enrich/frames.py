"""CSV out of PostgreSQL COPY into a frame, the fastest bulk path psycopg offers without pyarrow."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

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
