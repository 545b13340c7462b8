'use strict';
// What the vectors cannot say: exact validation errors, config checks, epochs, accounting,
// and the production adapter (no test mode) over a real ws connection.

const test = require('node:test');
const assert = require('node:assert/strict');
const WebSocket = require('ws');
const {
  ConnectionManager, TaskFinishedError, TaskLimitError, ValueError, PolicyError, errorKind,
} = require('../lib/manager');
const { VirtualClock } = require('../lib/clock');
const { TestSocket, Recorder } = require('../lib/testsocket');
const { TasktailServer } = require('../server');
const { waitFor } = require('../lib/wire');

const fresh = (options = {}) => {
  const clock = new VirtualClock();
  return [new ConnectionManager({ clock: clock.now, scheduler: clock, ...options }), clock];
};

test('VAL-1: a bad argument names itself, shows the value, says what is allowed, changes nothing', async () => {
  const [m] = fresh();
  const cases = [
    [['t', 'fatal', 'x'], ValueError, /^level="fatal" is not allowed; expected one of 'debug', 'info'/],
    [['t', 3, 'x'], TypeError, /^level=3 has type number; expected one of/],
    [['', 'info', 'x'], ValueError, /^task_id='' is empty; expected a non-empty string/],
    [[7, 'info', 'x'], TypeError, /^task_id=7 has type number; expected a non-empty string/],
    [['t', 'info', null], TypeError, /^message=null has type null; expected a string/],
    [['t', 'info', 'x', 101], ValueError, /^progress=101 is out of range; expected null or a finite number in \[0, 100\]/],
    [['t', 'info', 'x', true], TypeError, /^progress=true has type boolean; expected null or a finite number/],
    [['t', 'info', 'x', NaN], ValueError, /^progress=NaN is out of range/],
    [['t', 'info', 'x', null, 'yes'], TypeError, /^finished="yes" has type string; expected a boolean/],
    [['t', 'info', '\ud800'], ValueError, /^message="\\ud800" has a lone surrogate; expected text that can be encoded as UTF-8/],
    [['t', 'info', 'x'.repeat(1000), 'p'], TypeError, /^progress="p" has type string/],
  ];
  for (const [args, kind, message] of cases) {
    await assert.rejects(m.sendLog(...args), (err) => err instanceof kind && message.test(err.message)
      && errorKind(err) === 'invalid', `sendLog(${args.map((a) => String(a).slice(0, 20))})`);
  }
  assert.equal(m.tasks.size, 0); // no task created
  assert.equal(m.logged, 0);
  assert.equal((await m.sendLog('t', 'info', 'ok')).seq, 1); // no seq spent
  await assert.rejects(m.connect(new TestSocket('c', 'instant', new Recorder()), 't', { afterSeq: -1 }),
    /^ValueError: after_seq=-1 is negative; expected null or an integer >= 0|after_seq=-1 is negative/);
  await assert.rejects(m.connect(new TestSocket('c', 'instant', new Recorder()), 't', { epoch: 'x'.repeat(65) }),
    (err) => err instanceof ValueError && /^epoch="x{65}" is not allowed; expected null or a string of at most 64 printable ASCII/.test(err.message));
  await assert.rejects(m.connect(new TestSocket('c', 'instant', new Recorder()), 't', { afterSeq: 1.5 }),
    (err) => err instanceof TypeError && /^after_seq=1.5 has type number \(not an integer\)/.test(err.message));
});

test('VAL-1: a long value is shown shortened, and showing a value never throws', async () => {
  const [m] = fresh();
  const hostile = new Proxy({}, { get() { throw new Error('boom'); }, ownKeys() { throw new Error('boom'); } });
  await assert.rejects(m.sendLog('t', hostile, 'x'), (err) => err instanceof TypeError && /^level=/.test(err.message));
  await assert.rejects(m.sendLog('t', 'x'.repeat(5000), 'x'), (err) => err instanceof ValueError
    && err.message.length < 400 && err.message.includes('…'));
});

