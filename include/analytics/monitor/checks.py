"""The monitor's checks: each reads one part of the pipeline, adds its figures and, past a threshold, an Alert.

Counters come from analytics.collect.stats (the same reads as /v1/admin/stats and the dashboard). An alert's key
names the condition (and where: the source) so that analytics.monitor.alerts.conditions pages once, reminds
after the cooldown, and resolves.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from psycopg.rows import namedtuple_row

from analytics.collect.keys import Keys
from analytics.collect.stats import (
    STUCK_SAMPLE,
    accepted_by_hour,
    collector_counts,
    collector_summary,
    last_load,
    stream_health,
)
from analytics.config import Settings
from analytics.load.watermark import loader_watermark
from analytics.monitor.alerts.model import RUNBOOK, Alert
from analytics.redis_client import durability_of, pool_for
from analytics.sql import load_sql

log = logging.getLogger(__name__)

ENRICH_LOOKBACK = timedelta(hours=24)
HOUR = timedelta(hours=1)
COUNT_LOOKBACK = timedelta(hours=24)  # within the collector's counters' life (STATS_TTL_SECONDS, 26 h)
# An hour is compared once the loader's watermark is this far past its end: a collector whose clock runs behind
# Redis' by more than the watermark's margin cannot have its last events of the hour still on their way.
COUNT_SETTLE = timedelta(minutes=5)
COUNT_LINES = 6  # hours named in the alert's message; the rest are in analytics.count_checks


@dataclass
class Report:
    figures: dict[str, Any] = field(default_factory=dict)
    findings: list[Alert] = field(default_factory=list)
    checked: set[str] = field(default_factory=set)


def alert(kind: str, key_suffix: str, title: str, lines: list[str], first_check: str, **details: Any) -> Alert:
    name = kind.removeprefix("monitor.")
    return Alert(
        kind=kind,
        alert_key=f"{kind}:{key_suffix}" if key_suffix else kind,
        title=title,
        message="\n".join(lines),
        severity="warning",
        first_check=first_check,
        runbook=f"{RUNBOOK}#{name.split('.')[0].replace('_', '-')}",
        details=details,
        dag_id="events_monitor",
    )


def _rate(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def check_collector(report: Report, client: redis.Redis, s: Settings, now: datetime) -> None:
    window = s.monitor_window_minutes * 60
    keys = Keys.from_settings(s)
    summary = collector_summary(client, keys, window, now.timestamp())
    report.figures["collector"] = summary
    by_source: dict[str, dict[str, Any]] = defaultdict(
        lambda: {
            "accepted": 0,
            "duplicate": 0,
            "rejected": 0,
            "reasons": defaultdict(int),
            "types": defaultdict(lambda: [0, 0]),
        }
    )
    for r in collector_counts(client, keys, window, now.timestamp()):
        src = by_source[r.source or "(none)"]
        if r.outcome not in ("accepted", "duplicate", "rejected"):
            continue
        src[r.outcome] += r.count
        if r.outcome == "duplicate":
            src["reasons"][r.reason] += r.count
        if r.outcome in ("accepted", "duplicate"):
            t = src["types"][r.event_type or "(none)"]
            t[0] += r.count
            t[1] += r.count if r.outcome == "duplicate" else 0
    minutes = s.monitor_window_minutes
    for source, c in sorted(by_source.items()):
        checks = c["accepted"] + c["duplicate"]
        rate = _rate(c["duplicate"], checks)
        if checks < s.monitor_min_checks or rate <= s.monitor_dedup_rate_max:
            continue
        types = sorted(c["types"].items(), key=lambda kv: -kv[1][1])
        report.findings.append(
            alert(
                "monitor.collector_dedup_rate",
                source,
                f"Collector deduplication rate {rate:.1%} for source '{source}' (threshold {s.monitor_dedup_rate_max:.0%})",
                [
                    f"Last {minutes} min: {c['duplicate']:,} of {checks:,} events from source '{source}' were duplicates.",
                    "By reason: " + ", ".join(f"{k} {v:,}" for k, v in sorted(c["reasons"].items())),
                    "By event type: "
                    + ", ".join(f"{et} {_rate(d, n):.0%} ({d:,}/{n:,})" for et, (n, d) in types[:5] if d),
                ],
                "Is a client of this source retrying or double-sending? Reason idempotency_key = the same key "
                "re-sent (retries, fine if rare); fingerprint = identical events within 60 s without a key "
                "(double-fired handlers). Compare GET /v1/admin/stats bySource.",
                source=source,
                rate=round(rate, 4),
                checks=checks,
                duplicates=c["duplicate"],
                byReason=dict(c["reasons"]),
                byEventType={et: {"checks": n, "duplicates": d} for et, (n, d) in types},
            )
        )
    total = summary["accepted"] + summary["duplicatesFound"] + summary["rejected"]
    rej = _rate(summary["rejected"], total)
    if total >= s.monitor_min_checks and rej > s.monitor_rejection_rate_max:
        report.findings.append(
            alert(
                "monitor.collector_rejection_rate",
                "",
                f"Collector rejection rate {rej:.1%} (threshold {s.monitor_rejection_rate_max:.0%})",
                [
                    f"Last {minutes} min: {summary['rejected']:,} of {total:,} events were rejected.",
                    "By reason: " + ", ".join(f"{k} {v:,}" for k, v in sorted(summary["rejectedByReason"].items())),
                    "By source: "
                    + ", ".join(
                        f"{k} {v['rejected']:,}" for k, v in sorted(summary["bySource"].items()) if v["rejected"]
                    ),
                ],
                "Which reason and source dominate? A new client release sending a changed schema is the usual "
                "cause; the payloads are in analytics.rejected_events.",
                rate=round(rej, 4),
                rejected=summary["rejected"],
                byReason=summary["rejectedByReason"],
            )
        )
    report.checked |= {"monitor.collector_dedup_rate", "monitor.collector_rejection_rate"}


def check_stream(report: Report, client: redis.Redis, s: Settings, now: datetime) -> None:
    """Lag and stuck entries of each stream the loader drains (one per shard; alerts keyed by the stream then)."""
    streams = [k.stream for k in Keys.from_settings(s).loaded_keys]
    idle_ms = s.monitor_pending_age_max_seconds * 1000
    healths = [stream_health(client, st, s.consumer_group, now.timestamp(), stuck_idle_ms=idle_ms) for st in streams]
    report.figures["stream"] = healths[0] if len(healths) == 1 else _all_streams(healths)
    if len(healths) > 1:
        report.figures["streams"] = healths
    for h in healths:
        _check_stream(report, h, s, "" if len(healths) == 1 else h["stream"])
    report.checked |= {"monitor.stream_lag", "monitor.stuck_pending"}
    _orphan_shards(report, client, s)


# Shard streams looked at beyond the configured count: Keys.shard(n) for n below this.
ORPHAN_SHARDS_SCAN = 16


def _orphan_shards(report: Report, client: redis.Redis, s: Settings) -> None:
    """Entries in shard streams the loader does not drain: ANALYTICS_STREAM_SHARDS lowered (or sharding turned off)
    before the shards that went away were empty. Nothing loads them and no other check reads them."""
    keys = Keys.from_settings(s)
    loaded = {k.stream for k in keys.loaded_keys}
    candidates = [k.stream for k in (keys.shard(n) for n in range(ORPHAN_SHARDS_SCAN)) if k.stream not in loaded]
    pipe = client.pipeline(transaction=False)
    for stream in candidates:
        pipe.xlen(stream)
    left = {stream: n for stream, n in zip(candidates, pipe.execute(), strict=True) if n}
    report.figures["orphanShards"] = left
    if left:
        total = sum(left.values())
        report.findings.append(
            alert(
                "monitor.orphan_shards",
                "",
                f"{total:,} accepted events wait in shard streams nothing loads "
                f"(ANALYTICS_STREAM_SHARDS={s.stream_shards})",
                [f"{stream}: {n:,} entries" for stream, n in sorted(left.items())],
                "Set ANALYTICS_STREAM_SHARDS back to cover these shards (collector and Airflow) until events_load has "
                "drained them, then lower it with the collector stopped (RUNBOOK orphan-shards).",
                streams=left,
            )
        )
    report.checked.add("monitor.orphan_shards")


def _all_streams(healths: list[dict[str, Any]]) -> dict[str, Any]:
    """Shards summed (length, lag, pending, stuck), the other figures the most lagging shard's."""
    out = dict(max(healths, key=lambda h: (h["lag"], h["pending"])))
    for name in ("length", "lag", "pending", "stuckPending"):
        out[name] = sum(h[name] for h in healths)
    return out


