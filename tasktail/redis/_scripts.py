"""The Lua scripts: every change to a task's keys is one atomic script (SPEC ``RDS-1``).

Keys of one task share a hash tag (``tasktail:{<task id>}:…``), so a cluster keeps them on
one node and a script may touch them all:

* ``meta`` (hash): ``epoch`` (the incarnation, RDS-2), ``last`` (last seq), ``fin`` (seq of
  the ``finished`` message, 0 if none), ``sent`` (highest seq some client was sent or told
  about), ``forgotten`` (highest delivered seq trimmed away), ``dropped`` (count), ``fence``
  (ownership counter, RDS-4), ``k``/``kseq`` (the last append's idempotency token).
  Its TTL (``meta_ttl``) is longer than the stream's, so the epoch outlives the history.
* ``log`` (stream): one entry per message, entry ID ``<seq>-0``; fields ``e`` epoch, ``t``
  timestamp, ``l`` level, ``m`` text, ``p`` progress (``""`` for none, ``i:``/``f:``
  prefixed), ``f`` finished (``0``/``1``). Trimmed to ``max_queue_size`` entries exactly.
* ``owner`` (string, TTL ``claim_ttl``): ``"<fence> <process id> <nonce>"`` of the one client.

The meta hash also counts, per task, ``delivered``, ``failed_sends`` and ``trimmed`` (the
highest seq the cap trimmed; the stream always holds a contiguous run of seqs ending at
``last``, so every seq up to it is gone). The prefix's ``stats`` hash counts the same for the
whole prefix (``logged``, ``delivered``, ``dropped``, ``discarded``, ``failed_sends``,
``queued``, ``tasks``), changed by the same scripts in the same step (SPEC ``GAP-2``,
``STAT-1``). A seq is in exactly one bucket: queued while above both ``sent`` and
``trimmed``; dropped when the cap trimmed it above ``sent``; at the acknowledgement that
moves ``sent`` past it, delivered (its frame was written, or the client resumed past it)
or dropped (told as a gap); discarded when ``disconnect`` removed it queued. The ``stats``
key is outside the tasks' hash tags: with it the scripts need one Redis, not a cluster.
"""

from __future__ import annotations

# KEYS: meta, log, stats. ARGV: candidate epoch, cap, log ttl ms, meta ttl ms, timestamp, level,
# message, progress, finished ("0"/"1"), idempotency token.
# Returns {"ok", epoch, seq, created(0/1), dropped seqs...} or {"finished", epoch, fin_seq}.
APPEND = r"""
local meta, log = KEYS[1], KEYS[2]
local cap = tonumber(ARGV[2])
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
  return {'ok', epoch, tonumber(redis.call('HGET', meta, 'kseq')), 0}
end
local fin = tonumber(redis.call('HGET', meta, 'fin'))
if fin > 0 then
  return {'finished', epoch, fin}
end
local seq = redis.call('HINCRBY', meta, 'last', 1)
redis.call('XADD', log, seq .. '-0', 'e', epoch, 't', ARGV[5], 'l', ARGV[6], 'm', ARGV[7], 'p', ARGV[8], 'f', ARGV[9])
redis.call('HINCRBY', KEYS[3], 'logged', 1)
redis.call('HINCRBY', KEYS[3], 'queued', 1)
if ARGV[9] == '1' then
  redis.call('HSET', meta, 'fin', seq)
end
if ARGV[10] ~= '' then
  redis.call('HSET', meta, 'k', ARGV[10], 'kseq', seq)
end
local result = {'ok', epoch, seq, created}
local over = redis.call('XLEN', log) - cap
if over > 0 then
  -- The oldest entries give way. The newest (a finished message is always the newest:
  -- nothing is appended after it) is never among them, since cap >= 1.
  local old = redis.call('XRANGE', log, '-', '+', 'COUNT', over)
  local sent = tonumber(redis.call('HGET', meta, 'sent'))
  local forgotten = tonumber(redis.call('HGET', meta, 'forgotten'))
  local dropped = 0
  for _, entry in ipairs(old) do
    local s = tonumber(string.match(entry[1], '^(%d+)'))
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
redis.call('PEXPIRE', log, ARGV[3])
redis.call('PEXPIRE', meta, ARGV[4])
return result
"""

