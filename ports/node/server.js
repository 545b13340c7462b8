#!/usr/bin/env node
'use strict';
// tasktail-node's server: an http server with a `ws` WebSocketServer at /ws/{task}
// (?after_seq=N&epoch=E, as SPEC ADAPT-1..3 say), and, in test mode only, the control
// surface of tasktail/wire/PROTOCOL.md (tasktail-control/1) under /_tasktail/.
//
//   node server.js [--port 0] [--host 127.0.0.1] [--test-mode] [--planted-bug NAME]
//                  [--known-only] [--max-client-frame BYTES]
// TASKTAIL_TEST_MODE=1 is the same as --test-mode. Prints `listening on http://HOST:PORT`.

const http = require('node:http');
const { EventEmitter } = require('node:events');
const { WebSocketServer } = require('ws');
const {
  ConnectionManager, CloseCode, PLANTED_BUGS, LEVELS, POLICIES, errorKind, checkEpoch,
} = require('./lib/manager');
const { VirtualClock, CLOCK_BASE } = require('./lib/clock');
const { TestSocket, BEHAVIOURS } = require('./lib/testsocket');

const PROTOCOL = 'tasktail-control/1';
const STEPS = ['log', 'connect', 'release', 'accept', 'fail', 'drop', 'detach', 'disconnect', 'advance', 'query'];
const SETUP_KEYS = ['max_queue_size', 'history_size', 'send_timeout', 'task_ttl', 'max_tasks', 'overflow'];
const MAX_BODY = 1 << 20;
const CLIENT_WAIT_MS = 2000; // how long a control request waits for a client's handshake to arrive

/** A close reason fits in 123 bytes of UTF-8 (RFC 6455), or ws throws. */
function closeReason(text) {
  let reason = String(text ?? '');
  while (Buffer.byteLength(reason) > 123) reason = reason.slice(0, -1);
  return reason;
}

/** The production socket the manager writes to: ws's own send(data, cb) and close. */
class WsClient {
  constructor(ws, closeTimeout) {
    this.ws = ws;
    this.closeTimeout = closeTimeout;
  }

  accept() {
    return Promise.resolve(); // the handshake is done before connect (the adapter upgrades first)
  }

  send(data, cb) {
    this.ws.send(data, cb);
  }

  close(code, reason) {
    const ws = this.ws;
    if (ws.readyState === ws.CLOSING || ws.readyState === ws.CLOSED) return;
    ws.close(code, closeReason(reason));
    // bounded cleanup (CANC-2): a peer that never answers the close frame is cut off
    const timer = setTimeout(() => ws.terminate(), this.closeTimeout * 1000);
    timer.unref();
    ws.once('close', () => clearTimeout(timer));
  }
}

function parseQuery(url) {
  const q = url.searchParams;
  return { has: (k) => q.has(k), get: (k) => q.get(k) };
}

/** ADAPT-2: a decimal int >= 0 within range, else a reason naming the problem. */
function parseAfterSeq(raw) {
  if (raw === null) return { value: null };
  if (!/^[0-9]+$/.test(raw)) return { error: `after_seq=${JSON.stringify(raw).slice(0, 60)} is not a decimal integer >= 0` };
  const value = Number(raw);
  if (!Number.isSafeInteger(value)) return { error: `after_seq=${raw.slice(0, 40)} is out of range` };
  return { value };
}

function taskFromPath(pathname) {
  const m = /^\/ws\/([^/]+)$/.exec(pathname);
  if (!m) return null;
  try {
    return decodeURIComponent(m[1]);
  } catch {
    return null;
  }
}

class TasktailServer {
  constructor({ testMode = false, plantedBug = null, knownOnly = false, maxClientFrame = 4096, config = {} } = {}) {
    this.testMode = testMode;
    this.plantedBug = plantedBug;
    this.knownOnly = knownOnly;
    this.maxClientFrame = maxClientFrame;
    this.baseConfig = config;
    this.wss = new WebSocketServer({ noServer: true, maxPayload: maxClientFrame, clientTracking: true });
    this.http = http.createServer((req, res) => this._request(req, res));
    this.http.on('upgrade', (req, socket, head) => this._upgrade(req, socket, head));
    this.generation = 0;
    this.events = new EventEmitter(); // 'client': a test-mode handshake arrived
    this.events.setMaxListeners(0);
    if (testMode) this._reset({ max_queue_size: 1000, history_size: 0, send_timeout: 10, task_ttl: 3600 });
    else this.manager = new ConnectionManager({ ...config, plantedBug });
  }