def _check_stream(report: Report, h: dict[str, Any], s: Settings, key_suffix: str) -> None:
    if h["lag"] > s.monitor_lag_max:
        report.findings.append(
            alert(
                "monitor.stream_lag",
                key_suffix,
                f"Stream lag {h['lag']:,} entries (threshold {s.monitor_lag_max:,})",
                [f"{h['lag']:,} entries of {h['stream']} not yet delivered to group {h['group']}."],
                "Is events_load running and finishing? Check its recent runs, then `redis-cli XINFO GROUPS "
                f"{h['stream']}`.",
                lag=h["lag"],
            )
        )
    # Idle time in the group, not age since XADD: a healthy loader catching up after an outage holds entries
    # hours old for seconds each; only an entry nobody acknowledged for the threshold is stuck.
    idle = h["longestIdleSeconds"]
    if h["stuckPending"]:
        more = "+" if h["stuckPending"] >= STUCK_SAMPLE else ""
        report.findings.append(
            alert(
                "monitor.stuck_pending",
                key_suffix,
                f"Stuck batch: a stream entry pending unacknowledged for {idle / 60:.0f} min",
                [
                    f"{h['stuckPending']}{more} of {h['pending']:,} pending entries of group {h['group']} have gone "
                    f"unacknowledged for over {s.monitor_pending_age_max_seconds} s; longest "
                    f"{h['longestIdleId']} ({idle:.0f} s, held by consumer {h['longestIdleConsumer']}).",
                ],
                f"`redis-cli XPENDING {h['stream']} {h['group']} IDLE {s.monitor_pending_age_max_seconds * 1000} "
                "- + 10` shows the consumer holding them; the next events_load run reclaims entries idle longer than "
                "ANALYTICS_RECLAIM_IDLE_MS. If they come back every run, one entry is failing the load: see the "
                "events_load log.",
                pending=h["pending"],
                stuckPending=h["stuckPending"],
                longestIdleId=h["longestIdleId"],
                longestIdleSeconds=idle,
                consumer=h["longestIdleConsumer"],
                oldestPendingId=h["oldestPendingId"],
            )
        )


