"""The Lua scripts: every change to a task's keys is one atomic script (SPEC ``RDS-1``).

Keys of one task share a hash tag (``tasktail:{<task id>}:…``), so a cluster keeps them on
one node and a script may touch them all:

* ``meta`` (hash): ``epoch`` (the incarnation, RDS-2), ``last`` (last seq), ``fin`` (seq of
  the ``finished`` message, 0 if none), ``sent`` (highest seq some client was sent or told
  about), ``forgotten`` (highest delivered seq trimmed away), ``dropped`` (count), ``fence``
  (ownership counter, RDS-4), ``k``/``kseq``/``kst`` (the last append's idempotency token, its
  seq, whether it was stored), ``writing`` (the seq a client is writing, outside the queue of
  the policies other than drop-oldest: ``TAKE``), ``act`` (the last activity, on the clock of
  the producer or manager that acted: MEM-3).
  Its TTL (``meta_ttl``) is longer than the stream's, so the epoch outlives the history.
* ``log`` (stream): one entry per message, entry ID ``<seq>-0``; fields ``e`` epoch, ``t``
  timestamp, ``l`` level, ``m`` text, ``p`` progress (``""`` for none, ``i:``/``f:``
  prefixed), ``f`` finished (``0``/``1``). Trimmed to ``max_queue_size`` entries exactly.
* ``owner`` (string, TTL ``claim_ttl``): ``"<fence> <process id> <nonce>"`` of the one client.

The meta hash also counts, per task, ``delivered``, ``failed_sends``, ``trimmed`` (the
highest seq drop-oldest's cap trimmed: every seq up to it is gone) and ``dq`` (seqs above
``sent`` and ``trimmed`` already counted dropped: evicted or rejected by another policy,
which leaves holes in the stream). The prefix's ``stats`` hash counts the same for the whole
prefix (``logged``, ``delivered``, ``dropped``, ``discarded``, ``failed_sends``, ``queued``,
``tasks``, ``expired_tasks``), changed by the same scripts in the same step (SPEC ``GAP-2``,
``STAT-1``). A seq is in exactly one bucket: queued while above ``sent`` and ``trimmed`` and
not counted in ``dq``; dropped when the cap trimmed it above ``sent`` or a policy evicted or
rejected it; at the acknowledgement that moves ``sent`` past it, delivered (its frame was
written, or the client resumed past it) or, if not dropped already, dropped (told as a gap);
discarded when ``disconnect`` or expiry removed it queued. The ``stats`` key is outside the
tasks' hash tags: with it the scripts need one Redis, not a cluster.
"""

from __future__ import annotations

# A key's TTL, refreshed; a ttl of 0: none (task_ttl=None).
_TTL = r"""
local function ttl(key, ms)
  if ms == '0' then
    redis.call('PERSIST', key)
  else
    redis.call('PEXPIRE', key, ms)
  end
end
"""

# A stream entry's field, and whether a message is progress-only (CAP-5: progress set, not
# finished, level debug or info).
_ENTRIES = r"""
local function field(entry, name)
  local fields = entry[2]
  for i = 1, #fields, 2 do
    if fields[i] == name then
      return fields[i + 1]
    end
  end
  return ''
end
local function progress_only(level, progress, finished)
  return progress ~= '' and finished ~= '1' and (level == 'debug' or level == 'info')
end
-- A built-in policy on a full queue (APPEND's incoming message, or RELEASE's newest entry
-- re-entering): the queued entry that gives way, or false to drop the incoming one.
-- `oldest` is a function: the queue's oldest entry is read only when it is the answer.
local function builtin_victim(policy, finished, incoming_progress_only, tail, oldest)
  if policy == 'reject-newest' then
    -- CAP-4: the incoming is dropped, except a finished one, which replaces the newest queued
    if finished then
      return tail
    end
    return false
  end
  -- CAP-5: progress-only replaces a progress-only tail; otherwise the oldest gives way
  if policy == 'coalesce-progress' and incoming_progress_only
      and progress_only(field(tail, 'l'), field(tail, 'p'), field(tail, 'f')) then
    return tail
  end
  return oldest()
end
"""

