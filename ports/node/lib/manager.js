'use strict';
// tasktail's ConnectionManager for Node.js: the same contract as the Python reference
// (SPEC.md), written for an event loop of callbacks and promises.
//
// How it works:
//  1. Every message goes through its task's queue. sendLog validates, spends the next seq
//     and queues the message synchronously, before its first await (ORD-1).
//  2. Sending happens only while holding the task's lock, a FIFO of waiters (LOCK-1,
//     LOCK-4): whoever holds it drains the queue in seq order, one frame at a time, so a
//     flush and live sends never interleave (ORD-2, FLUSH-1). The message being written is
//     "in flight", outside the queue, where the cap cannot evict it (CAP-1).
//  3. A send is the socket's `send(data, callback)` (the `ws` API): it succeeded when the
//     callback is called without an error. A send that errors, or whose callback does not
//     come within sendTimeout seconds of the injected scheduler, ends the connection (close
//     1011 or 4001) and its message goes back to the front of the queue (FAIL-1); the
//     producer never sees it (FAIL-2).
//  4. The manager closes a socket itself when it ends its connection (4000 replaced, 4001
//     timed out, 1011 send failed, 4002 disconnected / expired / evicted, 1000 detached),
//     but never in the middle of a frame group: a close that comes while a frame is being
//     written waits until that group is done (DISC-2).
//  5. Time comes from `clock()` (POSIX seconds) and timers from `scheduler` (seconds): the
//     test mode and the vector runner pass a virtual clock.

const crypto = require('node:crypto');
const util = require('node:util');

const LEVELS = Object.freeze(['debug', 'info', 'warning', 'error', 'success']);
const ALLOWED_LEVELS = LEVELS.map((l) => `'${l}'`).join(', ');

const CloseCode = Object.freeze({
  NORMAL: 1000,
  GOING_AWAY: 1001,
  POLICY_VIOLATION: 1008,
  MESSAGE_TOO_BIG: 1009,
  SEND_FAILED: 1011,
  TRY_AGAIN_LATER: 1013,
  REPLACED: 4000,
  SEND_TIMEOUT: 4001,
  SERVER_DISCONNECT: 4002,
});

class TasktailError extends Error {
  constructor(message) {
    super(message);
    this.name = this.constructor.name;
  }
}
/** A bad value of the right type (Python's ValueError). */
class ValueError extends RangeError {
  constructor(message) {
    super(message);
    this.name = 'ValueError';
  }
}
class TaskFinishedError extends TasktailError {}
class TaskLimitError extends TasktailError {}
class PolicyError extends TasktailError {}
class SendTimeoutError extends TasktailError {}

/** The language-neutral name of what a call raised (vector runner contract). */
function errorKind(err) {
  if (err instanceof TaskFinishedError) return 'finished';
  if (err instanceof TaskLimitError) return 'task_limit';
  if (err instanceof PolicyError) return 'policy';
  if (err instanceof TypeError || err instanceof RangeError) return 'invalid';
  return 'error';
}

// -- validation (VAL-1, VAL-2): name the argument, show the value, say what is allowed --

const SHOW_LIMIT = 200;