def check_redis_durability(report: Report, client: redis.Redis, s: Settings, now: datetime) -> None:
    """Redis would lose accepted events on a restart or at maxmemory: AOF off, or a maxmemory-policy that evicts
    (the risks /readyz reports). Checked on each server holding a stream the loader drains; off with
    ANALYTICS_MONITOR_REQUIRE_DURABLE_REDIS=0 (a lab Redis)."""
    by_pool: dict[int, list[str]] = {}  # the streams each server holds: one INFO pair per server, not per stream
    for keys in Keys.from_settings(s).loaded_keys:
        by_pool.setdefault(id(pool_for(client, keys.stream)), []).append(keys.stream)
    servers: dict[str, dict[str, Any]] = {}
    for streams in by_pool.values():
        found = durability_of(client, streams[0])
        servers[found["server"]] = found | {"streams": streams}
    report.figures["redisDurability"] = list(servers.values())
    if s.monitor_require_durable_redis:
        for address, found in servers.items():
            if found["durable"]:
                continue
            report.findings.append(
                alert(
                    "monitor.redis_not_durable",
                    "" if len(servers) == 1 else address,
                    f"Redis at {address} is not durable: a restart or a full memory loses accepted events",
                    [
                        f"Redis at {address} holds {', '.join(found['streams'])}, where accepted events wait until "
                        "events_load stores them. What it risks:",
                        *(f"- {risk}" for risk in found["risks"]),
                    ],
                    f"`redis-cli {_cli_target(address)} CONFIG GET appendonly` and `CONFIG GET maxmemory-policy`; make it "
                    "durable (RUNBOOK redis-not-durable), or set ANALYTICS_MONITOR_REQUIRE_DURABLE_REDIS=0 for a lab "
                    "Redis.",
                    server=address,
                    aof=found["aof"],
                    maxmemoryPolicy=found["maxmemoryPolicy"],
                )
            )
    report.checked.add("monitor.redis_not_durable")


