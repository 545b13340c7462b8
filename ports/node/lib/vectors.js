'use strict';
// The vector runner for Node (tasktail/vectors/README.md, "The vector runner contract"):
// replays the corpus in-process against a manager on virtual time, with test sockets, and
// grades each vector PASS / NON-STRICT / FAIL / UNSUPPORTED.

const fs = require('node:fs');
const path = require('node:path');
const { VirtualClock, CLOCK_BASE } = require('./clock');
const { TestSocket, Recorder, BEHAVIOURS } = require('./testsocket');
const { errorKind } = require('./manager');

const VERSION = 'tasktail-vectors/1';
const CORPUS = path.resolve(__dirname, '..', '..', '..', 'tasktail', 'vectors', 'corpus');
const GRADES = ['PASS', 'NON-STRICT', 'UNSUPPORTED', 'FAIL']; // worst last
const OPS = ['log', 'connect', 'release', 'accept', 'fail', 'drop', 'detach', 'disconnect', 'advance', 'query'];
const SETUP_KEYS = ['max_queue_size', 'history_size', 'send_timeout', 'task_ttl', 'max_tasks', 'overflow'];
const ISO8601 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;
const EPOCH = /^[\x21-\x7e]{1,64}$/;

class VectorError extends Error {}

function load(directory = CORPUS) {
  return fs.readdirSync(directory).filter((f) => f.endsWith('.json')).sort()
    .map((f) => JSON.parse(fs.readFileSync(path.join(directory, f), 'utf8')));
}

/** Refuse a vector this runner cannot replay: an error, never a verdict. */
function checkVector(v) {
  const id = v && v.id;
  if (!v || v.version !== VERSION) throw new VectorError(`vector ${id}: version ${v && v.version}, this runner replays ${VERSION}`);
  for (const key of Object.keys(v.setup || {})) {
    if (!SETUP_KEYS.includes(key)) throw new VectorError(`vector ${id}: unknown setup key ${key}`);
  }
  for (const step of v.steps || []) {
    if (!OPS.includes(step.op)) throw new VectorError(`vector ${id}: unknown step ${JSON.stringify(step.op)}`);
    if (step.op === 'connect' && !BEHAVIOURS.includes(step.behaviour)) {
      throw new VectorError(`vector ${id}: unknown behaviour ${JSON.stringify(step.behaviour)}`);
    }
  }
}

const settle = async () => {
  // Everything the manager does in-process is promise continuations (microtasks) and the
  // virtual clock's timers: once a macrotask turn comes round, nothing can run without a
  // client acting or time passing. Two turns, for good measure.
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
};

function configFor(setup, clock) {
  const config = {
    maxQueueSize: setup.max_queue_size,
    historySize: setup.history_size,
    sendTimeout: setup.send_timeout,
    taskTtl: setup.task_ttl,
    clock: clock.now,
    scheduler: clock,
  };
  if ('max_tasks' in setup) config.maxTasks = setup.max_tasks;
  if ('overflow' in setup) config.overflow = setup.overflow;
  return config;
}

function openingEpoch(frames) {
  const first = frames[0];
  if (first && typeof first === 'object' && (first.type === 'hello' || first.type === 'reset')) {
    return typeof first.epoch === 'string' ? first.epoch : null;
  }
  return null;
}