# KEYS: meta, log, stats. ARGV: candidate epoch, cap, log ttl ms, meta ttl ms, timestamp, level,
# message, progress, finished ("0"/"1"), idempotency token, overflow policy ("drop-oldest",
# "reject-newest", "coalesce-progress" or "custom"), a custom policy's decision ("" to ask,
# "reject", or the seq of the queued message to evict), the state that decision was made on.
# Returns {"ok", epoch, seq, created(0/1), stored(0/1: 0 when the message itself was rejected),
# dropped seqs...}, {"finished", epoch, fin_seq}, or (a custom policy, queue full, no decision
# for this very state) {"full", epoch, state, queued entries...}: nothing changed, no seq spent.
APPEND = _TTL + _ENTRIES + r"""
local meta, log = KEYS[1], KEYS[2]
local cap = tonumber(ARGV[2])
local policy = ARGV[11]
local epoch = redis.call('HGET', meta, 'epoch')
local created = 0
if not epoch then
  redis.call('DEL', log)
  epoch = ARGV[1]
  redis.call('HSET', meta, 'epoch', epoch, 'last', 0, 'fin', 0, 'sent', 0, 'forgotten', 0, 'dropped', 0, 'fence', 0)
  created = 1
  redis.call('HINCRBY', KEYS[3], 'tasks', 1)
elseif ARGV[10] ~= '' and redis.call('HGET', meta, 'k') == ARGV[10] then
  -- a retry of an append whose reply was lost: answer as the first time, append nothing
  return {'ok', epoch, tonumber(redis.call('HGET', meta, 'kseq')), 0, tonumber(redis.call('HGET', meta, 'kst') or '1')}
end
local fin = tonumber(redis.call('HGET', meta, 'fin'))
if fin > 0 then
  return {'finished', epoch, fin}
end
local function seq_of(id)
  return tonumber(string.match(id, '^(%d+)'))
end
local function remember(seq, stored)
  if ARGV[10] ~= '' then
    redis.call('HSET', meta, 'k', ARGV[10], 'kseq', seq, 'kst', stored)
  end
end
local function add(seq)
  redis.call('XADD', log, seq .. '-0', 'e', epoch, 't', ARGV[5], 'l', ARGV[6], 'm', ARGV[7], 'p', ARGV[8], 'f', ARGV[9])
  if ARGV[9] == '1' then
    redis.call('HSET', meta, 'fin', seq)
  end
end
if policy == 'drop-oldest' then
  local seq = redis.call('HINCRBY', meta, 'last', 1)
  add(seq)
  remember(seq, 1)
  redis.call('HINCRBY', KEYS[3], 'logged', 1)
  redis.call('HINCRBY', KEYS[3], 'queued', 1)
  redis.call('HSET', meta, 'act', ARGV[5])
  local result = {'ok', epoch, seq, created, 1}
  local over = redis.call('XLEN', log) - cap
  if over > 0 then
    -- The oldest entries give way. The newest (a finished message is always the newest:
    -- nothing is appended after it) is never among them, since cap >= 1.
    local old = redis.call('XRANGE', log, '-', '+', 'COUNT', over)
    local sent = tonumber(redis.call('HGET', meta, 'sent'))
    local forgotten = tonumber(redis.call('HGET', meta, 'forgotten'))
    local dropped = 0
    for _, entry in ipairs(old) do
      local s = seq_of(entry[1])
      if s == seq then
        return redis.error_reply('tasktail: trimming would evict the message just appended')
      end
      if s > sent then
        dropped = dropped + 1
        table.insert(result, s)
      elseif s > forgotten then
        forgotten = s
      end
      redis.call('HSET', meta, 'trimmed', s)
    end
    redis.call('XTRIM', log, 'MAXLEN', cap)
    redis.call('HSET', meta, 'forgotten', forgotten)
    if dropped > 0 then
      redis.call('HINCRBY', meta, 'dropped', dropped)
      redis.call('HINCRBY', KEYS[3], 'dropped', dropped)
      redis.call('HINCRBY', KEYS[3], 'queued', 0 - dropped)
    end
  end
  ttl(log, ARGV[3])
  ttl(meta, ARGV[4])
  return result
end
-- Any other policy: the queue is what no client was sent (after `sent`), without the
-- message a client is writing (`writing`, marked by TAKE): as the reference's in_flight,
-- it is outside the queue and no policy can evict it (CAP-1).
local sent = tonumber(redis.call('HGET', meta, 'sent'))
local writing = tonumber(redis.call('HGET', meta, 'writing') or '0')
local function queued()
  local queue = {}
  for _, entry in ipairs(redis.call('XRANGE', log, '(' .. sent .. '-0', '+')) do
    if seq_of(entry[1]) ~= writing then
      table.insert(queue, entry)
    end
  end
  return queue
end
-- Is the queue full? Without reading it: the stream holds delivered history (a prefix, at
-- or below `sent`), the entry being written, then the queue, and is kept at most cap + 1
-- long (the history gives way below), so the first two entries say how much history there is.
local full = false
local xlen = redis.call('XLEN', log)
if xlen > cap + 1 then
  full = #queued() >= cap  -- appended with another cap: count them
elseif xlen >= cap then
  local history = 0
  for _, entry in ipairs(redis.call('XRANGE', log, '-', '+', 'COUNT', 2)) do
    if seq_of(entry[1]) <= sent then
      history = history + 1
    end
  end
  local inflight = 0
  if writing > sent and #redis.call('XRANGE', log, writing .. '-0', writing .. '-0') == 1 then
    inflight = 1
  end
  full = xlen - history - inflight >= cap
end
local victim = nil  -- a queued entry that gives way; false: the incoming message is rejected
if full then
  local newest = redis.call('XREVRANGE', log, '+', '-', 'COUNT', 1)[1]  -- queued: the queue is full
  if policy == 'reject-newest' or policy == 'coalesce-progress' then
    victim = builtin_victim(policy, ARGV[9] == '1', progress_only(ARGV[6], ARGV[8], ARGV[9]), newest, function()
      for _, entry in ipairs(redis.call('XRANGE', log, '(' .. sent .. '-0', '+', 'COUNT', 2)) do
        if seq_of(entry[1]) ~= writing then
          return entry
        end
      end
      return nil
    end)
  elseif policy == 'custom' then
    -- The caller's policy object decides, on exactly this state (else it is asked again).
    local queue = queued()
    local state = redis.call('HGET', meta, 'last') .. ':' .. sent .. ':' .. writing
    if ARGV[12] == '' or ARGV[13] ~= state then
      local answer = {'full', epoch, state}
      for _, entry in ipairs(queue) do
        table.insert(answer, entry)
      end
      return answer
    end
    if ARGV[12] == 'reject' then
      victim = false
    else
      for _, entry in ipairs(queue) do
        if seq_of(entry[1]) == tonumber(ARGV[12]) then
          victim = entry
        end
      end
      if victim == nil then
        return redis.error_reply('tasktail: the policy chose a message that is not queued')
      end
    end
  else
    return redis.error_reply('tasktail: unknown overflow policy ' .. policy)
  end
  if victim and field(victim, 'f') == '1' then
    return redis.error_reply('tasktail: a finished message may not be evicted')
  end
  if victim == false and ARGV[9] == '1' then
    return redis.error_reply('tasktail: a finished message may not be rejected')
  end
end
local seq = redis.call('HINCRBY', meta, 'last', 1)
redis.call('HSET', meta, 'act', ARGV[5])
redis.call('HINCRBY', KEYS[3], 'logged', 1)
local result = {'ok', epoch, seq, created, 1}
if victim == false then
  -- rejected: it spends its seq and is counted, as the reference's (GAP-1)
  result[5] = 0
  table.insert(result, seq)
  remember(seq, 0)
else
  if victim then
    redis.call('XDEL', log, victim[1])
    table.insert(result, seq_of(victim[1]))
    redis.call('HINCRBY', KEYS[3], 'queued', -1)
  end
  add(seq)
  remember(seq, 1)
  redis.call('HINCRBY', KEYS[3], 'queued', 1)
end
if #result > 5 then
  -- a seq above `sent` counted dropped now: not queued, and not dropped again when a
  -- client moves past it (dq)
  redis.call('HINCRBY', meta, 'dropped', #result - 5)
  redis.call('HINCRBY', meta, 'dq', #result - 5)
  redis.call('HINCRBY', KEYS[3], 'dropped', #result - 5)
end
-- Delivered history gives way so the stream keeps at most `cap` entries; a queued
-- message never does (only the policy chooses those).
local over = redis.call('XLEN', log) - cap
if over > 0 then
  local old = redis.call('XRANGE', log, '-', sent .. '-0', 'COUNT', over)
  if #old > 0 then
    local newest = seq_of(old[#old][1])
    redis.call('XTRIM', log, 'MINID', (newest + 1) .. '-0')
    if newest > tonumber(redis.call('HGET', meta, 'forgotten')) then
      redis.call('HSET', meta, 'forgotten', newest)
    end
  end
end
if redis.call('EXISTS', log) == 1 then
  ttl(log, ARGV[3])
end
ttl(meta, ARGV[4])
return result
"""