def _cli_target(address: str) -> str:
    """redis-cli's options for a server as `durability_of` names it: a unix socket's path, or host:port."""
    if address.startswith("/"):
        return f"-s {address}"
    host, _, port = address.rpartition(":")
    return f"-h {host} -p {port}"


def stream_marker_key(stream: str) -> str:
    """The key beside each stream that only a loss of Redis' data removes (same hash tag, so the same node)."""
    return f"{stream}:marker"


def _marker(client: redis.Redis, stream: str) -> str:
    """The stream's marker, set now (a random value, no expiry) if there is none: one SET NX GET."""
    fresh = uuid.uuid4().hex
    value = client.set(stream_marker_key(stream), fresh, nx=True, get=True)
    return fresh if value is None else value.decode() if isinstance(value, bytes) else str(value)


def check_stream_history(report: Report, client: redis.Redis, conn, s: Settings, now: datetime) -> None:
    """Redis lost accepted events. Two signs, compared with the last pass's (analytics.stream_marks):
    - the stream's entries-added counter (figures from `check_stream`) went back: it only grows (acknowledging and
      trimming leave it, an AOF restart keeps it), so Redis lost the stream or its newest entries: a restart
      without the AOF or from an old snapshot, a failover to a replica behind, a FLUSHALL, a DEL;
    - the marker key this check set beside the stream is gone or another: Redis lost its data even if the stream
      has since grown past its old count.
    The rejected streams are watched too (a refused event is kept, with its reason, in Redis until it is copied).
    What was not loaded then is gone. Each loss is recorded (analytics.stream_losses) and alerted for
    `monitor_stream_loss_hours`: a loss is an event, not a state that clears on the next pass."""
    healths = report.figures.get("streams") or [report.figures.get("stream") or {"error": "no figures"}]
    if any("error" in h for h in healths):
        return  # the stream check could not read Redis and says so itself; this one stays as it was, unchecked
    event_streams = len(healths)
    rejected_of = {k.stream: k.rejected_stream for k in Keys.from_settings(s).loaded_keys}
    rejected = set(rejected_of.values())
    healths = healths + [stream_health(client, st, s.consumer_group, now.timestamp()) for st in sorted(rejected)]
    streams = [h["stream"] for h in healths]
    _compare_with_last_pass(conn, healths, {st: _marker(client, st) for st in streams}, now)

    since = now - timedelta(hours=s.monitor_stream_loss_hours)
    cur = conn.cursor(row_factory=namedtuple_row)
    losses: dict[str, list[Any]] = defaultdict(list)
    for row in cur.execute(
        load_sql("monitor/select_recent_stream_losses"), {"streams": streams, "since": since, "now": now}
    ):
        losses[row.stream].append(row)
    report.figures["streamLosses"] = [
        {"stream": st, "detectedAt": found[0].detected_at, "count": len(found)} for st, found in sorted(losses.items())
    ]
    # One page per event stream, its rejections' loss a line of it (one Redis losing its data loses both); a rejected
    # stream lost on its own pages by itself.
    with_events = {rejected_of.get(st) for st in losses if st not in rejected}
    for st, found in sorted(losses.items()):
        if st in rejected and st in with_events:
            continue
        suffix = "" if st not in rejected and event_streams == 1 else st  # the one event stream: the plain key
        also = losses.get(rejected_of.get(st, ""))
        report.findings.append(_stream_lost(found, s, suffix, kept=st in rejected, rejections=also))
    report.checked.add("monitor.stream_lost")


