"""The referenced entity as it was at the event's time, from analytics.entity_versions (kept by triggers)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import psycopg

from analytics.enrich.frames import copy_out
from analytics.sql import load_sql


def snapshot_at_event_time(conn: psycopg.Connection, events: pd.DataFrame) -> tuple[pd.Series, int]:
    """JSON text of each event's entity version valid at occurred_at; (series aligned to events, entities seen)."""
    out = pd.Series(np.full(len(events), None, dtype=object), index=events.index)
    refs = events.loc[events["entity_id"].notna() & events["entity_type"].notna(), ["entity_type", "entity_id"]]
    if refs.empty:
        return out, 0
    pairs = refs.drop_duplicates()
    versions = copy_out(
        conn,
        load_sql("enrich/copy_entity_versions"),
        {"types": pairs["entity_type"].tolist(), "ids": pairs["entity_id"].tolist()},
        ("entity_type", "entity_id", "valid_from_us", "data"),
        {"entity_type": object, "entity_id": object, "valid_from_us": "int64", "data": object},
    )
    if versions.empty:
        return out, len(pairs)
    left = events.loc[refs.index, ["entity_type", "entity_id", "occurred_us"]].copy()
    left["_row"] = np.arange(len(left))
    left = left.sort_values("occurred_us", kind="stable")
    versions = versions.sort_values("valid_from_us", kind="stable")
    by = ["entity_type", "entity_id"]
    hit = pd.merge_asof(
        left, versions, left_on="occurred_us", right_on="valid_from_us", by=by, direction="backward"
    ).set_index("_row")["data"]
    # An event stamped before the entity's first known version (clock skew) gets that first version.
    first = versions.drop_duplicates(by, keep="first").set_index(by)["data"]
    missing = hit.isna()
    if missing.any():
        keys = pd.MultiIndex.from_frame(left.set_index("_row").loc[missing[missing].index, by])
        hit.loc[missing] = first.reindex(keys).to_numpy()
    out.loc[refs.index] = hit.sort_index().to_numpy()
    return out, len(pairs)
