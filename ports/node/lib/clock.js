'use strict';
// A virtual clock and timer scheduler: time moves only when advance() is called.

const CLOCK_BASE = 1764000000.0; // what the clock reads at virtual time 0 (vector contract)

class VirtualClock {
  constructor(base = CLOCK_BASE) {
    this.base = base;
    this.elapsed = 0;
    this._timers = new Map(); // id -> {due, fn, order}
    this._nextId = 1;
    this.now = this.now.bind(this);
    this.setTimeout = this.setTimeout.bind(this);
    this.clearTimeout = this.clearTimeout.bind(this);
  }

  /** POSIX seconds: base + the virtual seconds advanced so far. */
  now() {
    return this.base + this.elapsed;
  }

  setTimeout(fn, seconds) {
    const id = this._nextId++;
    this._timers.set(id, { due: this.elapsed + seconds, fn, order: id });
    return id;
  }

  clearTimeout(id) {
    this._timers.delete(id);
  }

  pending() {
    return this._timers.size;
  }

  /** Move time forward by `seconds`, firing every timer now due in due order and awaiting
   * `settle()` after each, so what a timer starts runs before the next one fires. */
  async advance(seconds, settle = async () => {}) {
    const target = this.elapsed + seconds;
    for (;;) {
      let next = null;
      for (const [id, t] of this._timers) {
        if (t.due <= target && (next === null || t.due < next[1].due
            || (t.due === next[1].due && t.order < next[1].order))) next = [id, t];
      }
      if (next === null) break;
      this._timers.delete(next[0]);
      if (next[1].due > this.elapsed) this.elapsed = next[1].due;
      next[1].fn();
      await settle();
    }
    this.elapsed = target;
    await settle();
  }
}

module.exports = { VirtualClock, CLOCK_BASE };