def _compare_with_last_pass(conn, healths: list[dict[str, Any]], markers: dict[str, str], now: datetime) -> None:
    """Record a loss for each stream whose entries-added went back or whose marker changed since the last pass's mark,
    then make this pass's view the mark; in one transaction, the marks locked."""
    streams = [h["stream"] for h in healths]
    with conn.transaction():
        cur = conn.cursor(row_factory=namedtuple_row)
        marks = {m.stream: m for m in cur.execute(load_sql("monitor/select_stream_marks"), {"streams": streams})}
        for h in healths:
            st, added, mark = h["stream"], h["entriesAdded"], marks.get(h["stream"])
            if mark is not None and mark.observed_at > now:
                continue  # a pass that overlapped this one read Redis later and compared already
            if mark is not None:
                marker_lost = mark.marker is not None and mark.marker != markers[st]
                went_back = added is not None and mark.entries_added is not None and added < mark.entries_added
                if marker_lost or went_back:
                    conn.execute(
                        load_sql("monitor/insert_stream_loss"),
                        {
                            "stream": st,
                            "now": now,
                            "marker_lost": marker_lost,
                            "entries_added_before": mark.entries_added,
                            "entries_added_after": added,
                            "last_id_before": mark.last_id,
                            "last_id_after": h["lastGeneratedId"],
                            "observed_before_at": mark.observed_at,
                            "undelivered_before": mark.undelivered,
                            "pending_before": mark.pending,
                        },
                    )
            conn.execute(
                load_sql("monitor/upsert_stream_mark"),
                {
                    "stream": st,
                    "entries_added": added,
                    "last_id": h["lastGeneratedId"],
                    "marker": markers[st],
                    "undelivered": h["lag"],
                    "pending": h["pending"],
                    "now": now,
                },
            )