# How a writer's record counts what `sent` moves past (ACK and TAKE; KEYS[4] is the stats
# hash; ARGV[7] the resume point, ARGV[8..] the written seqs as first, last pairs): each seq
# moved past is delivered if its frame was written or the client resumed past it; else it
# was told as a gap: dropped, unless it was counted dropped already (trimmed, or in `dq`);
# `forgotten` follows what the stream no longer holds.
_RECORD_SENT = r"""
local function record_sent(meta, log, old, seq)
  local trimmed = tonumber(redis.call('HGET', meta, 'trimmed') or '0')
  local was_queued = seq - math.max(old, math.min(seq, trimmed))
  local written, written_trimmed = 0, 0
  for i = 8, #ARGV - 1, 2 do
    local a, b = math.max(tonumber(ARGV[i]), old + 1), math.min(tonumber(ARGV[i + 1]), seq)
    if b >= a then
      written = written + b - a + 1
      written_trimmed = written_trimmed + math.max(0, math.min(b, trimmed) - a + 1)
    end
  end
  local had = math.max(0, math.min(tonumber(ARGV[7]), seq) - math.max(old, trimmed))
  local delivered = written + had
  local untold = was_queued - (written - written_trimmed) - had
  local already = math.min(tonumber(redis.call('HGET', meta, 'dq') or '0'), math.max(0, untold))
  if already > 0 then
    redis.call('HINCRBY', meta, 'dq', 0 - already)
  end
  local dropped = untold - already - written_trimmed
  redis.call('HINCRBY', meta, 'delivered', delivered)
  redis.call('HINCRBY', meta, 'dropped', dropped)
  redis.call('HINCRBY', KEYS[4], 'delivered', delivered)
  redis.call('HINCRBY', KEYS[4], 'dropped', dropped)
  redis.call('HINCRBY', KEYS[4], 'queued', already - was_queued)
  redis.call('HSET', meta, 'sent', seq)
  -- A message written while the cap trimmed it from the stream (it was in flight) was
  -- delivered after all: for a later resume it is expired, not dropped.
  local first = redis.call('XRANGE', log, '-', '+', 'COUNT', 1)[1]
  local gone = seq
  if first then
    gone = math.min(seq, tonumber(string.match(first[1], '^(%d+)')) - 1)
  end
  if gone > tonumber(redis.call('HGET', meta, 'forgotten')) then
    redis.call('HSET', meta, 'forgotten', gone)
  end
end
"""