# KEYS: meta, log, owner, stats. ARGV: process id, claim ttl ms, candidate epoch, log ttl ms, meta ttl ms,
# nonce (a fence restarts with each incarnation: the nonce keeps every token distinct, so an
# old incarnation's client can never release or acknowledge with a new owner's token).
# Makes the caller the task's one client (creating the incarnation if there is none).
# Returns {epoch, last, sent, forgotten, fence token, previous owner or "", fin}.
CLAIM = r"""
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
redis.call('PEXPIRE', meta, ARGV[5])
if redis.call('EXISTS', log) == 1 then
  redis.call('PEXPIRE', log, ARGV[4])
end
local m = redis.call('HMGET', meta, 'last', 'sent', 'forgotten', 'fin')
return {epoch, tonumber(m[1]), tonumber(m[2]), tonumber(m[3]), token, previous, tonumber(m[4])}
"""

# KEYS: meta, owner, log, stats. ARGV: token, epoch, seq, log ttl ms, meta ttl ms, claim ttl ms,
# resume point (the client said it has every seq up to it; 0 for none), then the seqs whose
# frames the client was written since the last acknowledgement, as first, last pairs.
# The owner records that it sent (or told) everything through seq; each seq it moves past is
# counted (GAP-2): delivered if written or below the resume point, else dropped (a gap was
# told), a written one the cap had already trimmed (counted dropped then) moves to delivered.
# Returns 1, 0 (no longer the owner: replaced) or -1 (the incarnation is gone).
ACK = r"""
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
  local trimmed = tonumber(redis.call('HGET', meta, 'trimmed') or '0')
  local was_queued = seq - math.max(old, math.min(seq, trimmed))  -- the rest the trim counted
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
  local dropped = was_queued - (written - written_trimmed) - had - written_trimmed
  redis.call('HINCRBY', meta, 'delivered', delivered)
  redis.call('HINCRBY', meta, 'dropped', dropped)
  redis.call('HINCRBY', KEYS[4], 'delivered', delivered)
  redis.call('HINCRBY', KEYS[4], 'dropped', dropped)
  redis.call('HINCRBY', KEYS[4], 'queued', 0 - was_queued)
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
redis.call('PEXPIRE', meta, ARGV[5])
redis.call('PEXPIRE', owner, ARGV[6])
if redis.call('EXISTS', log) == 1 then
  redis.call('PEXPIRE', log, ARGV[4])
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

# KEYS: owner. ARGV: token. The client left: give the claim up if it is still ours.
RELEASE = r"""
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# KEYS: meta, log, owner, removed, stats. ARGV: tombstone ttl ms. Returns {owner or "", queued
# messages discarded}. The tombstone names the incarnation removed, so its client's process
# closes it with 4002 even when it finds the incarnation gone before the notice arrives.
REMOVE = r"""
local owner = redis.call('GET', KEYS[3]) or ''
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if epoch then
  redis.call('SET', KEYS[4], epoch, 'PX', ARGV[1])
  -- what was queued is discarded with the task (GAP-2)
  local m = redis.call('HMGET', KEYS[1], 'last', 'sent', 'trimmed')
  local discarded = tonumber(m[1]) - math.max(tonumber(m[2]), tonumber(m[3] or '0'))
  redis.call('HINCRBY', KEYS[5], 'discarded', discarded)
  redis.call('HINCRBY', KEYS[5], 'queued', 0 - discarded)
  redis.call('HINCRBY', KEYS[5], 'tasks', -1)
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
# a client attached (0/1)}.
TASK_STATS = r"""
local m = redis.call('HMGET', KEYS[1], 'epoch', 'last', 'sent', 'trimmed', 'dropped', 'delivered', 'failed_sends',
                    'fin')
if not m[1] then
  return {0}
end
return {1, m[1], tonumber(m[2]), tonumber(m[3]), tonumber(m[4] or '0'), tonumber(m[5]), tonumber(m[6] or '0'),
        tonumber(m[7] or '0'), tonumber(m[8]), redis.call('XLEN', KEYS[2]), redis.call('EXISTS', KEYS[3])}
"""