def _stream_lost(found: list[Any], s: Settings, key_suffix: str, *, kept: bool, rejections: list[Any] | None) -> Alert:
    """The page for one stream's losses (`found`, newest first: select_recent_stream_losses rows). `kept`: a stream
    of kept rejections, not of accepted events; `rejections`: the losses of an event stream's rejected stream."""
    x = found[0]
    waiting = x.undelivered_before + x.pending_before
    what = "kept rejections (refused events, with their reasons)" if kept else "accepted events"
    counts = (
        f"{x.entries_added_before:,} entries added"
        if x.entries_added_before is not None
        else "no entries-added figure (Redis < 7)"
    )
    now_counts = f"{x.entries_added_after:,}" if x.entries_added_after is not None else "no figure"
    lines = [
        f"Redis lost entries of stream {x.stream}. At the monitor's pass of {x.observed_before_at:%Y-%m-%d %H:%M:%S} "
        f"UTC it had {counts} (newest id {x.last_id_before}); at {x.detected_at:%Y-%m-%d %H:%M:%S} UTC, {now_counts} "
        f"(newest id {x.last_id_after or 'none: the stream is gone'})"
        + ("; and the marker key the monitor keeps beside it was gone: Redis lost its data." if x.marker_lost else "."),
        f"The {what} not yet loaded when it happened are gone: {waiting:,} were waiting at that pass "
        f"({x.undelivered_before:,} not yet read by events_load, {x.pending_before:,} read and not acknowledged), "
        "plus what the collector added after it and before the loss. The loader's watermark does not know: the "
        f"minutes between the two passes may be short of those {'rejections' if kept else 'events'}.",
    ]
    if rejections:
        r = rejections[0]
        lines.append(
            f"Its kept rejections ({r.stream}) too: {r.undelivered_before + r.pending_before:,} waiting at that pass "
            "to be copied to analytics.rejected_events (refused events, with their reasons)."
        )
    if len(found) > 1:
        lines.append(f"{len(found)} losses of this stream in the last {s.monitor_stream_loss_hours} h.")
    return alert(
        "monitor.stream_lost",
        key_suffix,
        f"Redis lost {what.split(' (')[0]} of stream {x.stream} ({waiting:,} waiting at the pass before)",
        lines,
        "Did Redis restart without its AOF, fail over, evict, or get flushed? `redis-cli INFO server` "
        "(uptime_in_seconds), `redis-cli INFO persistence` (aof_enabled); then make it durable (RUNBOOK "
        f"stream-lost). The alert stays {s.monitor_stream_loss_hours} h (ANALYTICS_MONITOR_STREAM_LOSS_HOURS); "
        "analytics.stream_losses keeps the record.",
        markerLost=x.marker_lost,
        entriesAddedBefore=x.entries_added_before,
        entriesAddedAfter=x.entries_added_after,
        lastIdBefore=x.last_id_before,
        lastIdAfter=x.last_id_after,
        observedBeforeAt=x.observed_before_at,
        detectedAt=x.detected_at,
        undeliveredBefore=x.undelivered_before,
        pendingBefore=x.pending_before,
    )


def check_load(report: Report, conn, s: Settings, now: datetime) -> None:
    last = last_load(conn)
    stream_len = report.figures.get("stream", {}).get("length", 0)
    finished = last["finished_at"] if last else None
    age_min = (now - finished).total_seconds() / 60 if finished else None
    report.figures["load"] = {"lastFinishedAt": finished, "minutesSince": age_min}
    stale = (age_min is not None and age_min > s.monitor_load_stale_minutes) or (finished is None and stream_len)
    if stale:
        since = f"{age_min:.0f} min ago ({finished:%Y-%m-%d %H:%M} UTC)" if finished else "never"
        report.findings.append(
            alert(
                "monitor.load_stale",
                "",
                f"No successful load for {age_min:.0f} min" if finished else "No load has ever completed",
                [f"Last successful events_load run finished {since}; stream length {stream_len:,}."],
                "Is the scheduler running and events_load unpaused? `airflow dags list-runs events_load` "
                "then the failing task's log.",
                lastFinishedAt=finished,
                minutesSince=age_min,
            )
        )
    report.checked.add("monitor.load_stale")


def _whole_hour(t: datetime) -> datetime:
    """The UTC hour `t` falls in (whatever zone the database session gave it: +05:30 has other whole hours)."""
    return t.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class CountCheck:
    """One hour's comparison, as analytics.count_checks keeps it (`missing` = accepted - stored - dropped - set_aside)."""

    hour: datetime
    accepted: int
    stored: int
    dropped: int
    set_aside: int
    missing: int
    checked_at: datetime