# KEYS: meta, owner, log, stats. ARGV: token, epoch, done (the highest seq this client was sent
# or told), log ttl ms, meta ttl ms, claim ttl ms, resume point, written seqs (as ACK's).
# For every policy but drop-oldest the writer
# pulls: it records `done` as sent (fenced, as ACK) and takes the next entry after it,
# marking it `writing` (in flight: APPEND's policies never evict it).
# Returns {1, last, forgotten, entry id, entry fields}, {2, last, forgotten} (nothing after
# done), {0} (no longer the owner: replaced) or {-1} (the incarnation is gone).
TAKE = _TTL + _RECORD_SENT + r"""
local meta, owner, log = KEYS[1], KEYS[2], KEYS[3]
if redis.call('HGET', meta, 'epoch') ~= ARGV[2] then
  return {-1}
end
if redis.call('GET', owner) ~= ARGV[1] then
  return {0}
end
local done = tonumber(ARGV[3])
local old = tonumber(redis.call('HGET', meta, 'sent'))
if done > old then
  record_sent(meta, log, old, done)
end
ttl(meta, ARGV[5])
redis.call('PEXPIRE', owner, ARGV[6])
local nxt = {}
if redis.call('EXISTS', log) == 1 then
  ttl(log, ARGV[4])
  nxt = redis.call('XRANGE', log, '(' .. done .. '-0', '+', 'COUNT', 1)
end
local m = redis.call('HMGET', meta, 'last', 'forgotten')
if nxt[1] then
  redis.call('HSET', meta, 'writing', tonumber(string.match(nxt[1][1], '^(%d+)')))
  return {1, tonumber(m[1]), tonumber(m[2]), nxt[1][1], nxt[1][2]}
end
redis.call('HSET', meta, 'writing', 0)
return {2, tonumber(m[1]), tonumber(m[2])}
"""

