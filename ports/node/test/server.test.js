'use strict';
// The real server over loopback: started as a child process on an ephemeral port, driven
// by `ws` clients and the test-mode control surface. Waits are on events, each bounded.

const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { spawn } = require('node:child_process');
const WebSocket = require('ws');
const wire = require('../lib/wire');
const vectors = require('../lib/vectors');

const SERVER = path.join(__dirname, '..', 'server.js');
const START_MS = 10000;

/** Start server.js with `args`; resolve to {base, child} once it printed its port. */
function start(args, env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SERVER, '--port', '0', ...args], {
      env: { ...process.env, TASKTAIL_TEST_MODE: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    const timer = setTimeout(() => {
      child.kill();
      reject(new Error(`server did not start within ${START_MS} ms: ${out} ${err}`));
    }, START_MS);
    child.stderr.on('data', (d) => { err += d; });
    child.stdout.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/127\.0\.0\.1:(\d+))\n/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ base: m[1], port: Number(m[2]), child });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}: ${out} ${err}`));
    });
  });
}

function stop(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null) {
      resolve();
      return;
    }
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

test('smoke: connect with ws, log through the control surface, receive the frames', async () => {
  const { base, child } = await start(['--test-mode']);
  try {
    const caps = await wire.control(base, 'capabilities');
    assert.equal(caps.protocol, 'tasktail-control/1');
    assert.equal(caps.profile, 'full');
    assert.equal(caps.virtual_timers, true);
    await wire.control(base, 'reset', { max_queue_size: 5, history_size: 0, send_timeout: 10, task_ttl: 3600 });
    const client = new wire.WireClient(`${base.replace('http', 'ws')}/ws/job%201?tt_client=c1&tt_behaviour=instant`, 'c1');
    assert.ok(await wire.waitFor(() => client.opened, client.ws, ['open']), 'the socket opened');
    await wire.control(base, 'settle', { clients: ['c1'] });
    const { call } = await wire.control(base, 'log', { task: 'job 1', level: 'info', message: 'héllo', progress: 50 });
    const report = await wire.control(base, 'settle', {});
    assert.deepEqual(report.calls[call], { result: 'returned', seq: 1 });
    assert.deepEqual(report.calls['connect:c1'], { result: 'returned' });
    assert.equal(report.clients.c1.written, 1);
    assert.ok(await wire.waitFor(() => client.frames.length === 1, client.ws, ['message']), 'the frame arrived');
    const frame = client.frames[0];
    assert.deepEqual(Object.keys(frame), ['type', 'task_id', 'seq', 'timestamp', 'level', 'message', 'progress', 'finished']);
    assert.equal(frame.timestamp, '2025-11-24T16:00:00.000000Z'); // the virtual clock
    assert.deepEqual({ ...frame, timestamp: null }, {
      type: 'log', task_id: 'job 1', seq: 1, timestamp: null, level: 'info', message: 'héllo', progress: 50, finished: false,
    });
    assert.deepEqual(await wire.control(base, 'query', { task: 'job 1' }), { connected: true, queued: 1 - 1 });
    assert.deepEqual(await wire.control(base, 'disconnect', { task: 'job 1' }), { discarded: 0 });
    assert.ok(await wire.waitFor(() => client.closed, client.ws, ['close']), 'closed by disconnect');
    assert.equal(client.closeCode, 4002);
    client.ws.terminate();
  } finally {
    await stop(child);
  }
});

test('the control surface answers errors as PROTOCOL.md says', async () => {
  const { base, child } = await start([], { TASKTAIL_TEST_MODE: '1' }); // test mode from the environment
  try {
    await assert.rejects(wire.control(base, 'reset', { max_queue_size: 5, history_size: 0, send_timeout: 10, task_ttl: 1, teleport: 1 }),
      (err) => err.kind === 'unsupported');
    await assert.rejects(wire.control(base, 'release', { client: 'nobody', n: 1 }), (err) => err.kind === 'unknown_client');
    const res = await fetch(`${base}/_tasktail/log`, { method: 'POST', body: '{not json' });
    assert.equal(res.status, 400);
    assert.equal((await res.json()).error, 'bad_request');
    assert.deepEqual(await wire.control(base, 'query', { task: '' }), { result: 'raised', error: 'invalid' });
  } finally {
    await stop(child);
  }
});

test('without test mode there is no control surface, and the adapter refuses a bad after_seq with 1008', async () => {
  const { base, child } = await start([]);
  try {
    const res = await fetch(`${base}/_tasktail/capabilities`);
    assert.equal(res.status, 404);
    await res.arrayBuffer();
    const ws = new WebSocket(`${base.replace('http', 'ws')}/ws/t?after_seq=-1`);
    ws.on('error', () => {});
    const code = await new Promise((resolve) => {
      const timer = setTimeout(() => resolve('no close within 3 s'), 3000);
      ws.on('close', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    assert.equal(code, 1008);
  } finally {
    await stop(child);
  }
});

test('every vector PASSes over the wire against the real server', async () => {
  const { base, child } = await start(['--test-mode']);
  try {
    const verdicts = await wire.runOverWire(base);
    const bad = verdicts.filter((v) => v.grade !== 'PASS' && v.grade !== 'NON-STRICT');
    assert.deepEqual(bad.map((v) => `${v.vector}: ${v.grade} ${v.problems.slice(0, 2).join('; ')}`), []);
    assert.ok(verdicts.length >= 50);
  } finally {
    await stop(child);
  }
});

test('the planted bug no-4000 FAILs REPL-1 over the wire', async () => {
  const { base, child } = await start(['--test-mode', '--planted-bug', 'no-4000']);
  try {
    const caps = await wire.control(base, 'capabilities');
    assert.equal(caps.planted_bug, 'no-4000');
    const verdicts = await wire.runOverWire(base);
    const rules = vectors.perRule(verdicts);
    assert.equal(rules.get('REPL-1'), 'FAIL');
    assert.equal(rules.get('ORD-1'), 'PASS');
  } finally {
    await stop(child);
  }
});
