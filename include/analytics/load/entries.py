"""Stream entries → COPY lines for analytics.events, both entry formats.

Current entries (`copyrow`): `id`, `r` (the event's COPY line) and, only for an event with an idempotency
key, `k`; the line goes to COPY as it is, with `\\t<stream id>\\n` appended. Entries written before that
format (`id`, `e`: the record as JSON) are decoded and re-encoded; they take this slower path only until the
stream has drained past them.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import orjson

from analytics.collect import copyrow
from analytics.load.rejections import loader_rejection
from analytics.load.stream_reader import Entry, as_dict

COLUMNS = (*copyrow.COLUMNS, "stream_id")
_LEGACY_KEYS = tuple(copyrow.JSON_COLUMNS.get(c, c) for c in copyrow.COLUMNS)  # the JSON record's keys
_legacy_values = itemgetter(*_LEGACY_KEYS)
_TEXT_TYPES = frozenset((str, type(None)))
_ID, _SOURCE, _RECEIVED_AT, _KEY = (COLUMNS.index(c) for c in ("id", "source", "received_at", "idempotency_key"))

_TAB, _NL = b"\t", b"\n"


class Unloadable(Exception):
    """A stream entry that can never load; `reason` is the counted category."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass
class Batch:
    """A batch of entries as COPY input, plus what needs more than COPY."""

    entries: Sequence[Entry]
    data: bytes  # the COPY input: one line per loadable entry, newline-terminated, stream id last
    count: int  # lines in `data`
    keyed: list[bytes]  # the lines (stream id optional) of events with an idempotency key
    rejects: list[dict[str, Any]]  # insert_rejected_event parameters of entries that can never load
    payloads: list[bytes] | None = None  # each entry's `r`, when every entry has one
    _lines: list[bytes] | None = None

    def __post_init__(self) -> None:
        # Work done in the reading thread, off the loader's critical path.
        self.ids = [sid for sid, _ in self.entries]
        self.claims = key_claims(self.keyed)
        self.latest = self.latest_received_at()

    def lines(self) -> list[bytes]:
        """`data` line by line (the staged path splits a batch to isolate bad rows)."""
        if self._lines is None:
            assert self.payloads is not None
            self._lines = [b"%b\t%b\n" % (r, sid) for (sid, _), r in zip(self.entries, self.payloads, strict=True)]
        return self._lines

    def latest_received_at(self, failed: Collection[bytes] = ()) -> str | None:
        """The largest received_at among the lines loaded (all but `failed`)."""
        if self._lines is None and not failed:
            return latest_received_at(self.payloads or [])
        return latest_received_at([line for line in self.lines() if line not in failed])

    def fields(self, line: bytes) -> dict[bytes, bytes]:
        """The entry a line came from."""
        sid = stream_id(line)
        return as_dict(next(f for s, f in self.entries if s == sid))


def to_lines(entries: Sequence[Entry]) -> Batch:
    """Turn stream entries into COPY input; entries that can never load become rejections."""
    try:
        if entries and type(entries[0][1]) is list:
            if not all([f[2] == b"r" for _, f in entries]):
                raise KeyError("r")
            data = b"".join([x for sid, f in entries for x in (f[3], _TAB, sid, _NL)])
            payloads = [f[3] for _, f in entries]
            keyed = [f[3] for _, f in entries if len(f) > 4]
        else:
            data = b"".join([x for sid, f in entries for x in (f[b"r"], _TAB, sid, _NL)])
            payloads = [f[b"r"] for _, f in entries]
            keyed = [f[b"r"] for _, f in entries if b"k" in f]
    except (KeyError, IndexError, TypeError):  # a legacy entry (or a bad one) among them
        return _careful([(sid, as_dict(f)) for sid, f in entries])
    # A raw newline or CR in a line could split it into rows COPY would accept: the collector escapes
    # them, so such an entry was not written by it; the careful path rejects it.
    if data.count(_NL) == len(entries) and b"\r" not in data:
        return Batch(entries, data, len(entries), keyed, [], payloads)
    return _careful([(sid, as_dict(f)) for sid, f in entries])