# KEYS: meta, log, owner, stats. ARGV: process id, claim ttl ms, candidate epoch, log ttl ms, meta ttl ms,
# nonce (a fence restarts with each incarnation: the nonce keeps every token distinct, so an
# old incarnation's client can never release or acknowledge with a new owner's token), now
# (the manager's clock: the task's last activity, MEM-3). A ttl of 0: no expiry.
# Makes the caller the task's one client (creating the incarnation if there is none).
# Returns {epoch, last, sent, forgotten, fence token, previous owner or "", fin}.
CLAIM = _TTL + r"""
local meta, log, owner = KEYS[1], KEYS[2], KEYS[3]
local epoch = redis.call('HGET', meta, 'epoch')
if not epoch then
  redis.call('DEL', log)
  epoch = ARGV[3]
  redis.call('HSET', meta, 'epoch', epoch, 'last', 0, 'fin', 0, 'sent', 0, 'forgotten', 0, 'dropped', 0, 'fence', 0)
  redis.call('HINCRBY', KEYS[4], 'tasks', 1)
end
local fence = redis.call('HINCRBY', meta, 'fence', 1)
local token = fence .. ' ' .. ARGV[1] .. ' ' .. ARGV[6]
local previous = redis.call('GET', owner) or ''
redis.call('SET', owner, token, 'PX', ARGV[2])
redis.call('HSET', meta, 'act', ARGV[7])
ttl(meta, ARGV[5])
if redis.call('EXISTS', log) == 1 then
  ttl(log, ARGV[4])
end
local m = redis.call('HMGET', meta, 'last', 'sent', 'forgotten', 'fin')
return {epoch, tonumber(m[1]), tonumber(m[2]), tonumber(m[3]), token, previous, tonumber(m[4])}
"""