  listen(port = 0, host = '127.0.0.1') {
    return new Promise((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(port, host, () => resolve(this.http.address()));
    });
  }

  close() {
    for (const ws of this.wss.clients) ws.terminate();
    for (const pending of this.pendingUpgrades || []) pending.destroy();
    return new Promise((resolve) => this.http.close(() => resolve()));
  }

  // -- the WebSocket endpoint ------------------------------------------------------------

  _upgrade(req, socket, head) {
    socket.on('error', () => {});
    const url = new URL(req.url, 'http://localhost');
    const task = taskFromPath(url.pathname);
    if (task === null) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const q = parseQuery(url);
    if (this.testMode && q.has('tt_client')) {
      this._testConnect(req, socket, head, task, q);
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this._serve(ws, task, q));
  }

  /** ADAPT-1..3: connect, stream until the client leaves (detach) or the manager ends the
   * connection (the manager closes the socket with its code). */
  _serve(ws, task, q) {
    const manager = this.manager;
    const refuse = (code, reason) => ws.close(code, closeReason(reason));
    const afterSeq = parseAfterSeq(q.get('after_seq'));
    if (afterSeq.error) return refuse(CloseCode.POLICY_VIOLATION, afterSeq.error);
    let epoch = null;
    if (q.has('epoch')) {
      try {
        epoch = checkEpoch(q.get('epoch'));
      } catch (err) {
        return refuse(CloseCode.POLICY_VIOLATION, err.message);
      }
    }
    if (this.knownOnly && !manager.getConnectionStatus(task) && !manager.tasks.has(task)) {
      return refuse(CloseCode.POLICY_VIOLATION, `unknown task ${JSON.stringify(task).slice(0, 80)}`);
    }
    const client = new WsClient(ws, manager.closeTimeout);
    let left = false;
    ws.on('message', () => {}); // small client frames are ignored; larger ones close 1009 (ws maxPayload)
    ws.on('error', () => {});
    ws.on('close', () => {
      left = true;
      try {
        manager.detach(task, client);
      } catch { /* the task id was checked by connect */ }
    });
    manager.connect(client, task, { afterSeq: afterSeq.value, epoch }).then((connection) => {
      if (left) manager.detach(task, client);
      return connection;
    }, (err) => {
      const kind = errorKind(err);
      if (kind === 'task_limit') client.close(CloseCode.TRY_AGAIN_LATER, 'too many tasks');
      else if (kind === 'invalid') client.close(CloseCode.POLICY_VIOLATION, err.message);
      else client.close(CloseCode.SEND_FAILED, 'connect failed');
    });
    return undefined;
  }

  // -- test mode: the test socket over a real ws (PROTOCOL.md §3) --------------------------

