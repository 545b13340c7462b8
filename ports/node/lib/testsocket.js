'use strict';
// The test socket (PROTOCOL.md §3): scripts what a client does with the frames the manager
// sends, between the manager and a transport (the in-process recorder, or a `ws` socket).
// It speaks the `ws` send API the manager uses: send(data, callback), close(code, reason),
// plus accept() (resolves once the handshake is done).

const BEHAVIOURS = Object.freeze(['instant', 'gate', 'never_read', 'fail_first_send', 'fail_accept', 'hold_accept']);

class TestSocket {
  /** `transport`: {accept(): Promise, write(text, cb), close(code, reason), abort()?}. */
  constructor(name, behaviour, transport) {
    if (!BEHAVIOURS.includes(behaviour)) throw new Error(`unknown behaviour ${JSON.stringify(behaviour)}`);
    this.name = name;
    this.behaviour = behaviour;
    this.transport = transport;
    this.accepted = false;
    this.closeCode = null; // the first close the manager (or a drop) gave this socket
    this.violations = new Set();
    this.held = []; // sends waiting for release/fail, oldest first
    this.inFlight = 0;
    this.written = 0; // frames handed to the transport and acknowledged
    this.writing = 0; // frames handed to the transport, not yet acknowledged
    this.gone = false;
    this.sends = 0;
    this._letAccept = null;
  }

  get gated() {
    return this.behaviour === 'gate' || this.behaviour === 'never_read';
  }

  accept() {
    if (this.behaviour === 'fail_accept') {
      if (this.transport.refuse) this.transport.refuse();
      return Promise.reject(new Error('accept failed (fail_accept)'));
    }
    const finish = async () => {
      if (this.gone) throw new Error('the peer is gone');
      await this.transport.accept();
      this.accepted = true;
    };
    if (this.behaviour === 'hold_accept') {
      return new Promise((resolve, reject) => {
        this._letAccept = () => finish().then(resolve, reject);
      });
    }
    return finish();
  }

  /** A hold_accept socket's accept finishes (step `accept`). */
  letAccept() {
    const go = this._letAccept;
    this._letAccept = null;
    if (go) go();
    return go !== null;
  }

  get acceptHeld() {
    return this._letAccept !== null;
  }

  send(data, cb) {
    if (this.inFlight > 0) this.violations.add('overlapping_send'); // recorded, still carried out
    this.sends += 1;
    const refuse = (why) => queueMicrotask(() => cb(new Error(why)));
    if (this.gone) return refuse('the peer is gone');
    if (this.closeCode !== null) return refuse('send after close');
    if (this.behaviour === 'fail_first_send' && this.sends === 1) return refuse('send failed (fail_first_send)');
    this.inFlight += 1;
    const op = { text: String(data), cb, done: false };
    if (this.gated) this.held.push(op);
    else this._write(op);
    return undefined;
  }

  _write(op) {
    this.writing += 1;
    let called = false;
    try {
      this.transport.write(op.text, (err) => {
        if (called) return;
        called = true;
        this.writing -= 1;
        if (!err) this.written += 1;
        this._finish(op, err);
      });
    } catch (err) {
      if (!called) {
        called = true;
        this.writing -= 1;
        this._finish(op, err);
      }
    }
  }

  _finish(op, err) {
    if (op.done) return;
    op.done = true;
    this.inFlight -= 1;
    op.cb(err || undefined);
  }

  /** The oldest held send goes through (step `release`). */
  release() {
    const op = this.held.shift();
    if (!op) return false;
    if (this.gone || this.closeCode !== null) this._finish(op, new Error('socket closed'));
    else this._write(op);
    return true;
  }

  /** The oldest held send raises (step `fail`). */
  fail() {
    const op = this.held.shift();
    if (!op) return false;
    this._finish(op, new Error('send failed (fail)'));
    return true;
  }

  /** The peer vanished (step `drop`): held sends abort, later ones fail, close 1006. */
  drop() {
    if (this.gone) return;
    this.gone = true;
    if (this.closeCode === null) this.closeCode = 1006;
    for (const op of this.held.splice(0)) this._finish(op, new Error('the peer is gone'));
    // a held accept stays held: the `accept` step lets it finish, and it fails then (the
    // peer is gone), as the in-process fakes do
    if (this.transport.abort) this.transport.abort();
  }

  close(code = 1000, reason = '') {
    if (this.closeCode !== null) return; // once
    this.closeCode = code;
    // what is still held was abandoned by the manager (a send that timed out): never written
    for (const op of this.held.splice(0)) this._finish(op, new Error('socket closed'));
    if (!this.gone) this.transport.close(code, reason);
  }
}

/** The in-process transport: records what was written, as the client would receive it. */
class Recorder {
  constructor() {
    this.frames = [];
    this.closed = null;
  }

  accept() {
    return Promise.resolve();
  }

  write(text, cb) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      frame = { $text: text };
    }
    this.frames.push(frame);
    queueMicrotask(() => cb());
  }

  close(code, reason) {
    if (this.closed === null) this.closed = { code, reason };
  }
}

module.exports = { TestSocket, Recorder, BEHAVIOURS };