function typeName(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

/** A value shown in an error message, shortened; never throws. */
function show(value) {
  let text;
  try {
    text = typeof value === 'string' ? JSON.stringify(value)
      : util.inspect(value, { depth: 1, breakLength: Infinity, maxArrayLength: 20, maxStringLength: SHOW_LIMIT });
  } catch {
    text = `<${typeName(value)} that cannot be shown>`;
  }
  if (typeof text !== 'string') text = `<${typeName(value)}>`;
  return text.length <= SHOW_LIMIT ? text : `${text.slice(0, SHOW_LIMIT - 5)}…${text.slice(-4)}`;
}

function checkUtf8(name, text) {
  if (!text.isWellFormed()) {
    throw new ValueError(`${name}=${show(text)} has a lone surrogate; expected text that can be encoded as UTF-8`);
  }
}

function checkTaskId(taskId) {
  if (typeof taskId !== 'string') {
    throw new TypeError(`task_id=${show(taskId)} has type ${typeName(taskId)}; expected a non-empty string`);
  }
  if (taskId === '') throw new ValueError("task_id='' is empty; expected a non-empty string");
  checkUtf8('task_id', taskId);
  return taskId;
}

function checkLevel(level) {
  if (typeof level !== 'string') {
    throw new TypeError(`level=${show(level)} has type ${typeName(level)}; expected one of ${ALLOWED_LEVELS}`);
  }
  if (!LEVELS.includes(level)) {
    throw new ValueError(`level=${show(level)} is not allowed; expected one of ${ALLOWED_LEVELS}`);
  }
  return level;
}

function checkMessage(message) {
  if (typeof message !== 'string') {
    throw new TypeError(`message=${show(message)} has type ${typeName(message)}; expected a string`);
  }
  checkUtf8('message', message);
  return message;
}

function checkProgress(progress) {
  if (progress === null || progress === undefined) return null;
  if (typeof progress !== 'number') {
    throw new TypeError(`progress=${show(progress)} has type ${typeName(progress)}; ` +
      'expected null or a finite number in [0, 100] (a boolean is not a number here)');
  }
  if (!(progress >= 0 && progress <= 100)) { // NaN fails too
    throw new ValueError(`progress=${show(progress)} is out of range; expected null or a finite number in [0, 100]`);
  }
  return progress;
}

function checkFinished(finished) {
  if (finished === undefined) return false;
  if (finished !== true && finished !== false) {
    throw new TypeError(`finished=${show(finished)} has type ${typeName(finished)}; expected a boolean`);
  }
  return finished;
}

function checkAfterSeq(afterSeq) {
  if (afterSeq === null || afterSeq === undefined) return null;
  if (typeof afterSeq !== 'number' || !Number.isInteger(afterSeq)) {
    throw new TypeError(`after_seq=${show(afterSeq)} has type ${typeName(afterSeq)}` +
      `${typeof afterSeq === 'number' ? ' (not an integer)' : ''}; expected null or an integer >= 0`);
  }
  if (afterSeq < 0) throw new ValueError(`after_seq=${show(afterSeq)} is negative; expected null or an integer >= 0`);
  if (!Number.isSafeInteger(afterSeq)) {
    throw new ValueError(`after_seq=${show(afterSeq)} is too large; expected an integer in 0..${Number.MAX_SAFE_INTEGER}`);
  }
  return afterSeq;
}

const EPOCH_RE = /^[\x20-\x7e]{0,64}$/;

function checkEpoch(epoch) {
  if (epoch === null || epoch === undefined) return null;
  if (typeof epoch !== 'string') {
    throw new TypeError(`epoch=${show(epoch)} has type ${typeName(epoch)}; expected null or a string`);
  }
  if (!EPOCH_RE.test(epoch)) {
    throw new ValueError(`epoch=${show(epoch)} is not allowed; expected null or a string of at most ` +
      '64 printable ASCII characters, as a hello frame gave it');
  }
  return epoch;
}

function configNumber(name, value, { low, integer, allowNull = false, above = false }) {
  if (value === null && allowNull) return null;
  let allowed = integer ? `an integer >= ${low} and <= ${Number.MAX_SAFE_INTEGER}`
    : `a finite number ${above ? '>' : '>='} ${low}`;
  if (allowNull) allowed += ' or null';
  if (typeof value !== 'number' || (integer && !Number.isInteger(value))) {
    throw new TypeError(`${name}=${show(value)} has type ${typeName(value)}` +
      `${typeof value === 'number' ? ' (not an integer)' : ''}; expected ${allowed}`);
  }
  const bad = integer ? value < low || !Number.isSafeInteger(value)
    : !Number.isFinite(value) || value < low || (above && value === low);
  if (bad) throw new ValueError(`${name}=${show(value)} is not allowed; expected ${allowed}`);
  return value;
}

// -- messages and frames (WIRE-1..4) ----------------------------------------------------

function isoStamp(timestamp) {
  const second = Math.floor(timestamp);
  // truncated, never rounded up into the next second (WIRE-3)
  const micro = Math.min(999999, Math.floor((timestamp - second) * 1e6));
  return `${new Date(second * 1000).toISOString().slice(0, 19)}.${String(micro).padStart(6, '0')}Z`;
}

class LogMessage {
  constructor(taskId, seq, timestamp, level, message, progress, finished) {
    this.taskId = taskId;
    this.seq = seq;
    this.timestamp = timestamp;
    this.level = level;
    this.message = message;
    this.progress = progress;
    this.finished = finished;
  }

  get progressOnly() {
    return this.progress !== null && !this.finished && (this.level === 'debug' || this.level === 'info');
  }

  /** The exact wire text (WIRE-1): keys in this order, non-ASCII as UTF-8. */
  toText() {
    return `{"type":"log","task_id":${JSON.stringify(this.taskId)},"seq":${this.seq},` +
      `"timestamp":"${isoStamp(this.timestamp)}","level":"${this.level}",` +
      `"message":${JSON.stringify(this.message)},` +
      `"progress":${this.progress === null ? 'null' : JSON.stringify(this.progress)},` +
      `"finished":${this.finished ? 'true' : 'false'}}`;
  }
}

class GapNotice {
  constructor(taskId, firstSeq, lastSeq, reason) {
    this.taskId = taskId;
    this.firstSeq = firstSeq;
    this.lastSeq = lastSeq;
    this.reason = reason;
  }

  get seq() { return this.firstSeq; }

  /** WIRE-2. */
  toText() {
    return JSON.stringify({
      type: 'gap', task_id: this.taskId, first_seq: this.firstSeq, last_seq: this.lastSeq,
      count: this.lastSeq - this.firstSeq + 1, reason: this.reason,
    });
  }
}

class Opening {
  constructor(taskId, epoch, lastSeq, staleEpoch) {
    this.taskId = taskId;
    this.epoch = epoch;
    this.lastSeq = lastSeq;
    this.staleEpoch = staleEpoch;
  }

  /** WIRE-4: hello, or reset naming the stale epoch. */
  toText() {
    if (this.staleEpoch === null) {
      return JSON.stringify({ type: 'hello', task_id: this.taskId, epoch: this.epoch, last_seq: this.lastSeq });
    }
    return JSON.stringify({
      type: 'reset', task_id: this.taskId, epoch: this.epoch, last_seq: this.lastSeq, stale_epoch: this.staleEpoch,
    });
  }
}

// -- overflow policies (CAP-3..5) ---------------------------------------------------------

const POLICIES = Object.freeze({
  'drop-oldest': Object.freeze({ name: 'drop-oldest', chooseVictim: () => 0 }),
  'reject-newest': Object.freeze({
    name: 'reject-newest',
    chooseVictim: (queue, incoming) => (incoming.finished ? queue.length - 1 : null),
  }),
  'coalesce-progress': Object.freeze({
    name: 'coalesce-progress',
    chooseVictim: (queue, incoming) => (incoming.progressOnly && queue[queue.length - 1].progressOnly
      ? queue.length - 1 : 0),
  }),
});

// -- the lock: FIFO, handed over to the oldest waiter (LOCK-1, LOCK-4) ---------------------

class TaskLock {
  constructor() {
    this.locked = false;
    this.waiters = [];
  }

  tryAcquire() {
    if (this.locked) return false;
    this.locked = true;
    return true;
  }

  acquire() {
    if (this.tryAcquire()) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  release() {
    const next = this.waiters.shift();
    if (next) next(); // still locked: it is the next holder's now
    else this.locked = false;
  }

  waiting() { return this.waiters.length; }
}

// -- per-task state ------------------------------------------------------------------------

class Connection {
  constructor(manager, socket, taskId, cursor, replay, epoch) {
    this._manager = manager;
    this.socket = socket;
    this.taskId = taskId;
    this.epoch = epoch;
    this.cursor = cursor; // highest seq this client was sent or told about
    this.replay = replay; // what a resuming client is owed first, in seq order
    this.ended = false;
    this.closeCode = null;
    this.closeReason = '';
    this.sending = false; // a frame group is being written
    this.socketClosed = false;
    this._endListeners = [];
  }

  /** The manager lets go of this client; the socket is closed once any frame group in
   * flight is done. */
  end(code, reason) {
    if (this.ended) return;
    this.ended = true;
    this.closeCode = code;
    this.closeReason = reason;
    if (!this.sending) this._manager._closeSocket(this);
    for (const listener of this._endListeners.splice(0)) {
      try { listener(this); } catch { /* a listener's problem, never the manager's */ }
    }
  }

  onEnd(listener) {
    if (this.ended) listener(this);
    else this._endListeners.push(listener);
  }
}

class TaskState {
  constructor(taskId, now, historySize, epoch) {
    this.taskId = taskId;
    this.epoch = epoch;
    this.nextSeq = 1;
    this.queue = [];
    this.historySize = historySize;
    this.history = historySize > 0 ? [] : null;
    this.gaps = []; // dropped [first, last] ranges, sorted, disjoint
    this.inFlight = null;
    this.sentThrough = 0; // highest seq whose fate some client has been told
    this.forgottenThrough = 0; // highest seq no longer kept for a resuming client
    this.connection = null;
    this.finishedSeq = 0;
    this.dropped = 0;
    this.delivered = 0;
    this.failedSends = 0;
    this.lastActivity = now;
    this.closed = false;
    this.lock = new TaskLock();
  }
}

const realScheduler = Object.freeze({
  setTimeout: (fn, seconds) => setTimeout(fn, seconds * 1000),
  clearTimeout: (handle) => clearTimeout(handle),
});

const PLANTED_BUGS = Object.freeze({
  'lifo-flush': 'a connecting client is flushed the queue newest first (breaks ORD-2)',
  'no-4000': 'a replaced client is closed with 1000 instead of 4000 (breaks REPL-1, CLOSE-1)',
});

class ConnectionManager {
  constructor(options = {}) {
    const o = { ...options };
    this.maxQueueSize = configNumber('max_queue_size', o.maxQueueSize ?? 1000, { low: 1, integer: true });
    this.sendTimeout = configNumber('send_timeout', o.sendTimeout === undefined ? 10 : o.sendTimeout,
      { low: 0, integer: false, allowNull: true, above: true });
    this.historySize = configNumber('history_size', o.historySize ?? 0, { low: 0, integer: true });
    this.taskTtl = configNumber('task_ttl', o.taskTtl === undefined ? 3600 : o.taskTtl,
      { low: 0, integer: false, allowNull: true });
    this.maxTasks = configNumber('max_tasks', o.maxTasks ?? null, { low: 1, integer: true, allowNull: true });
    this.closeTimeout = configNumber('close_timeout', o.closeTimeout ?? 5, { low: 0, integer: false, above: true });
    const overflow = o.overflow ?? 'drop-oldest';
    if (typeof overflow === 'string') {
      if (!(overflow in POLICIES)) {
        throw new ValueError(`overflow=${show(overflow)} is not allowed; expected one of ` +
          `${Object.keys(POLICIES).map((n) => `'${n}'`).join(', ')} or an object with chooseVictim(queue, incoming)`);
      }
      this.overflow = POLICIES[overflow];
    } else if (overflow && typeof overflow.chooseVictim === 'function') {
      this.overflow = overflow;
    } else {
      throw new TypeError(`overflow=${show(overflow)} has no chooseVictim(queue, incoming) method`);
    }
    const clock = o.clock ?? (() => Date.now() / 1000);
    if (typeof clock !== 'function') {
      throw new TypeError(`clock=${show(clock)} is not a function; expected a function returning POSIX seconds`);
    }
    this.clock = clock;
    const scheduler = o.scheduler ?? realScheduler;
    if (!scheduler || typeof scheduler.setTimeout !== 'function' || typeof scheduler.clearTimeout !== 'function') {
      throw new TypeError(`scheduler=${show(scheduler)} has no setTimeout(fn, seconds) and clearTimeout(handle)`);
    }
    this.scheduler = scheduler;
    const bug = o.plantedBug ?? null;
    if (bug !== null && !(bug in PLANTED_BUGS)) {
      throw new ValueError(`plantedBug=${show(bug)} is not allowed; expected one of ${Object.keys(PLANTED_BUGS).join(', ')}`);
    }
    this.plantedBug = bug;

    this.tasks = new Map(); // insertion order = creation order (MEM-4 evicts the oldest)
    this.logged = 0;
    this.dropped = 0;
    this.delivered = 0;
    this.failedSends = 0;
    this.discarded = 0;
    this.expiredTasks = 0;
    this._nextSweep = this.taskTtl === null ? Infinity : this.clock() + this.taskTtl / 8;
    this._epochPrefix = crypto.randomBytes(4).toString('hex');
    this._incarnations = 0;
  }

  // -- the seed API -------------------------------------------------------------------------

  /** Log one message: send it now if the task has a client, otherwise queue it. Resolves to
   * the LogMessage (with its seq); never rejects because of a client (FAIL-2). */
  async sendLog(taskId, level, message, progress = null, finished = false) {
    const [state, entry] = this._log(taskId, level, message, progress, finished); // before any await (ORD-1)
    if (state.connection === null) return entry; // no client: never wait (PROD-1)
    if (!state.lock.tryAcquire()) await state.lock.acquire();
    try {
      const connection = state.connection; // re-read: replaced or dropped while we waited
      if (connection !== null) await this._drain(state, connection, entry.seq);
    } finally {
      state.lock.release();
    }
    return entry;
  }

  /** Accept `socket`, make it the task's client, send what is owed, then resolve to the
   * Connection handle (its `ended` and `closeCode` say when and why the manager let go). */
  async connect(socket, taskId, { afterSeq = null, epoch = null } = {}) {
    taskId = checkTaskId(taskId);
    afterSeq = checkAfterSeq(afterSeq);
    epoch = checkEpoch(epoch);
    // Before accept: a bad resume point changes nothing (RES-3); the incarnation the resume
    // point belongs to is fixed now (RES-4).
    const expectedEpoch = this._checkResume(taskId, afterSeq, epoch);
    await this._bounded(Promise.resolve().then(() => socket.accept()), this.sendTimeout, 'accept'); // FLUSH-3
    for (;;) {
      let state;
      try {
        state = this._taskForConnect(taskId);
      } catch (err) {
        if (err instanceof TaskLimitError) this._closeRaw(socket, CloseCode.TRY_AGAIN_LATER, 'too many tasks');
        throw err;
      }
      if (!state.lock.tryAcquire()) await state.lock.acquire();
      try {
        if (state.closed) continue; // disconnected while we waited: attach to a fresh task
        let connection;
        try {
          connection = this._attach(state, socket, afterSeq, expectedEpoch, epoch !== null);
        } catch (err) {
          if (err instanceof ValueError) this._closeRaw(socket, CloseCode.POLICY_VIOLATION, 'after_seq is beyond the task');
          throw err;
        }
        connection.flushing = true;
        try {
          await this._drain(state, connection, state.nextSeq - 1);
        } catch (err) {
          // Not a client's failure (_drain handles those): nobody would ever flush or detach
          // this socket, so it must not stay attached (FLUSH-1); what was queued stays queued.
          if (state.inFlight !== null) this._putBack(state);
          this.detach(taskId, socket, CloseCode.GOING_AWAY, 'connect failed');
          throw err;
        } finally {
          connection.flushing = false;
        }
        return connection;
      } finally {
        state.lock.release();
      }
    }
  }

  /** Forget the task: its client (closed with 4002), queue, history and lock. Idempotent;
   * returns how many queued messages were discarded (DISC-1). */
  disconnect(taskId) {
    taskId = checkTaskId(taskId);
    const state = this.tasks.get(taskId);
    if (state === undefined) return 0;
    this.tasks.delete(taskId);
    return this._forget(state, CloseCode.SERVER_DISCONNECT, 'task disconnected by the server');
  }

  getConnectionStatus(taskId) {
    const state = this.tasks.get(checkTaskId(taskId));
    return state !== undefined && state.connection !== null;
  }

  getQueuedMessageCount(taskId) {
    const state = this.tasks.get(checkTaskId(taskId));
    if (state === undefined) return 0;
    return state.queue.length + (state.inFlight !== null ? 1 : 0);
  }

  // -- beyond the seed ------------------------------------------------------------------------

  /** The client behind `socket` left: drop that connection, keep the task. A no-op (false)
   * when `socket` is no longer the task's client (REPL-2). */
  detach(taskId, socket, code = CloseCode.NORMAL, reason = 'client left') {
    const state = this.tasks.get(checkTaskId(taskId));
    const connection = state !== undefined ? state.connection : null;
    if (connection === null || connection.socket !== socket) return false;
    state.connection = null;
    state.lastActivity = this.clock();
    connection.end(code, reason);
    return true;
  }

  taskStatistics(taskId) {
    taskId = checkTaskId(taskId);
    const s = this.tasks.get(taskId);
    if (s === undefined) return { taskId, known: false };
    return {
      taskId, known: true, connected: s.connection !== null,
      queued: s.queue.length + (s.inFlight !== null ? 1 : 0), dropped: s.dropped, delivered: s.delivered,
      failedSends: s.failedSends, lastSeq: s.nextSeq - 1, sentThrough: s.sentThrough,
      history: s.history ? s.history.length : 0, gapRanges: s.gaps.length, finished: s.finishedSeq > 0,
      lockWaiters: s.lock.waiting(), epoch: s.epoch,
    };
  }

  statistics() {
    let connections = 0; let queued = 0; let lockWaiters = 0;
    for (const s of this.tasks.values()) {
      connections += s.connection !== null ? 1 : 0;
      queued += s.queue.length + (s.inFlight !== null ? 1 : 0);
      lockWaiters += s.lock.waiting();
    }
    return {
      tasks: this.tasks.size, connections, queued, logged: this.logged, dropped: this.dropped,
      delivered: this.delivered, failedSends: this.failedSends, discarded: this.discarded,
      expiredTasks: this.expiredTasks, lockWaiters,
    };
  }

  // -- producing ---------------------------------------------------------------------------

  _log(taskId, level, message, progress, finished) {
    taskId = checkTaskId(taskId);
    level = checkLevel(level);
    message = checkMessage(message);
    progress = checkProgress(progress);
    finished = checkFinished(finished);
    const now = this.clock();
    let state = this.tasks.get(taskId);
    if (state === undefined) state = this._newTask(taskId, now);
    else if (state.finishedSeq) {
      throw new TaskFinishedError(`task ${show(taskId)} finished with seq ${state.finishedSeq}; ` +
        'nothing can be logged after a finished message (disconnect it to start again)');
    }
    const seq = state.nextSeq;
    const entry = new LogMessage(taskId, seq, now, level, message, progress, finished);
    if (state.queue.length >= this.maxQueueSize) {
      // asked before anything changes: a PolicyError spends no seq (CAP-2)
      this._place(state, entry, this._chooseVictim(state.queue, entry));
    } else {
      state.queue.push(entry);
    }
    state.nextSeq = seq + 1;
    if (finished) state.finishedSeq = seq;
    state.lastActivity = now;
    this.logged += 1;
    if (now >= this._nextSweep) this._sweep(now);
    return [state, entry];
  }

  _chooseVictim(queue, incoming) {
    const name = this.overflow.name ?? 'overflow policy';
    let victim;
    try {
      victim = this.overflow.chooseVictim(queue, incoming);
    } catch (err) {
      throw new PolicyError(`${name} raised ${show(err && err.message)}`);
    }
    if (victim === null || victim === undefined) {
      if (incoming.finished) throw new PolicyError(`${name} rejected a finished message`);
      return null;
    }
    if (!Number.isInteger(victim)) {
      throw new PolicyError(`${name} returned ${show(victim)} of type ${typeName(victim)}, not null or an integer`);
    }
    if (victim < -queue.length || victim >= queue.length) {
      throw new PolicyError(`${name} chose index ${victim} in a queue of ${queue.length}`);
    }
    if (queue.at(victim).finished) throw new PolicyError(`${name} chose to evict a finished message`);
    return victim < 0 ? victim + queue.length : victim;
  }

  _place(state, incoming, victim) {
    if (victim === null) {
      this._recordDrop(state, incoming.seq);
      return;
    }
    const [evicted] = state.queue.splice(victim, 1);
    state.queue.push(incoming);
    this._recordDrop(state, evicted.seq);
  }

  _recordDrop(state, seq) {
    state.dropped += 1;
    this.dropped += 1;
    const gaps = state.gaps;
    let i = gaps.length;
    while (i > 0 && gaps[i - 1][0] > seq) i -= 1;
    if (i > 0 && gaps[i - 1][1] === seq - 1) {
      gaps[i - 1][1] = seq;
      if (i < gaps.length && gaps[i][0] === seq + 1) {
        gaps[i - 1][1] = gaps[i][1];
        gaps.splice(i, 1);
      }
    } else if (i < gaps.length && gaps[i][0] === seq + 1) {
      gaps[i][0] = seq;
    } else {
      gaps.splice(i, 0, [seq, seq]);
    }
  }

  // -- connections ----------------------------------------------------------------------------

  /** RES-3 / RES-4: check a resume point; return the epoch it belongs to (null: none). */
  _checkResume(taskId, afterSeq, epoch) {
    const state = this.tasks.get(taskId);
    if (epoch && (state === undefined || state.epoch !== epoch)) return epoch; // another incarnation
    if (afterSeq !== null) {
      const last = state !== undefined ? state.nextSeq - 1 : 0;
      if (afterSeq > last) {
        throw new ValueError(`after_seq=${afterSeq} is beyond the last seq of task ${show(taskId)}; ` +
          `expected an integer in 0..${last}`);
      }
    }
    if (epoch || afterSeq !== null) return state !== undefined ? state.epoch : null;
    return null;
  }

  _taskForConnect(taskId) {
    const now = this.clock();
    if (now >= this._nextSweep) this._sweep(now);
    return this.tasks.get(taskId) ?? this._newTask(taskId, now);
  }

  _attach(state, socket, afterSeq, expectedEpoch, opening) {
    const stale = expectedEpoch !== null && expectedEpoch !== state.epoch ? expectedEpoch : null;
    if (stale !== null) afterSeq = 0; // the current incarnation from its start (RES-4)
    else this._checkResume(state.taskId, afterSeq, null);
    let replay = [];
    let cursor = state.sentThrough;
    if (afterSeq !== null) {
      cursor = Math.min(afterSeq, state.sentThrough);
      replay = this._replay(state, afterSeq);
      // queued messages the client says it has are not sent twice (RES-1)
      while (state.queue.length && state.queue[0].seq <= afterSeq) {
        this._remember(state, state.queue.shift());
        state.delivered += 1;
        this.delivered += 1;
      }
    }
    if (opening || stale !== null) replay.unshift(new Opening(state.taskId, state.epoch, state.nextSeq - 1, stale));
    const connection = new Connection(this, socket, state.taskId, cursor, replay, state.epoch);
    const old = state.connection;
    state.connection = connection;
    state.lastActivity = this.clock();
    if (old !== null) {
      // we hold the lock, so nothing is in flight on the old socket (REPL-1)
      if (this.plantedBug === 'no-4000') old.end(CloseCode.NORMAL, 'replaced');
      else old.end(CloseCode.REPLACED, 'replaced by a newer connection for this task');
    }
    return connection;
  }

  _replay(state, afterSeq) {
    const items = [];
    let floor = afterSeq;
    if (afterSeq < state.forgottenThrough) {
      items.push(new GapNotice(state.taskId, afterSeq + 1, state.forgottenThrough, 'expired'));
      floor = state.forgottenThrough;
    }
    for (const [first, last] of state.gaps) {
      if (last > floor && first <= state.sentThrough) {
        items.push(new GapNotice(state.taskId, Math.max(first, floor + 1), Math.min(last, state.sentThrough), 'dropped'));
      }
    }
    if (state.history !== null) {
      for (const m of state.history) if (m.seq > floor) items.push(m);
      items.sort((a, b) => a.seq - b.seq);
    }
    return items;
  }

  _forget(state, code, reason) {
    state.closed = true;
    const discarded = state.queue.length;
    this.discarded += discarded;
    state.queue.length = 0;
    if (state.connection !== null) {
      const connection = state.connection;
      state.connection = null;
      connection.end(code, reason);
    }
    return discarded;
  }

  _newTask(taskId, now) {
    if (this.maxTasks !== null && this.tasks.size >= this.maxTasks) {
      this._sweep(now);
      if (this.tasks.size >= this.maxTasks) {
        let victim = null;
        for (const s of this.tasks.values()) {
          if (s.connection === null && s.inFlight === null) { victim = s; break; }
        }
        if (victim === null) {
          throw new TaskLimitError(`no room for task ${show(taskId)}: max_tasks=${this.maxTasks} tasks ` +
            'all have a client');
        }
        this.tasks.delete(victim.taskId);
        this._forget(victim, CloseCode.SERVER_DISCONNECT, 'task evicted by max_tasks');
        this.expiredTasks += 1;
      }
    }
    this._incarnations += 1;
    const state = new TaskState(taskId, now, this.historySize, `${this._epochPrefix}.${this._incarnations}`);
    this.tasks.set(taskId, state);
    return state;
  }

  /** MEM-3: forget tasks with no client and no activity for taskTtl seconds (lazily). */
  _sweep(now) {
    if (this.taskTtl === null) return 0;
    this._nextSweep = now + this.taskTtl / 8;
    const stale = [];
    for (const s of this.tasks.values()) {
      if (s.connection === null && s.inFlight === null && now - s.lastActivity >= this.taskTtl) stale.push(s);
    }
    for (const s of stale) {
      this.tasks.delete(s.taskId);
      this._forget(s, CloseCode.SERVER_DISCONNECT, 'task expired');
    }
    this.expiredTasks += stale.length;
    return stale.length;
  }

  // -- draining ------------------------------------------------------------------------------

  /** Send through `throughSeq`, then what nobody else will come for. Hold the lock. */
  async _drain(state, connection, throughSeq) {
    for (;;) {
      const frames = this._nextFrames(state, connection, throughSeq);
      if (frames === null) {
        const last = state.nextSeq - 1;
        if (throughSeq === last || state.queue.length === 0 || state.lock.waiting() > 0
            || state.connection !== connection) return;
        throughSeq = last;
        continue;
      }
      connection.sending = true;
      try {
        for (const frame of frames) await this._sendText(connection, frame.toText());
      } catch (err) {
        connection.sending = false;
        this._sendFailed(state, connection, frames, err);
        return;
      }
      connection.sending = false;
      const nothingLeft = this._sent(state, connection, frames);
      if (connection.ended) {
        this._closeSocket(connection); // a close that came during the group (DISC-2)
        return;
      }
      if (nothingLeft) return;
    }
  }

  /** Notices and at most one message for `connection`, in order; null when nothing. */
  _nextFrames(state, connection, throughSeq) {
    if (state.closed || connection.ended || state.inFlight !== null) return null;
    if (connection.replay.length) return [connection.replay.shift()];
    const queue = state.queue;
    if (queue.length && queue[0].seq <= throughSeq) {
      const message = this.plantedBug === 'lifo-flush' && connection.flushing ? queue.pop() : queue.shift();
      state.inFlight = message;
      const gaps = state.gaps;
      if (gaps.length && gaps[gaps.length - 1][1] > connection.cursor) {
        const frames = this._notices(state, connection.cursor, message.seq);
        frames.push(message);
        return frames;
      }
      return [message];
    }
    if (state.gaps.length && state.gaps[state.gaps.length - 1][1] > connection.cursor && queue.length === 0) {
      const notices = this._notices(state, connection.cursor, state.nextSeq);
      return notices.length ? notices : null;
    }
    return null;
  }

  _notices(state, cursor, belowSeq) {
    const out = [];
    for (const [first, last] of state.gaps) {
      if (last > cursor && first < belowSeq) out.push(new GapNotice(state.taskId, Math.max(first, cursor + 1), last, 'dropped'));
    }
    return out;
  }

  /** Every frame of `frames` was written. True when nothing at all is left to send. */
  _sent(state, connection, frames) {
    const last = frames[frames.length - 1];
    if (last === state.inFlight) {
      state.inFlight = null;
      state.delivered += 1;
      this.delivered += 1;
      if (last.seq > connection.cursor) connection.cursor = last.seq;
      this._remember(state, last);
    } else if (!(last instanceof Opening)) {
      const seq = last instanceof LogMessage ? last.seq : last.lastSeq;
      if (seq > connection.cursor) connection.cursor = seq;
      if (seq > state.sentThrough) state.sentThrough = seq;
    }
    const gaps = state.gaps;
    return !(state.queue.length || connection.replay.length
      || (gaps.length && gaps[gaps.length - 1][1] > connection.cursor));
  }

  _remember(state, message) {
    if (message.seq > state.sentThrough) state.sentThrough = message.seq;
    if (state.history === null) {
      state.forgottenThrough = message.seq;
    } else {
      if (state.history.length === state.historySize) state.forgottenThrough = state.history.shift().seq;
      state.history.push(message);
    }
    while (state.gaps.length && state.gaps[0][1] <= state.forgottenThrough) state.gaps.shift();
  }

  _sendFailed(state, connection, frames, err) {
    state.failedSends += 1;
    this.failedSends += 1;
    const message = state.inFlight;
    if (message !== null && frames[frames.length - 1] === message) this._putBack(state);
    if (state.connection === connection) {
      state.connection = null;
      state.lastActivity = this.clock();
    }
    if (err instanceof SendTimeoutError) connection.end(CloseCode.SEND_TIMEOUT, 'send timed out');
    else connection.end(CloseCode.SEND_FAILED, `send failed: ${err && err.message}`);
    this._closeSocket(connection); // (already ended by a disconnect: closed with its code)
  }

  /** The message in flight was not sent: back to the front of the queue (FAIL-1). */
  _putBack(state) {
    const message = state.inFlight;
    state.inFlight = null;
    if (state.closed) {
      this.discarded += 1;
      return;
    }
    state.queue.unshift(message);
    if (state.queue.length > this.maxQueueSize) {
      const newest = state.queue.pop();
      let victim;
      try {
        victim = this._chooseVictim(state.queue, newest);
      } catch {
        victim = 0; // no caller to tell (FAIL-2): the oldest gives way
      }
      this._place(state, newest, victim);
    }
  }

  // -- I/O ----------------------------------------------------------------------------------

  /** One frame through `socket.send(data, callback)`, bounded by sendTimeout. */
  _sendText(connection, text) {
    return this._bounded(new Promise((resolve, reject) => {
      connection.socket.send(text, (err) => (err ? reject(err) : resolve()));
    }), this.sendTimeout, 'send');
  }

  /** `promise`, or a SendTimeoutError after `seconds` of the scheduler (null: unbounded). */
  _bounded(promise, seconds, what) {
    if (seconds === null) return promise;
    return new Promise((resolve, reject) => {
      let settled = false;
      const timer = this.scheduler.setTimeout(() => {
        if (settled) return;
        settled = true;
        reject(new SendTimeoutError(`${what} did not finish within ${seconds} s`));
      }, seconds);
      promise.then((value) => {
        if (settled) return;
        settled = true;
        this.scheduler.clearTimeout(timer);
        resolve(value);
      }, (err) => {
        if (settled) return;
        settled = true;
        this.scheduler.clearTimeout(timer);
        reject(err);
      });
    });
  }

  _closeSocket(connection) {
    if (connection.socketClosed) return;
    connection.socketClosed = true;
    this._closeRaw(connection.socket, connection.closeCode ?? CloseCode.NORMAL, connection.closeReason);
  }

  _closeRaw(socket, code, reason) {
    try {
      socket.close(code, String(reason).slice(0, 120)); // a close reason is at most 123 bytes
    } catch { /* best effort: the socket is usually broken already */ }
  }
}

module.exports = {
  ConnectionManager,
  Connection,
  LogMessage,
  GapNotice,
  Opening,
  CloseCode,
  LEVELS,
  POLICIES,
  PLANTED_BUGS,
  TasktailError,
  ValueError,
  TaskFinishedError,
  TaskLimitError,
  PolicyError,
  SendTimeoutError,
  errorKind,
  show,
  isoStamp,
  checkTaskId,
  checkAfterSeq,
  checkEpoch,
};