def _careful(entries: Sequence[Entry]) -> Batch:
    lines: list[bytes] = []
    keyed: list[bytes] = []
    rejects: list[dict[str, Any]] = []
    for sid, fields in entries:
        line = fields.get(b"r")
        if line is not None and b"\n" not in line and b"\r" not in line:
            line = b"%b\t%b\n" % (line, sid)
            lines.append(line)
            if b"k" in fields:
                keyed.append(line)
            continue
        try:
            row = _legacy_row(sid, fields)
            line = copyrow.text_line(row)
        except Unloadable as exc:
            rejects.append(loader_rejection(sid.decode(), fields, exc.reason, str(exc)))
            continue
        except ValueError as exc:  # text PostgreSQL cannot store
            rejects.append(loader_rejection(sid.decode(), fields, "invalid", str(exc)))
            continue
        lines.append(line)
        if row[_KEY] is not None:
            keyed.append(line)
    return Batch(entries, b"".join(lines), len(lines), keyed, rejects, None, lines)


def _legacy_row(sid: bytes, fields: dict[bytes, bytes]) -> tuple:
    if not fields:
        raise Unloadable("entry_deleted", "entry deleted from the stream before it loaded")
    if b"r" in fields:
        raise Unloadable("unparseable", "COPY line holds a raw newline or carriage return")
    return decode_entry(sid.decode(), fields)


def decode_entry(stream_id: str, fields: dict[bytes, bytes]) -> tuple:
    """A legacy entry (`e`: the record as JSON) → one row (COLUMNS order); raises Unloadable."""
    raw = fields.get(b"e")
    if raw is None:
        raise Unloadable("unparseable", "entry has neither an 'r' nor an 'e' field")
    try:
        rec = orjson.loads(raw)
    except orjson.JSONDecodeError:
        try:  # orjson refuses a few valid documents (integers beyond 64 bits)
            rec = json.loads(raw)
        except ValueError as exc:
            raise Unloadable("unparseable", f"payload is not JSON: {exc}") from None
    if type(rec) is not dict:
        raise Unloadable("unparseable", "payload is not a JSON object")
    event_id = fields.get(b"id")
    if event_id:
        rec["id"] = event_id.decode()
    rec["props"], rec["attribution"] = (copyrow.json_text(rec.get(k)) for k in ("props", "attribution"))
    try:  # the collector wrote every key; itemgetter is the fast way to take them
        row = (*_legacy_values(rec), stream_id)
    except KeyError:
        row = (*(rec.get(k) for k in _LEGACY_KEYS), stream_id)
    if not _TEXT_TYPES.issuperset(map(type, row)):
        name, value = next((c, v) for c, v in zip(COLUMNS, row, strict=True) if type(v) not in _TEXT_TYPES)
        raise Unloadable("invalid", f"{name} must be a string, got {type(value).__name__}")
    return row


def key_claims(lines: Sequence[bytes]) -> dict[str, list[str]]:
    """claim_batch_idempotency_keys' arrays for keyed lines. A line whose key is NULL is left out, and so is
    one that cannot be read: COPY refuses it too, and the staged path claims keys in SQL."""
    out: dict[str, list[str]] = {"sources": [], "keys": [], "ids": [], "received_at": []}
    for line in lines:
        values = line.split(b"\t")
        try:
            key = copyrow.unescape(values[_KEY])
            claim = (
                copyrow.unescape(values[_SOURCE]),
                copyrow.unescape(values[_ID]),
                copyrow.unescape(values[_RECEIVED_AT]),
            )
        except (IndexError, UnicodeDecodeError):
            continue
        if key is not None:
            out["keys"].append(key)
            out["sources"].append(claim[0])
            out["ids"].append(claim[1])
            out["received_at"].append(claim[2])
    return out


def stream_id(line: bytes) -> bytes:
    """The stream id the loader appended to a line."""
    return line[line.rindex(b"\t") + 1 : -1]


def latest_received_at(lines: Sequence[bytes]) -> str | None:
    """The largest received_at among the lines: their first column, ISO 8601 UTC text, so the largest line
    holds it (a line that loaded has one; NULL would have failed it)."""
    if not lines:
        return None
    latest = max(lines).partition(b"\t")[0]
    return latest.decode(errors="replace") if latest != b"\\N" else None
