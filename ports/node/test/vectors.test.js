'use strict';
// The vector runner on the port (every vector PASS or NON-STRICT), and on the planted-bug
// variants (each FAILs the rule it breaks).

const test = require('node:test');
const assert = require('node:assert/strict');
const { ConnectionManager } = require('../lib/manager');
const vectors = require('../lib/vectors');

const corpus = vectors.load();
const factory = (extra = {}) => (config) => new ConnectionManager({ ...config, ...extra });

test('the corpus is there and this runner can replay every vector', () => {
  assert.ok(corpus.length >= 50, `only ${corpus.length} vectors in ${vectors.CORPUS}`);
  for (const v of corpus) vectors.checkVector(v);
});

test('the port passes every vector in-process', async () => {
  const verdicts = await vectors.run(factory());
  const bad = verdicts.filter((v) => v.grade !== 'PASS' && v.grade !== 'NON-STRICT');
  assert.deepEqual(bad.map((v) => `${v.vector}: ${v.grade} ${v.problems.join('; ')}`), []);
  const rules = vectors.perRule(verdicts);
  assert.ok(rules.size >= 41, `only ${rules.size} rules cited`);
  for (const [rule, grade] of rules) assert.ok(grade === 'PASS' || grade === 'NON-STRICT', `${rule}: ${grade}`);
});

test('planted bug lifo-flush FAILs ORD-2', async () => {
  const verdicts = await vectors.run(factory({ plantedBug: 'lifo-flush' }));
  const rules = vectors.perRule(verdicts);
  assert.equal(rules.get('ORD-2'), 'FAIL');
  const flush = verdicts.find((v) => v.vector === 'ord2-flush-in-order');
  assert.equal(flush.grade, 'FAIL');
});

test('planted bug no-4000 FAILs REPL-1 (and CLOSE-1), by the close code', async () => {
  const verdicts = await vectors.run(factory({ plantedBug: 'no-4000' }));
  const rules = vectors.perRule(verdicts);
  assert.equal(rules.get('REPL-1'), 'FAIL');
  assert.equal(rules.get('CLOSE-1'), 'FAIL');
  const v = verdicts.find((x) => x.vector === 'repl1-second-connect-replaces-first');
  assert.equal(v.grade, 'FAIL');
  assert.match(v.problems.join('\n'), /close expected 4000, got 1000/);
  // the bug breaks nothing that has no replacement in it
  assert.equal(rules.get('WIRE-1'), 'PASS');
});

test('an allowed alternative is graded NON-STRICT, with its why', async () => {
  const v = corpus.find((x) => x.id === 'cap3-drop-oldest');
  const verdict = await vectors.runVector(v, factory({ overflow: 'reject-newest' }));
  assert.equal(verdict.grade, 'NON-STRICT');
  assert.match(verdict.why, /reject-newest/);
});

test('the judge fails a wrong outcome: a changed expectation FAILs', async () => {
  const v = structuredClone(corpus.find((x) => x.id === 'ord2-flush-in-order'));
  v.expect.clients.c1.frames.reverse();
  const verdict = await vectors.runVector(v, factory());
  assert.equal(verdict.grade, 'FAIL');
  assert.match(verdict.problems[0], /c1: frame 1 expected/);
});

test('the judge compares key order (WIRE-1) and the matchers', () => {
  const openings = { clients: {}, steps: [] };
  const want = { clients: { c1: { accepted: true, frames: [{ a: 1, b: 2 }], close: null, violations: [] } }, steps: [] };
  const got = { clients: { c1: { accepted: true, frames: [{ b: 2, a: 1 }], close: null, violations: [] } }, steps: [] };
  assert.equal(vectors.problems(want, got).length, 1);
  assert.equal(vectors.problems(want, { ...openings, clients: want.clients }).length, 0);
  const stamp = { clients: { c1: { accepted: true, frames: [{ t: { $match: 'iso8601' } }], close: null, violations: [] } }, steps: [] };
  const ok = { clients: { c1: { accepted: true, frames: [{ t: '2025-11-24T16:00:00.000000Z' }], close: null, violations: [] } }, steps: [] };
  const bad = { clients: { c1: { accepted: true, frames: [{ t: '2025-11-24T16:00:00Z' }], close: null, violations: [] } }, steps: [] };
  assert.deepEqual(vectors.problems(stamp, ok), []);
  assert.equal(vectors.problems(stamp, bad).length, 1);
});

test('a vector of another version or with an unknown step is refused, never graded', async () => {
  const v = structuredClone(corpus[0]);
  v.version = 'tasktail-vectors/2';
  await assert.rejects(vectors.runVector(v, factory()), vectors.VectorError);
  const w = structuredClone(corpus[0]);
  w.steps.push({ op: 'teleport' });
  await assert.rejects(vectors.runVector(w, factory()), vectors.VectorError);
});

test('over the wire, what a port lacks makes its vectors UNSUPPORTED, never PASS', async () => {
  const wire = require('../lib/wire');
  const caps = { steps: ['log', 'connect', 'query'], behaviours: ['instant'], overflow: ['drop-oldest'], virtual_timers: false, profile: 'full' };
  const verdicts = await wire.runOverWire('http://127.0.0.1:1', { vectors: corpus.filter((v) => wire.unsupportedBy(caps, v)), caps });
  assert.ok(verdicts.length >= 30, `${verdicts.length} vectors`);
  assert.ok(verdicts.every((v) => v.grade === 'UNSUPPORTED' && v.problems[0].startsWith('the port has no')));
  assert.match(wire.unsupportedBy(caps, corpus.find((v) => v.id === 'wire3-timestamp-from-clock')), /no step advance|no virtual timers/);
});