def check_counts(report: Report, client: redis.Redis, conn, s: Settings, now: datetime) -> None:
    """Accepted against stored, per whole hour the loader has passed (received_at < its watermark): every event the
    collector counted as accepted must be a row of analytics.events, an event dropped for an idempotency key an
    earlier event holds (analytics.dropped_events) or an entry the loader set aside (rejected_events, stage loader).
    An hour is compared once, and again at most hourly while it does not add up; what is missing pages."""
    watermark = loader_watermark(conn, s)
    since_row = conn.execute(load_sql("monitor/select_counts_since")).fetchone()
    if watermark is None or since_row is None:
        # Nothing to compare yet, or no telling how far the loader got (a stream never loaded, e.g. a shard just
        # added): a firing page stays as it is, neither resolved nor paged again.
        report.figures["counts"] = None
        return
    first = max(_whole_hour(since_row[0]) + HOUR, _whole_hour(now) - COUNT_LOOKBACK)
    done = {
        _whole_hour(row[0]): CountCheck(_whole_hour(row[0]), *row[1:])
        for row in conn.execute(load_sql("monitor/select_count_checks"), {"since": first})
    }
    hours, hour = [], first
    while hour + HOUR + COUNT_SETTLE <= min(watermark, now):
        last = done.get(hour)
        if last is None or (last.missing != 0 and last.checked_at <= now - HOUR):
            hours.append(hour)
        hour += HOUR
    if hours:
        accepted = accepted_by_hour(client, Keys.from_settings(s), hours)
        stored = {
            row[0]: row[1:]
            for row in conn.execute(
                load_sql("monitor/count_stored_by_hour"), {"start": hours[0], "end": hours[-1] + HOUR}
            )
        }
        with conn.transaction():
            for h in hours:
                rows, dropped, set_aside = stored[h]
                check = CountCheck(
                    h, accepted[h], rows, dropped, set_aside, accepted[h] - rows - dropped - set_aside, now
                )
                conn.execute(load_sql("monitor/upsert_count_check"), vars(check))
                done[h] = check
    missing = [c for c in done.values() if c.hour >= first and c.missing > 0]
    report.figures["counts"] = {
        "since": first,
        "checkedUpTo": hour,
        "hoursChecked": len(hours),
        "missing": sum(c.missing for c in missing),
        "hoursMissing": len(missing),
    }
    if missing:
        report.findings.append(_events_missing(sorted(missing, key=lambda c: c.hour), watermark))
    report.checked.add("monitor.events_missing")  # only once it ran: a check that failed leaves its alert as it was


def _events_missing(checks: list[CountCheck], watermark: datetime) -> Alert:
    total = sum(c.missing for c in checks)
    lines = [
        f"{c.hour:%Y-%m-%d %H:00} UTC: {c.accepted:,} accepted, {c.stored:,} stored, {c.dropped:,} dropped as "
        f"idempotency-key duplicates, {c.set_aside:,} set aside by the loader: {c.missing:,} missing"
        for c in checks[-COUNT_LINES:]
    ]
    if len(checks) > COUNT_LINES:
        lines.insert(0, f"... and {len(checks) - COUNT_LINES} earlier hours (analytics.count_checks)")
    mark = watermark.astimezone(UTC)
    lines.append(f"Everything received before the loader's watermark ({mark:%Y-%m-%d %H:%M} UTC) was loaded.")
    return alert(
        "monitor.events_missing",
        "",
        f"{total:,} accepted event{'s are' if total > 1 else ' is'} not in analytics.events "
        f"({len(checks)} hour{'s' if len(checks) > 1 else ''})",
        lines,
        "Did Redis lose data (monitor.stream_lost)? Else the loader acknowledged entries it did not store: its "
        "logs for those hours, and `SELECT * FROM analytics.count_checks WHERE missing <> 0 ORDER BY hour`.",
        hours=[c.hour for c in checks],
        missing=total,
    )