# KEYS: meta, owner, log, stats. ARGV: token, epoch, seq, log ttl ms, meta ttl ms, claim ttl ms,
# resume point (the client said it has every seq up to it; 0 for none), then the seqs whose
# frames the client was written since the last acknowledgement, as first, last pairs.
# The owner records that it sent (or told) everything through seq, counting each seq it moves
# past (_RECORD_SENT, GAP-2).
# Returns 1, 0 (no longer the owner: replaced) or -1 (the incarnation is gone).
ACK = _TTL + _RECORD_SENT + r"""
local meta, owner, log = KEYS[1], KEYS[2], KEYS[3]
if redis.call('HGET', meta, 'epoch') ~= ARGV[2] then
  return -1
end
if redis.call('GET', owner) ~= ARGV[1] then
  return 0
end
local seq = tonumber(ARGV[3])
local old = tonumber(redis.call('HGET', meta, 'sent'))
if seq > old then
  record_sent(meta, log, old, seq)
end
ttl(meta, ARGV[5])
redis.call('PEXPIRE', owner, ARGV[6])
if redis.call('EXISTS', log) == 1 then
  ttl(log, ARGV[4])
end
return 1
"""

# KEYS: meta, owner. ARGV: token, epoch, claim ttl ms.
# Keeps a live client's claim. 1: renewed; 0: another client owns the task; -1: the
# incarnation is gone (Redis lost it, or it was disconnected).
RENEW = r"""
if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[2] then
  return -1
end
local current = redis.call('GET', KEYS[2])
if current == ARGV[1] then
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
  return 1
end
if not current then
  redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[3])
  return 1
end
return 0
"""

# KEYS: owner, meta, log, stats. ARGV: token, overflow policy, cap, now (the manager's clock: the
# task's last activity, MEM-3). The client left: give the claim
# up if it is still ours. A message it was writing (TAKE) is queued again, at the front (the
# next client gets it: FAIL-1); if the queue is then over the cap, the newest message
# re-enters through the policy, as in the reference (a policy object of the caller's cannot
# be asked here: the oldest gives way, as the reference does with a broken answer).
RELEASE = _ENTRIES + r"""
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call('DEL', KEYS[1])
local meta, log, policy, cap = KEYS[2], KEYS[3], ARGV[2], tonumber(ARGV[3])
if redis.call('EXISTS', meta) == 0 then
  return 1
end
local sent = tonumber(redis.call('HGET', meta, 'sent'))
local writing = tonumber(redis.call('HGET', meta, 'writing') or '0')
redis.call('HSET', meta, 'writing', 0, 'act', ARGV[4])
if writing <= sent or policy == 'drop-oldest' then
  return 1
end
local queue = redis.call('XRANGE', log, '(' .. sent .. '-0', '+')
if #queue <= cap then
  return 1
end
local newest = queue[#queue]  -- re-enters through the policy; the oldest is the message put back
local victim = builtin_victim(policy, field(newest, 'f') == '1',
                              progress_only(field(newest, 'l'), field(newest, 'p'), field(newest, 'f')),
                              queue[#queue - 1], function() return queue[1] end)
if victim == false then
  victim = newest
end
redis.call('XDEL', log, victim[1])
redis.call('HINCRBY', meta, 'dropped', 1)
redis.call('HINCRBY', meta, 'dq', 1)
redis.call('HINCRBY', KEYS[4], 'dropped', 1)
redis.call('HINCRBY', KEYS[4], 'queued', -1)
return 1
"""

# The queued messages of a task being removed (by disconnect or expiry) become discarded.
_DISCARD = r"""
local function discard(meta, stats)
  -- what was queued goes with the task (GAP-2)
  local m = redis.call('HMGET', meta, 'last', 'sent', 'trimmed', 'dq')
  local queued = tonumber(m[1]) - math.max(tonumber(m[2]), tonumber(m[3] or '0')) - tonumber(m[4] or '0')
  redis.call('HINCRBY', stats, 'discarded', queued)
  redis.call('HINCRBY', stats, 'queued', 0 - queued)
  redis.call('HINCRBY', stats, 'tasks', -1)
end
"""