test('VAL-2: config is validated, naming the argument', () => {
  const bad = [
    [{ maxQueueSize: 0 }, ValueError, /^max_queue_size=0 is not allowed; expected an integer >= 1/],
    [{ maxQueueSize: 1.5 }, TypeError, /^max_queue_size=1.5 has type number \(not an integer\)/],
    [{ maxQueueSize: '5' }, TypeError, /^max_queue_size="5" has type string/],
    [{ sendTimeout: 0 }, ValueError, /^send_timeout=0 is not allowed; expected a finite number > 0 or null/],
    [{ sendTimeout: Infinity }, ValueError, /^send_timeout=Infinity is not allowed/],
    [{ historySize: -1 }, ValueError, /^history_size=-1 is not allowed/],
    [{ taskTtl: -1 }, ValueError, /^task_ttl=-1 is not allowed; expected a finite number >= 0 or null/],
    [{ maxTasks: 0 }, ValueError, /^max_tasks=0 is not allowed/],
    [{ closeTimeout: 0 }, ValueError, /^close_timeout=0 is not allowed; expected a finite number > 0/],
    [{ overflow: 'newest-wins' }, ValueError, /^overflow="newest-wins" is not allowed; expected one of 'drop-oldest'/],
    [{ overflow: {} }, TypeError, /^overflow=\{\} has no chooseVictim/],
    [{ clock: 5 }, TypeError, /^clock=5 is not a function/],
    [{ plantedBug: 'nope' }, ValueError, /^plantedBug="nope" is not allowed/],
  ];
  for (const [options, kind, message] of bad) {
    assert.throws(() => new ConnectionManager(options), (err) => err instanceof kind && message.test(err.message),
      JSON.stringify(options));
  }
  assert.equal(new ConnectionManager({ sendTimeout: null, taskTtl: null }).sendTimeout, null);
});

test('CAP-2: a policy that breaks its contract gets a PolicyError and the call changes nothing', async () => {
  const evictFinished = { name: 'evict-anything', chooseVictim: () => 0 };
  const [m] = fresh({ maxQueueSize: 1, overflow: evictFinished });
  await m.sendLog('t', 'success', 'done', null, true);
  // (a finished task refuses first: FIN-1)
  await assert.rejects(m.sendLog('t', 'info', 'late'), TaskFinishedError);
  const [m2] = fresh({ maxQueueSize: 1, overflow: { name: 'weird', chooseVictim: () => 'x' } });
  await m2.sendLog('t', 'info', 'a');
  await assert.rejects(m2.sendLog('t', 'info', 'b'), (err) => err instanceof PolicyError && /weird returned "x"/.test(err.message));
  assert.equal(m2.taskStatistics('t').lastSeq, 1);
  assert.equal(m2.taskStatistics('t').dropped, 0);
});

test('RES-4: every incarnation has its own epoch; GAP-2: last_seq = delivered + queued + dropped', async () => {
  const [m] = fresh({ maxQueueSize: 2 });
  for (let i = 0; i < 5; i += 1) await m.sendLog('t', 'info', `m${i}`);
  const first = m.taskStatistics('t');
  assert.match(first.epoch, /^[0-9a-f]{8}\.1$/);
  assert.equal(first.lastSeq, first.delivered + first.queued + first.dropped);
  m.disconnect('t');
  await m.sendLog('t', 'info', 'again');
  const second = m.taskStatistics('t');
  assert.notEqual(second.epoch, first.epoch);
  const [other] = fresh();
  await other.sendLog('t', 'info', 'x');
  assert.notEqual(other.taskStatistics('t').epoch, first.epoch); // random prefix per manager
  const s = m.statistics();
  assert.equal(s.logged, s.delivered + s.queued + s.dropped + s.discarded);
});

test('MEM-4: with every task connected, a new task is refused (TaskLimitError) and nothing changes', async () => {
  const [m] = fresh({ maxTasks: 1 });
  const socket = new TestSocket('c1', 'instant', new Recorder());
  await m.connect(socket, 'a');
  await assert.rejects(m.sendLog('b', 'info', 'x'), TaskLimitError);
  assert.deepEqual([...m.tasks.keys()], ['a']);
});

