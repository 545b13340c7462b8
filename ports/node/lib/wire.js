'use strict';
// A small over-the-wire vector player in Node: drives a running server through real `ws`
// clients and its tasktail-control/1 surface (tasktail/wire/PROTOCOL.md), and judges the
// outcome with the same judge as the in-process runner. The Python wire runner
// (`tasktail conform --url`) is the reference runner; this one lets the Node port's own
// tests check its server over loopback without Python.

const WebSocket = require('ws');
const vectors = require('./vectors');

const WAIT_MS = 3000; // real-time bound for anything the network must deliver

async function control(base, route, body) {
  const init = body === undefined ? { method: 'GET' }
    : { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) };
  const res = await fetch(`${base}/_tasktail/${route}`, init);
  const answer = await res.json();
  if (!res.ok) {
    const err = new Error(`${route}: ${res.status} ${answer.error}: ${answer.detail}`);
    err.kind = answer.error;
    throw err;
  }
  return answer;
}

function waitFor(predicate, emitter, events, ms = WAIT_MS) {
  return new Promise((resolve) => {
    if (predicate()) {
      resolve(true);
      return;
    }
    const check = () => {
      if (predicate()) finish(true);
    };
    const timer = setTimeout(() => finish(false), ms);
    function finish(ok) {
      clearTimeout(timer);
      for (const e of events) emitter.off(e, check);
      resolve(ok);
    }
    for (const e of events) emitter.on(e, check);
  });
}

class WireClient {
  constructor(url, name) {
    this.name = name;
    this.frames = [];
    this.closeCode = null; // from a close frame received
    this.closed = false;
    this.opened = false;
    this.refused = false;
    this.ws = new WebSocket(url);
    this.ws.on('open', () => { this.opened = true; });
    this.ws.on('message', (data) => {
      const text = data.toString('utf8');
      try {
        this.frames.push(JSON.parse(text));
      } catch {
        this.frames.push({ $text: text });
      }
    });
    this.ws.on('unexpected-response', (req, res) => {
      this.refused = true;
      res.resume();
      req.destroy();
      this.ws.emit('refused');
    });
    this.ws.on('error', () => {});
    this.ws.on('close', (code) => {
      this.closed = true;
      if (code !== 1005 && code !== 1006) this.closeCode = code;
    });
  }
}

/** Play one vector over the wire; returns {clients, steps} as the in-process player. */
async function playOverWire(vector, base) {
  await control(base, 'reset', vector.setup);
  const wsBase = base.replace(/^http/, 'ws');
  const clients = new Map();
  const results = [];
  const callIds = [];
  let report = { calls: {}, clients: {} };
  const settle = async (names = []) => {
    report = await control(base, 'settle', { wait_for: names });
    for (const [name, c] of Object.entries(report.clients)) {
      const client = clients.get(name);
      if (client) await waitFor(() => client.frames.length >= c.written, client.ws, ['message', 'close']);
    }
  };
  try {
    for (const step of vector.steps) {
      let callId = null;
      let result = null;
      const names = [];
      switch (step.op) {
        case 'log': {
          const body = { task: step.task, level: step.level, message: step.message };
          if ('progress' in step) body.progress = step.progress;
          if ('finished' in step) body.finished = step.finished;
          callId = (await control(base, 'log', body)).call;
          break;
        }
        case 'connect': {
          const q = new URLSearchParams({ tt_client: step.client, tt_behaviour: step.behaviour });
          if ('after_seq' in step) q.set('after_seq', String(step.after_seq));
          if ('epoch' in step) {
            const e = step.epoch;
            let epoch = e;
            if (typeof e === 'object' && e !== null) {
              const other = clients.get(e.$epoch_of);
              const first = other && other.frames[0];
              epoch = first && (first.type === 'hello' || first.type === 'reset') ? first.epoch : '';
            }
            q.set('epoch', epoch);
          }
          const client = new WireClient(`${wsBase}/ws/${encodeURIComponent(step.task)}?${q}`, step.client);
          clients.set(step.client, client);
          callId = `connect:${step.client}`;
          names.push(step.client);
          if (step.behaviour !== 'hold_accept') {
            await waitFor(() => client.opened || client.refused || client.closed, client.ws, ['open', 'refused', 'close']);
          }
          break;
        }
        case 'release':
          await control(base, 'release', { client: step.client, n: step.n });
          break;
        case 'accept':
          await control(base, 'accept', { client: step.client });
          await waitFor(() => clients.get(step.client).opened || clients.get(step.client).closed,
            clients.get(step.client).ws, ['open', 'close']);
          break;
        case 'fail':
          await control(base, 'fail', { client: step.client });
          break;
        case 'drop':
          await control(base, 'drop', { client: step.client });
          clients.get(step.client).ws.terminate();
          break;
        case 'detach':
          result = await control(base, 'detach', { client: step.client });
          break;
        case 'disconnect':
          result = await control(base, 'disconnect', { task: step.task });
          break;
        case 'query':
          result = await control(base, 'query', { task: step.task });
          break;
        case 'advance':
          await control(base, 'advance', { seconds: step.seconds });
          break;
        default:
          throw new vectors.VectorError(`unknown step ${step.op}`);
      }
      await settle(names);
      if (callId !== null) {
        const call = report.calls[callId] || { result: 'blocked' };
        result = { result: call.result };
        if (call.result === 'raised') result.error = call.error;
        if (step.op === 'log' && call.result === 'returned') result.seq = call.seq ?? null;
      }
      if (result && result.result === 'raised' && step.op !== 'log' && step.op !== 'connect') result.end = 'raised';
      callIds.push(callId);
      results.push(result);
    }
    callIds.forEach((id, i) => {
      if (id !== null && results[i] !== null) results[i].end = (report.calls[id] || { result: 'blocked' }).result;
    });
    const outcome = {};
    for (const [name, client] of clients) {
      const r = report.clients[name] || { accepted: false, close: null, violations: [] };
      if (r.close !== null && r.close !== 1006 && client.opened) {
        await waitFor(() => client.closed, client.ws, ['close']);
      }
      outcome[name] = {
        accepted: client.opened, // the handshake as the client saw it complete
        frames: client.frames,
        close: client.closeCode !== null ? client.closeCode : r.close,
        violations: r.violations,
      };
    }
    return { clients: outcome, steps: results };
  } finally {
    for (const client of clients.values()) client.ws.terminate();
  }
}