# KEYS: meta, log, owner, removed, stats. ARGV: tombstone ttl ms. Returns {owner or "", queued
# messages discarded}. The tombstone names the incarnation removed, so its client's process
# closes it with 4002 even when it finds the incarnation gone before the notice arrives.
REMOVE = _DISCARD + r"""
local owner = redis.call('GET', KEYS[3]) or ''
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if epoch then
  redis.call('SET', KEYS[4], epoch, 'PX', ARGV[1])
  discard(KEYS[1], KEYS[5])
end
local sent = tonumber(redis.call('HGET', KEYS[1], 'sent') or '0')
local queued = 0
if redis.call('EXISTS', KEYS[2]) == 1 then
  queued = #redis.call('XRANGE', KEYS[2], '(' .. sent .. '-0', '+')
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
return {owner, queued}
"""

# KEYS: meta, log. ARGV: written, in flight (the asking process's client: the highest seq
# it wrote, the seq it is writing; 0 for none). Returns {exists(0/1), last, sent, queued}:
# entries after what was sent or written, plus a message being written that the cap
# already trimmed from the stream (it counts as queued until written: CAP-1).
STATUS = r"""
local m = redis.call('HMGET', KEYS[1], 'epoch', 'last', 'sent')
if not m[1] then
  return {0, 0, 0, 0}
end
local from = math.max(tonumber(m[3]), tonumber(ARGV[1] or '0'))
local inflight = tonumber(ARGV[2] or '0')
local queued = 0
if redis.call('EXISTS', KEYS[2]) == 1 then
  queued = #redis.call('XRANGE', KEYS[2], '(' .. from .. '-0', '+')
end
if inflight > from and #redis.call('XRANGE', KEYS[2], inflight .. '-0', inflight .. '-0') == 0 then
  queued = queued + 1
end
return {1, tonumber(m[2]), tonumber(m[3]), queued}
"""

# KEYS: meta, log, owner, stats. ARGV: now, task ttl (seconds), "expire" or "evict". Forgets a task
# with no client (no owner): "expire" only if its last activity (`act`, the managers' clock)
# is task_ttl or more before now (MEM-3), "evict" regardless (MEM-4). Returns 1 (forgotten),
# 0 (kept: it has a client, or it was active since) or -1 (it was gone already).
FORGET = _DISCARD + r"""
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[2])
  return -1
end
if redis.call('EXISTS', KEYS[3]) == 1 then
  return 0
end
if ARGV[3] == 'expire' then
  local act = tonumber(redis.call('HGET', KEYS[1], 'act') or '0')
  if tonumber(ARGV[1]) - act < tonumber(ARGV[2]) then
    return 0
  end
end
discard(KEYS[1], KEYS[4])
if ARGV[3] == 'expire' then
  redis.call('HINCRBY', KEYS[4], 'expired_tasks', 1)
end
redis.call('DEL', KEYS[1], KEYS[2])
return 1
"""

# KEYS: a process's control stream. ARGV: op, task id, token, ttl ms.
NOTIFY = r"""
redis.call('XADD', KEYS[1], 'MAXLEN', '~', 1000, '*', 'op', ARGV[1], 'task', ARGV[2], 'token', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
"""

# KEYS: meta, stats. ARGV: epoch. A send to the task's client raised or timed out (FAIL-1).
FAILED = r"""
if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[1] then
  return 0
end
redis.call('HINCRBY', KEYS[1], 'failed_sends', 1)
redis.call('HINCRBY', KEYS[2], 'failed_sends', 1)
return 1
"""

# KEYS: meta, log, owner. The task's counters as Redis has them (STAT-1): {exists(0/1),
# epoch, last, sent, trimmed, dropped, delivered, failed_sends, fin, entries in the stream,
# a client attached (0/1), dq}.
TASK_STATS = r"""
local m = redis.call('HMGET', KEYS[1], 'epoch', 'last', 'sent', 'trimmed', 'dropped', 'delivered', 'failed_sends',
                    'fin', 'dq')
if not m[1] then
  return {0}
end
return {1, m[1], tonumber(m[2]), tonumber(m[3]), tonumber(m[4] or '0'), tonumber(m[5]), tonumber(m[6] or '0'),
        tonumber(m[7] or '0'), tonumber(m[8]), redis.call('XLEN', KEYS[2]), redis.call('EXISTS', KEYS[3]),
        tonumber(m[9] or '0')}
"""
