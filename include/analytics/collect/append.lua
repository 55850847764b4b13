-- One call per group of requests (see GroupCommit). First the reference check: if any event names an actor or
-- entity missing from the known-id sets, nothing is written and the misses are returned
-- ({"miss", index, "actor"|"entity"|"actor,entity", ...}) so the caller can confirm them against Postgres and call
-- again. Otherwise: keep the requests' rejections, then dedupe and append their valid events, and return one string
-- per event: its stream entry id, or "=<reason>:<original id>" for a duplicate (one flat string each is cheaper
-- to send and to read than a nested reply).
-- KEYS: stream, stats hash (this minute), rejected stream, this call's reply key ("" = none), known users, assets,
--   licenses, projects, payouts, then per event: fingerprint key ("" = none: never fingerprint-deduplicated),
--   idempotency key ("" = none); a shard on a Redis Cluster says "none" with the stream's key instead (every key of a
--   call must share its slot).
-- The reply key makes a call that carries rejections or events that nothing else deduplicates (no fingerprint, no
-- idempotency key) safe to run twice: the caller runs it again when the reply was lost (a dropped connection, a
-- failover); the first run keeps its reply there for a minute and the second returns it, writing nothing.
-- ARGV: fp ttl, idem ttl, stats ttl, rejected count R,
--   then per rejection (8): stats suffix "reason|source|event_type", payload, reason, errors, source, event_type, stage,
--   rejected_at,
--   then per event (6): id, COPY line (analytics.collect.copyrow), stats suffix "source|event_type", actor id to check ("" = none),
--   entity set index (0 = none, 1..5 = KEYS[4 + n]), entity id.
-- Checks and XADD run in one script so a fingerprint can never exist without its event: the fingerprint is claimed
-- (SET NX GET: one command for the check and the claim) just before the XADD, and dropped again if the XADD fails.
local stream, stats, rejected, reply_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
if reply_key == stream then reply_key = "" end
if reply_key ~= "" then
  local earlier = redis.call("GET", reply_key)
  if earlier then return cjson.decode(earlier) end
end
local fp_ttl, idem_ttl, stats_ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local n_rej = tonumber(ARGV[4])
local first_event = 4 + 8 * n_rej
local n = (#KEYS - 9) / 2
local misses = {"miss"}
-- Each id is looked up once per call: a batch often names the same actor and entity many times.
local known = {{}, {}, {}, {}, {}}
local function is_known(kind, id)
  local seen = known[kind][id]
  if seen == nil then
    seen = redis.call("SISMEMBER", KEYS[4 + kind], id) == 1
    known[kind][id] = seen
  end
  return seen
end
for i = 1, n do
  local a = first_event + 6 * (i - 1)
  local actor, kind, entity = ARGV[a + 4], tonumber(ARGV[a + 5]), ARGV[a + 6]
  local which = {}
  if actor ~= "" and not is_known(1, actor) then which[#which + 1] = "actor" end
  if kind > 0 and not is_known(kind, entity) then which[#which + 1] = "entity" end
  if #which > 0 then
    misses[#misses + 1] = i
    misses[#misses + 1] = table.concat(which, ",")
  end
end
if #misses > 1 then return misses end
-- The rejected stream is not capped here: the loader copies it to analytics.rejected_events and trims it only
-- below what it acknowledged, like the event stream (a MAXLEN would drop rejections never copied).
local a = 4
for _ = 1, n_rej do
  local fields = {"payload", ARGV[a + 2], "reason", ARGV[a + 3], "errors", ARGV[a + 4], "source", ARGV[a + 5],
    "event_type", ARGV[a + 6], "stage", ARGV[a + 7], "rejected_at", ARGV[a + 8]}
  redis.call("XADD", rejected, "*", unpack(fields))
  redis.call("HINCRBY", stats, "rejected|" .. ARGV[a + 1], 1)
  a = a + 8
end
local out = {}
local counts = {}
for i = 1, n do
  local fp_key, idem_key = KEYS[8 + 2 * i], KEYS[9 + 2 * i]
  if fp_key == stream then fp_key = "" end
  if idem_key == stream then idem_key = "" end
  local id, payload, suffix = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  a = a + 6
  local prior = false
  local field
  if idem_key ~= "" then
    prior = redis.call("GET", idem_key)
    if prior then
      out[i] = "=idempotency_key:" .. prior
      field = "duplicate|idempotency_key|" .. suffix
    end
  end
  if not prior and fp_key ~= "" then
    -- Claims the fingerprint and reads an earlier holder in one command.
    prior = redis.call("SET", fp_key, id, "NX", "GET", "EX", fp_ttl)
    if prior then
      out[i] = "=fingerprint:" .. prior
      field = "duplicate|fingerprint|" .. suffix
      -- A retry of this double-fire (same key) must get the same answer after the fingerprint expires.
      if idem_key ~= "" then redis.call("SET", idem_key, prior, "EX", idem_ttl) end
    end
  end
  if not prior then
    -- Fields: the event id, its COPY line (analytics.copyrow), and "k" only when it has an idempotency key.
    local sid
    if idem_key ~= "" then
      sid = redis.pcall("XADD", stream, "*", "id", id, "r", payload, "k", "1")
    else
      sid = redis.pcall("XADD", stream, "*", "id", id, "r", payload)
    end
    if type(sid) == "table" then
      if fp_key ~= "" then redis.call("DEL", fp_key) end  -- the event is not in the stream: no fingerprint may say it is
      return sid
    end
    if idem_key ~= "" then redis.call("SET", idem_key, id, "EX", idem_ttl) end
    out[i] = sid
    field = "accepted||" .. suffix
  end
  counts[field] = (counts[field] or 0) + 1
end
for field, c in pairs(counts) do redis.call("HINCRBY", stats, field, c) end
redis.call("EXPIRE", stats, stats_ttl, "NX")  -- NX: set once per bucket, not re-propagated to the AOF on every call
if reply_key ~= "" then redis.call("SET", reply_key, cjson.encode(out), "EX", 60) end
return out