/** The vector's expectation as a client sees it through an adapter (as the Python wire
 * runner's `wire_expectation`): a connect the manager refuses as `invalid` before accepting
 * is, behind the adapter, accepted and closed with 1008 (ADAPT-2). */
function wireExpectation(vector) {
  const expect = JSON.parse(JSON.stringify(vector.expect));
  for (const alternative of expect.alternatives || [expect]) {
    vector.steps.forEach((step, i) => {
      const result = alternative.steps[i];
      if (step.op === 'connect' && result && result.result === 'raised' && result.error === 'invalid') {
        const client = alternative.clients[step.client];
        if (client && !client.accepted) Object.assign(client, { accepted: true, close: 1008 });
      }
    });
  }
  return expect;
}

/** Why `caps` (a capabilities answer) cannot run `vector`, or null. */
function unsupportedBy(caps, vector) {
  if (!caps) return null;
  for (const step of vector.steps) {
    if (Array.isArray(caps.steps) && !caps.steps.includes(step.op)) return `the port has no step ${step.op}`;
    if (step.op === 'connect' && Array.isArray(caps.behaviours) && !caps.behaviours.includes(step.behaviour)) {
      return `the port has no behaviour ${step.behaviour}`;
    }
    if (step.op === 'advance' && caps.virtual_timers === false) return 'the port has no virtual timers';
  }
  if ('overflow' in vector.setup && Array.isArray(caps.overflow) && !caps.overflow.includes(vector.setup.overflow)) {
    return `the port has no overflow policy ${vector.setup.overflow}`;
  }
  if (caps.profile === 'seed') return 'a seed-profile port: this runner judges full-profile ports only';
  return null;
}

async function runOverWire(base, { vectors: list = vectors.load(), caps = null } = {}) {
  const verdicts = [];
  for (const v of list) {
    vectors.checkVector(v);
    const entry = { vector: v.id, rules: v.rules };
    const lacking = unsupportedBy(caps, v);
    if (lacking) {
      verdicts.push({ ...entry, grade: 'UNSUPPORTED', problems: [lacking], why: null });
      continue;
    }
    let outcome;
    try {
      outcome = await playOverWire(v, base);
    } catch (err) {
      if (err.kind === 'unsupported') {
        verdicts.push({ ...entry, grade: 'UNSUPPORTED', problems: [err.message], why: null });
        continue;
      }
      verdicts.push({ ...entry, grade: 'FAIL', problems: [`the run failed: ${err.stack}`], why: null });
      continue;
    }
    const [g, found, why] = vectors.grade(wireExpectation(v), outcome);
    verdicts.push({ ...entry, grade: g, problems: found, why });
  }
  return verdicts;
}

module.exports = { control, playOverWire, runOverWire, unsupportedBy, WireClient, waitFor, wireExpectation };