test('a send with no timeout schedules no timer; a timed-out send is closed 4001 and requeued', async () => {
  const [m, clock] = fresh({ sendTimeout: null });
  const slow = new TestSocket('c1', 'gate', new Recorder());
  await m.connect(slow, 't');
  const pending = m.sendLog('t', 'info', 'a');
  await new Promise((r) => setImmediate(r));
  assert.equal(clock.pending(), 0);
  slow.release();
  assert.equal((await pending).seq, 1);

  const [m2, clock2] = fresh({ sendTimeout: 2 });
  const stuck = new TestSocket('c1', 'never_read', new Recorder());
  const handle = await m2.connect(stuck, 't');
  const call = m2.sendLog('t', 'info', 'a');
  await clock2.advance(2, () => new Promise((r) => setImmediate(r)));
  await call; // FAIL-2: the producer does not see it
  assert.equal(stuck.closeCode, 4001);
  assert.equal(handle.closeCode, 4001);
  assert.deepEqual([m2.getConnectionStatus('t'), m2.getQueuedMessageCount('t')], [false, 1]);
});

function startProduction(options = {}) {
  const server = new TasktailServer({ ...options });
  return server.listen(0).then((address) => ({ server, url: `ws://127.0.0.1:${address.port}` }));
}

function closeOf(ws) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('no close within 3 s'), 3000);
    ws.on('close', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

test('ADAPT-1: the adapter streams, and detaches (keeping the task) when the client leaves', async () => {
  const { server, url } = await startProduction();
  try {
    await server.manager.sendLog('job', 'info', 'queued before');
    const ws = new WebSocket(`${url}/ws/job?epoch=`);
    const frames = [];
    ws.on('message', (d) => frames.push(JSON.parse(d.toString())));
    assert.ok(await waitFor(() => frames.length === 2, ws, ['message']));
    assert.equal(frames[0].type, 'hello');
    assert.equal(frames[1].message, 'queued before');
    await server.manager.sendLog('job', 'info', 'live');
    assert.ok(await waitFor(() => frames.length === 3, ws, ['message']));
    const manager = server.manager;
    const [serverSide] = server.wss.clients;
    // the adapter's own 'close' listener was added first, so it has detached by then
    const serverSawClose = new Promise((resolve) => serverSide.once('close', resolve));
    const closed = closeOf(ws);
    ws.close(1000);
    assert.equal(await closed, 1000);
    await serverSawClose;
    assert.equal(manager.getConnectionStatus('job'), false);
    assert.equal(manager.tasks.has('job'), true); // detached, not disconnected
    // a new client resumes where the first left off, told nothing twice
    const again = new WebSocket(`${url}/ws/job?after_seq=2`);
    const more = [];
    again.on('message', (d) => more.push(JSON.parse(d.toString())));
    assert.ok(await waitFor(() => again.readyState === WebSocket.OPEN, again, ['open']));
    await manager.sendLog('job', 'info', 'third');
    assert.ok(await waitFor(() => more.length === 1, again, ['message']));
    assert.equal(more[0].seq, 3);
    again.terminate();
  } finally {
    await server.close();
  }
});

test('ADAPT-2/3, MEM-4: bad epoch 1008, oversized client frame 1009, no room 1013, replaced 4000', async () => {
  const { server, url } = await startProduction({ maxClientFrame: 64, config: { maxTasks: 1 } });
  try {
    const badEpoch = new WebSocket(`${url}/ws/t?epoch=${'x'.repeat(65)}`);
    badEpoch.on('error', () => {});
    assert.equal(await closeOf(badEpoch), 1008);
    const first = new WebSocket(`${url}/ws/t`);
    first.on('error', () => {});
    assert.ok(await waitFor(() => first.readyState === WebSocket.OPEN, first, ['open']));
    const firstClosed = closeOf(first);
    const second = new WebSocket(`${url}/ws/t`);
    second.on('error', () => {});
    assert.equal(await firstClosed, 4000);
    const noRoom = new WebSocket(`${url}/ws/other`);
    noRoom.on('error', () => {});
    assert.equal(await closeOf(noRoom), 1013);
    const secondClosed = closeOf(second);
    second.send('y'.repeat(100));
    assert.equal(await secondClosed, 1009);
  } finally {
    await server.close();
  }
});