/** Play `vector`'s steps against `factory(config)`; return {clients, steps}. */
async function play(vector, factory) {
  const clock = new VirtualClock(CLOCK_BASE);
  const manager = factory(configFor(vector.setup, clock));
  const clients = new Map(); // name -> {socket, recorder, task, call}
  const calls = [];
  const results = [];
  const spawn = (fn) => {
    const call = { done: false, error: null, value: undefined };
    Promise.resolve().then(fn).then((value) => {
      call.value = value;
      call.done = true;
    }, (err) => {
      call.error = err;
    });
    return call;
  };
  const status = (call) => (call.error !== null ? { result: 'raised', error: errorKind(call.error) }
    : { result: call.done ? 'returned' : 'blocked' });
  const sync = (fn) => {
    try {
      return fn();
    } catch (err) {
      return { result: 'raised', error: errorKind(err), end: 'raised' };
    }
  };

  for (const step of vector.steps) {
    let call = null;
    let result = null;
    const client = clients.get(step.client);
    switch (step.op) {
      case 'log':
        call = spawn(() => manager.sendLog(step.task, step.level, step.message,
          'progress' in step ? step.progress : null, 'finished' in step ? step.finished : false));
        break;
      case 'connect': {
        const recorder = new Recorder();
        const socket = new TestSocket(step.client, step.behaviour, recorder);
        const options = {};
        if ('after_seq' in step) options.afterSeq = step.after_seq;
        if ('epoch' in step) {
          const e = step.epoch;
          options.epoch = typeof e === 'object' && e !== null
            ? openingEpoch(clients.has(e.$epoch_of) ? clients.get(e.$epoch_of).recorder.frames : []) : e;
        }
        const entry = { socket, recorder, task: step.task, call: null };
        clients.set(step.client, entry);
        call = entry.call = spawn(() => manager.connect(socket, step.task, options));
        break;
      }
      case 'release':
        for (let i = 0; i < step.n; i += 1) {
          client.socket.release();
          await settle();
        }
        break;
      case 'accept':
        client.socket.letAccept();
        break;
      case 'fail':
        client.socket.fail();
        break;
      case 'drop':
        client.socket.drop();
        break;
      case 'detach':
        result = sync(() => ({ detached: Boolean(manager.detach(client.task, client.socket)) }));
        break;
      case 'disconnect':
        result = sync(() => {
          const n = manager.disconnect(step.task);
          return { discarded: Number.isInteger(n) ? n : null };
        });
        break;
      case 'query':
        result = sync(() => ({
          connected: Boolean(manager.getConnectionStatus(step.task)),
          queued: Number(manager.getQueuedMessageCount(step.task)),
        }));
        break;
      case 'advance':
        await clock.advance(step.seconds, settle);
        break;
      default:
        throw new VectorError(`unknown step ${step.op}`);
    }
    await settle();
    if (call !== null) {
      result = status(call);
      if (step.op === 'log' && call.done) result.seq = call.value && Number.isInteger(call.value.seq) ? call.value.seq : null;
    }
    calls.push(call);
    results.push(result);
  }
  calls.forEach((call, i) => {
    if (call !== null && results[i] !== null) results[i].end = status(call).result;
  });
  const outcome = {};
  for (const [name, c] of clients) {
    let close = c.socket.closeCode;
    const handle = c.call.value;
    if (close === null && handle && handle.ended) close = handle.closeCode ?? null;
    outcome[name] = {
      accepted: c.socket.accepted,
      frames: c.recorder.frames,
      close,
      violations: [...c.socket.violations].sort(),
    };
  }
  return { clients: outcome, steps: results };
}

// -- judging ---------------------------------------------------------------------------

function same(expected, actual, openings, keyOrder) {
  if (expected !== null && typeof expected === 'object' && !Array.isArray(expected)
      && ('$match' in expected || '$epoch_of' in expected)) {
    if ('$epoch_of' in expected) return typeof actual === 'string' && actual === openings[expected.$epoch_of];
    const pattern = { iso8601: ISO8601, epoch: EPOCH }[expected.$match];
    if (!pattern || typeof actual !== 'string' || !pattern.test(actual)) return false;
    return (expected.differs_from || []).every((name) => openings[name] !== actual);
  }
  if (Array.isArray(expected)) {
    return Array.isArray(actual) && expected.length === actual.length
      && expected.every((e, i) => same(e, actual[i], openings, keyOrder));
  }
  if (expected !== null && typeof expected === 'object') {
    if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) return false;
    const ek = Object.keys(expected);
    const ak = Object.keys(actual);
    if (ek.length !== ak.length || !ek.every((k) => Object.hasOwn(actual, k))) return false;
    if (keyOrder && ek.some((k, i) => ak[i] !== k)) return false;
    return ek.every((k) => same(expected[k], actual[k], openings, keyOrder));
  }
  // JSON scalars. (JavaScript has one number type: 50 and 50.0 cannot be told apart here.)
  return typeof expected === typeof actual && expected === actual;
}