def check_nightly(report: Report, conn, s: Settings, now: datetime) -> None:
    row = conn.execute(load_sql("monitor/select_last_dedup_run")).fetchone()
    _nightly_overdue(report, conn, s, now, row[3] if row else None)
    if row is None:
        report.figures["nightly"] = None
        report.checked.add("monitor.nightly_dedup_rate")
        return
    run_id, start, end, finished, stats = row
    scanned, marked = stats.get("scanned", 0), stats.get("marked", 0)
    rate = _rate(marked, scanned)
    report.figures["nightly"] = {
        "runId": run_id,
        "finishedAt": finished,
        "scanned": scanned,
        "marked": marked,
        "rate": rate,
    }
    if scanned >= s.monitor_min_checks and rate > s.monitor_nightly_dedup_rate_max:
        report.findings.append(
            alert(
                "monitor.nightly_dedup_rate",
                "",
                f"Nightly deduplication marked {rate:.1%} of events (threshold {s.monitor_nightly_dedup_rate_max:.0%})",
                [
                    f"Run {run_id} over [{start:%Y-%m-%d %H:%M}, {end:%Y-%m-%d %H:%M}) UTC: {marked:,} of {scanned:,} marked."
                ],
                "Which event types and sources? `SELECT event_type, source, count(*) FROM analytics.events "
                "WHERE props_json ? '_duplicate' AND received_at >= <start> GROUP BY 1, 2 ORDER BY 3 DESC`.",
                runId=run_id,
                scanned=scanned,
                marked=marked,
                rate=round(rate, 4),
            )
        )
    report.checked.add("monitor.nightly_dedup_rate")


def _nightly_overdue(report: Report, conn, s: Settings, now: datetime, last_finished: datetime | None) -> None:
    """No deduplication run for `monitor_nightly_overdue_hours` (26: the daily run and two hours' grace), counted from
    the install when none ever ran: the DAG is paused, not scheduled, or dies without a word (a task killed by the OS
    runs no failure callback). Its failures page on their own; this is the silence."""
    since = last_finished
    if since is None:
        since = conn.execute(load_sql("monitor/select_installed_at")).fetchone()[0]
    limit = timedelta(hours=s.monitor_nightly_overdue_hours)
    if since is not None and now - since > limit:
        hours = (now - since) / timedelta(hours=1)
        what = f"the last one finished {since.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if last_finished else "none ever"
        report.findings.append(
            alert(
                "monitor.nightly_overdue",
                "",
                f"No deduplication run for {hours:.0f} h (events_dedup_nightly runs daily at 02:00 UTC)",
                [
                    f"Deduplication runs recorded in analytics.job_runs: {what}; the limit is {limit.total_seconds() / 3600:g} h."
                ],
                "Is events_dedup_nightly unpaused and its last run's state? `airflow dags list-runs events_dedup_nightly`; "
                "a run that failed without a page was killed (out of memory?): its task log's last lines.",
                lastFinishedAt=last_finished,
                hours=round(hours, 1),
            )
        )
    report.checked.add("monitor.nightly_overdue")


def check_enrich(report: Report, conn, s: Settings, now: datetime) -> None:
    watermark = loader_watermark(conn, s)
    if watermark is None:
        report.figures["enrich"] = None
        report.checked.add("monitor.enrich_backlog")
        return
    overdue_before = watermark - timedelta(minutes=s.monitor_enrich_grace_minutes)
    waiting, overdue, oldest = conn.execute(
        load_sql("monitor/count_enrich_waiting"),
        {"watermark": watermark, "since": watermark - ENRICH_LOOKBACK, "overdue_before": overdue_before},
    ).fetchone()
    report.figures["enrich"] = {"watermark": watermark, "waiting": waiting, "overdue": overdue, "oldest": oldest}
    if overdue > s.monitor_enrich_backlog_max:
        report.findings.append(
            alert(
                "monitor.enrich_backlog",
                "",
                f"{overdue:,} loaded events still not enriched after {s.monitor_enrich_grace_minutes} min",
                [
                    f"{waiting:,} events received before the loader watermark ({watermark:%H:%M} UTC) have no "
                    f"analytics.attribution row; {overdue:,} are overdue, oldest received {oldest:%Y-%m-%d %H:%M} UTC."
                ],
                "Did events_enrich fail or stop? Check its recent runs; clear the failed intervals to re-run them.",
                waiting=waiting,
                overdue=overdue,
            )
        )
    report.checked.add("monitor.enrich_backlog")