  _testConnect(req, socket, head, task, q) {
    const name = q.get('tt_client');
    const behaviour = q.get('tt_behaviour') || 'instant';
    socket.on('error', () => {});
    let answered = false;
    const reject = (status, text) => {
      if (answered || socket.destroyed || !socket.writable) return;
      answered = true;
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Type: text/plain\r\n` +
        `Content-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`);
    };
    if (!BEHAVIOURS.includes(behaviour)) return reject('400 Bad Request', `unknown tt_behaviour ${behaviour}`);
    if (this.clients.has(name)) return reject('409 Conflict', `client ${name} already connected since the last reset`);
    const server = this;
    const generation = this.generation;
    const pending = this.pendingUpgrades;
    pending.add(socket);
    socket.on('close', () => pending.delete(socket));
    const transport = {
      ws: null,
      upgraded: false,
      accept() {
        server.pendingIo += 1;
        return new Promise((resolve, reject2) => {
          if (socket.destroyed) {
            server.pendingIo -= 1;
            reject2(new Error('the client went away before the handshake'));
            return;
          }
          server.wss.handleUpgrade(req, socket, head, (ws) => {
            server.pendingIo -= 1;
            pending.delete(socket);
            transport.ws = ws;
            transport.upgraded = true;
            ws.on('error', () => {});
            ws.on('message', () => {});
            if (generation !== server.generation) {
              ws.close(CloseCode.GOING_AWAY, 'reset');
              reject2(new Error('reset'));
              return;
            }
            resolve();
          });
        });
      },
      refuse(status = '403 Forbidden', text = 'refused') {
        if (!transport.upgraded && !socket.destroyed) reject(status, text);
      },
      write(text, cb) {
        if (!transport.ws) {
          cb(new Error('not accepted'));
          return;
        }
        transport.ws.send(text, cb);
      },
      close(code, reason) {
        if (transport.ws) transport.ws.close(code, closeReason(reason));
        else if (!socket.destroyed) socket.destroy();
      },
      abort() {
        if (transport.ws) transport.ws.terminate();
        else socket.destroy();
      },
    };
    const testSocket = new TestSocket(name, behaviour, transport);
    this.clients.set(name, { socket: testSocket, task, transport });
    this.events.emit('client', name);
    const afterSeq = q.has('after_seq') ? (/^-?[0-9]+$/.test(q.get('after_seq')) ? Number(q.get('after_seq')) : q.get('after_seq')) : null;
    const options = { afterSeq };
    if (q.has('epoch')) options.epoch = q.get('epoch');
    const call = this._spawn(`connect:${name}`, () => this.manager.connect(testSocket, task, options));
    call.promise.then(() => {}, (err) => {
      if (testSocket.accepted || transport.upgraded || socket.destroyed) return;
      if (errorKind(err) === 'invalid') {
        // refused by validation before accepting: as the production adapter does (ADAPT-2),
        // accept the handshake and close with 1008 and the reason, so a browser sees why
        server.wss.handleUpgrade(req, socket, head, (ws) => {
          pending.delete(socket);
          ws.on('error', () => {});
          ws.close(CloseCode.POLICY_VIOLATION, closeReason(String(err && err.message)));
        });
        return;
      }
      // accepting failed (fail_accept) or the task limit: the handshake is refused (no close frame)
      transport.refuse('400 Bad Request', String(err && err.message).slice(0, 200));
    });
    return undefined;
  }

  // -- test mode: the control surface (PROTOCOL.md §2) -------------------------------------

  _reset(setup) {
    for (const key of Object.keys(setup)) {
      if (!SETUP_KEYS.includes(key)) return { status: 422, body: { error: 'unsupported', detail: `setup key ${key}` } };
    }
    if ('overflow' in setup && !(setup.overflow in POLICIES)) {
      return { status: 422, body: { error: 'unsupported', detail: `overflow ${setup.overflow}` } };
    }
    const clock = new VirtualClock(CLOCK_BASE);
    const config = {
      maxQueueSize: setup.max_queue_size ?? 1000,
      historySize: setup.history_size ?? 0,
      sendTimeout: 'send_timeout' in setup ? setup.send_timeout : 10,
      taskTtl: 'task_ttl' in setup ? setup.task_ttl : 3600,
      clock: clock.now,
      scheduler: clock,
      plantedBug: this.plantedBug,
    };
    if ('max_tasks' in setup) config.maxTasks = setup.max_tasks;
    if ('overflow' in setup) config.overflow = setup.overflow;
    let manager;
    try {
      manager = new ConnectionManager(config);
    } catch (err) {
      return { status: 400, body: { error: 'bad_request', detail: err.message } };
    }
    // close every open socket (1001) without waiting for it; forget every call
    for (const { transport } of (this.clients || new Map()).values()) {
      try {
        transport.close(CloseCode.GOING_AWAY, 'reset');
      } catch { /* already gone */ }
    }
    for (const s of this.pendingUpgrades || []) s.destroy();
    this.generation += 1;
    this.clock = clock;
    this.manager = manager;
    this.clients = new Map();
    this.calls = new Map();
    this.pendingUpgrades = new Set();
    this.pendingIo = 0;
    this.nextCall = 1;
    return { status: 200, body: {} };
  }

  _spawn(id, fn) {
    const call = { done: false, error: null, value: undefined, promise: null };
    call.promise = Promise.resolve().then(fn);
    call.promise.then((value) => {
      call.value = value;
      call.done = true;
    }, (err) => {
      call.error = err;
    });
    this.calls.set(id, call);
    return call;
  }

  /** Until nothing can run without a client acting or time passing (PROTOCOL.md §4). */
  async _settle({ clients = [], bound = 5000 } = {}) {
    const start = Date.now();
    let quiet = 0;
    while (Date.now() - start < bound) {
      await new Promise((r) => setImmediate(r));
      const busy = this.pendingIo > 0 || clients.some((n) => !this.clients.has(n))
        || [...this.clients.values()].some((c) => c.socket.writing > 0);
      quiet = busy ? 0 : quiet + 1;
      if (quiet >= 3) return true;
      if (busy) await new Promise((r) => setTimeout(r, 1));
    }
    return false;
  }

  _report() {
    const calls = {};
    for (const [id, call] of this.calls) {
      if (call.error !== null) calls[id] = { result: 'raised', error: errorKind(call.error) };
      else if (call.done) {
        calls[id] = { result: 'returned' };
        if (!id.startsWith('connect:')) calls[id].seq = call.value && Number.isInteger(call.value.seq) ? call.value.seq : null;
      } else calls[id] = { result: 'blocked' };
    }
    const clients = {};
    for (const [name, { socket }] of this.clients) {
      let close = socket.closeCode;
      const call = this.calls.get(`connect:${name}`);
      const handle = call && call.value;
      if (close === null && handle && handle.ended) close = handle.closeCode;
      clients[name] = { accepted: socket.accepted, written: socket.written, close, violations: [...socket.violations].sort() };
    }
    return { calls, clients };
  }

  /** The named client; one whose handshake has not reached the server yet is waited for
   * (bounded): the runner's WebSocket and its control request travel on different
   * connections. */
  async _client(body, bound = CLIENT_WAIT_MS) {
    const name = body.client;
    if (!this.clients.has(name)) {
      await new Promise((resolve) => {
        let timer = null;
        const seen = (n) => {
          if (n !== name) return;
          clearTimeout(timer);
          this.events.off('client', seen);
          resolve();
        };
        timer = setTimeout(() => {
          this.events.off('client', seen);
          resolve();
        }, bound);
        this.events.on('client', seen);
      });
    }
    const entry = this.clients.get(name);
    if (!entry) {
      const err = new Error(`unknown client ${JSON.stringify(name)}`);
      err.status = 404;
      err.kind = 'unknown_client';
      throw err;
    }
    await this._settle(); // what its handshake started has run
    return entry;
  }

  async _control(route, body) {
    const raised = (err) => ({ result: 'raised', error: errorKind(err) });
    switch (route) {
      case 'capabilities':
        return {
          protocol: PROTOCOL,
          name: `tasktail-node${this.plantedBug ? ` (planted bug ${this.plantedBug})` : ''}`,
          steps: STEPS,
          behaviours: [...BEHAVIOURS],
          overflow: Object.keys(POLICIES),
          profile: 'full',
          virtual_timers: true,
          settle: 'exact',
          planted_bug: this.plantedBug,
        };
      case 'reset': {
        const { status, body: answer } = this._reset(body);
        if (status !== 200) {
          const err = new Error(answer.detail);
          err.status = status;
          err.kind = answer.error;
          throw err;
        }
        return answer;
      }
      case 'log': {
        const id = `k${this.nextCall++}`;
        this._spawn(id, () => this.manager.sendLog(body.task, body.level, body.message,
          'progress' in body ? body.progress : null, 'finished' in body ? body.finished : false));
        return { call: id };
      }
      case 'settle':
        await this._settle({ clients: Array.isArray(body.wait_for) ? body.wait_for : [] });
        return this._report();
      case 'release': {
        const { socket } = await this._client(body);
        const n = Number.isInteger(body.n) ? body.n : 1;
        for (let i = 0; i < n; i += 1) {
          socket.release();
          await this._settle();
        }
        return {};
      }
      case 'fail':
        (await this._client(body)).socket.fail();
        await this._settle();
        return {};
      case 'accept':
        (await this._client(body)).socket.letAccept();
        await this._settle();
        return {};
      case 'drop':
        (await this._client(body)).socket.drop();
        await this._settle();
        return {};
      case 'detach': {
        const { socket, task } = await this._client(body);
        try {
          return { detached: Boolean(this.manager.detach(task, socket)) };
        } catch (err) {
          return raised(err);
        }
      }
      case 'disconnect':
        try {
          const n = this.manager.disconnect(body.task);
          return { discarded: Number.isInteger(n) ? n : null };
        } catch (err) {
          return raised(err);
        }
      case 'advance': {
        if (typeof body.seconds !== 'number' || !(body.seconds > 0)) {
          const err = new Error('seconds must be a number > 0');
          err.status = 400;
          err.kind = 'bad_request';
          throw err;
        }
        await this.clock.advance(body.seconds, () => this._settle());
        return {};
      }
      case 'query':
        try {
          return {
            connected: Boolean(this.manager.getConnectionStatus(body.task)),
            queued: Number(this.manager.getQueuedMessageCount(body.task)),
          };
        } catch (err) {
          return raised(err);
        }
      default: {
        const err = new Error(`no endpoint /_tasktail/${route}`);
        err.status = 404;
        err.kind = 'bad_request';
        throw err;
      }
    }
  }

  _request(req, res) {
    const send = (status, body) => {
      const text = JSON.stringify(body);
      res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
      res.end(text);
    };
    const url = new URL(req.url, 'http://localhost');
    if (!this.testMode || !url.pathname.startsWith('/_tasktail/')) {
      if (url.pathname === '/') {
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.end('tasktail-node: WebSocket endpoint /ws/{task}\n');
        return;
      }
      send(404, { error: 'not_found', detail: url.pathname });
      return;
    }
    const route = url.pathname.slice('/_tasktail/'.length);
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size <= MAX_BODY) chunks.push(c);
    });
    req.on('end', () => {
      let body = {};
      const text = Buffer.concat(chunks).toString('utf8');
      if (size > MAX_BODY) return send(400, { error: 'bad_request', detail: 'body too large' });
      if (req.method === 'POST' && text.trim() !== '') {
        try {
          body = JSON.parse(text);
        } catch (err) {
          return send(400, { error: 'bad_request', detail: `body is not JSON: ${err.message}` });
        }
        if (body === null || typeof body !== 'object' || Array.isArray(body)) {
          return send(400, { error: 'bad_request', detail: 'body must be a JSON object' });
        }
      }
      const expected = route === 'capabilities' ? 'GET' : 'POST';
      if (req.method !== expected) return send(405, { error: 'bad_request', detail: `use ${expected} for /_tasktail/${route}` });
      this._control(route, body).then((answer) => send(200, answer), (err) => {
        send(err.status || 500, { error: err.kind || 'error', detail: String(err.message) });
      });
      return undefined;
    });
  }
}

function parseArgs(argv, env = process.env) {
  const opts = {
    port: 0, host: '127.0.0.1', testMode: env.TASKTAIL_TEST_MODE === '1', plantedBug: null,
    knownOnly: false, maxClientFrame: 4096,
  };
  for (let i = 0; i < argv.length; i += 1) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--port') opts.port = Number(value());
    else if (a === '--host') opts.host = value();
    else if (a === '--test-mode') opts.testMode = true;
    else if (a === '--planted-bug') opts.plantedBug = value();
    else if (a === '--known-only') opts.knownOnly = true;
    else if (a === '--max-client-frame') opts.maxClientFrame = Number(value());
    else throw new Error(`unknown option ${a}`);
  }
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) throw new Error('--port: an integer in 0..65535');
  if (opts.plantedBug !== null && !(opts.plantedBug in PLANTED_BUGS)) {
    throw new Error(`--planted-bug: expected one of ${Object.keys(PLANTED_BUGS).join(', ')}`);
  }
  if (!Number.isInteger(opts.maxClientFrame) || opts.maxClientFrame < 1) throw new Error('--max-client-frame: an integer >= 1');
  return opts;
}

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`usage error: ${err.message}\n`);
    process.exitCode = 2;
    return;
  }
  const server = new TasktailServer(opts);
  const address = await server.listen(opts.port, opts.host);
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  process.stdout.write(`listening on http://${host}:${address.port}\n`);
  if (opts.testMode) process.stderr.write('test mode: the control surface /_tasktail/ is served (never use this in production)\n');
  const stop = () => server.close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (require.main === module) main();

module.exports = { TasktailServer, parseArgs, LEVELS };