const show = (v) => JSON.stringify(v);

/** How `outcome` differs from one expected outcome (empty: it matches). */
function problems(expected, outcome) {
  const found = [];
  const openings = {};
  for (const [name, c] of Object.entries(outcome.clients)) {
    const e = openingEpoch(c.frames);
    if (e !== null) openings[name] = e;
  }
  expected.steps.forEach((want, i) => {
    const got = outcome.steps[i];
    if (!same(want, got === undefined ? null : got, openings, false)) {
      found.push(`step ${i + 1}: expected ${show(want)}, got ${show(got)}`);
    }
  });
  for (const [name, want] of Object.entries(expected.clients)) {
    const got = outcome.clients[name];
    if (got === undefined) {
      found.push(`${name}: never connected`);
      continue;
    }
    for (const key of ['accepted', 'violations', 'close']) {
      if (!same(want[key], got[key], openings, false)) found.push(`${name}: ${key} expected ${show(want[key])}, got ${show(got[key])}`);
    }
    for (const frame of got.frames) {
      if (frame && frame.type === 'reset' && frame.epoch === frame.stale_epoch) {
        found.push(`${name}: a reset frame names its own epoch as stale: ${show(frame)}`);
      }
    }
    const n = Math.max(want.frames.length, got.frames.length);
    for (let i = 0; i < n; i += 1) {
      const w = i < want.frames.length ? want.frames[i] : null;
      const g = i < got.frames.length ? got.frames[i] : null;
      if (w === null || g === null || !same(w, g, openings, true)) {
        found.push(`${name}: frame ${i + 1} expected ${show(w)}, got ${show(g)}`);
        break;
      }
    }
  }
  return found;
}

/** [grade, problems, why]: the first alternative that matches, else FAIL. */
function grade(expect, outcome) {
  const alternatives = expect.alternatives || [{ grade: 'PASS', ...expect }];
  let first = null;
  for (const alt of alternatives) {
    const found = problems(alt, outcome);
    if (found.length === 0) return [alt.grade, [], alt.why || null];
    if (first === null) first = found;
  }
  return ['FAIL', first || [], null];
}

/** One verdict: {vector, rules, grade, problems, why}. `supports(vector)` may return a
 * reason string to report the vector UNSUPPORTED (never PASS). */
async function runVector(vector, factory, { supports = () => null } = {}) {
  checkVector(vector);
  const base = { vector: vector.id, rules: vector.rules };
  const unsupported = supports(vector);
  if (unsupported) return { ...base, grade: 'UNSUPPORTED', problems: [unsupported], why: null };
  let outcome;
  try {
    outcome = await play(vector, factory);
  } catch (err) {
    return { ...base, grade: 'FAIL', problems: [`the run crashed: ${err && err.stack}`], why: null };
  }
  const [g, found, why] = grade(vector.expect, outcome);
  return { ...base, grade: g, problems: found, why };
}

async function run(factory, { vectors = load(), supports } = {}) {
  const verdicts = [];
  for (const v of vectors) verdicts.push(await runVector(v, factory, { supports }));
  return verdicts;
}

function worst(grades) {
  const found = grades.filter((g) => g !== 'UNSUPPORTED');
  if (found.length === 0) return 'UNSUPPORTED';
  return found.reduce((a, b) => (GRADES.indexOf(b) > GRADES.indexOf(a) ? b : a));
}

function perRule(verdicts) {
  const rules = new Map();
  for (const v of verdicts) for (const r of v.rules) rules.set(r, [...(rules.get(r) || []), v.grade]);
  return new Map([...rules.entries()].sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true }))
    .map(([r, g]) => [r, worst(g)]));
}

function counts(grades) {
  const out = Object.fromEntries(GRADES.map((g) => [g, 0]));
  for (const g of grades) out[g] += 1;
  return out;
}

module.exports = {
  VERSION, CORPUS, GRADES, VectorError, load, checkVector, play, problems, grade, runVector, run, perRule,
  worst, counts, settle,
};
