#!/usr/bin/env node
'use strict';
// Replay tasktail's vectors in-process against the Node port (no Python needed).
//   node vectors.js [--planted-bug NAME] [--json] [--verbose] [--corpus DIR]
// Exit 0: no rule FAILs; 1: a rule FAILs; 2: usage error or a vector this runner cannot replay.

const { ConnectionManager, PLANTED_BUGS } = require('./lib/manager');
const vectors = require('./lib/vectors');

function parse(argv) {
  const opts = { plantedBug: null, json: false, verbose: false, corpus: vectors.CORPUS };
  for (let i = 0; i < argv.length; i += 1) {
    const a = argv[i];
    if (a === '--planted-bug') opts.plantedBug = argv[++i];
    else if (a === '--json') opts.json = true;
    else if (a === '--verbose' || a === '-v') opts.verbose = true;
    else if (a === '--corpus') opts.corpus = argv[++i];
    else throw new Error(`unknown option ${a}`);
  }
  if (opts.plantedBug !== null && !(opts.plantedBug in PLANTED_BUGS)) {
    throw new Error(`--planted-bug ${opts.plantedBug}: expected one of ${Object.keys(PLANTED_BUGS).join(', ')}`);
  }
  return opts;
}

async function main() {
  let opts;
  try {
    opts = parse(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`usage error: ${err.message}\n`);
    return 2;
  }
  const factory = (config) => new ConnectionManager({ ...config, plantedBug: opts.plantedBug });
  let verdicts;
  try {
    verdicts = await vectors.run(factory, { vectors: vectors.load(opts.corpus) });
  } catch (err) {
    if (err instanceof vectors.VectorError) {
      process.stderr.write(`error: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const rules = vectors.perRule(verdicts);
  const byVector = vectors.counts(verdicts.map((v) => v.grade));
  const byRule = vectors.counts([...rules.values()]);
  if (opts.json) {
    process.stdout.write(`${JSON.stringify({
      implementation: `tasktail-node${opts.plantedBug ? ` (planted bug ${opts.plantedBug})` : ''}`,
      vectors: verdicts, rules: Object.fromEntries(rules), counts: { vectors: byVector, rules: byRule },
    }, null, 1)}\n`);
  } else {
    const name = `tasktail-node${opts.plantedBug ? ` with planted bug ${opts.plantedBug}` : ''}`;
    process.stdout.write(`vectors against ${name}:\n`);
    for (const v of verdicts) {
      process.stdout.write(`  ${v.grade.padEnd(11)} ${v.vector}  [${v.rules.join(', ')}]\n`);
      if (v.why) process.stdout.write(`      why: ${v.why}\n`);
      if (v.grade !== 'PASS' && (opts.verbose || v.grade === 'FAIL' || v.grade === 'UNSUPPORTED')) {
        for (const p of v.problems.slice(0, opts.verbose ? 20 : 3)) process.stdout.write(`      ${p}\n`);
      }
    }
    process.stdout.write('rules:\n');
    for (const [rule, g] of rules) process.stdout.write(`  ${g.padEnd(11)} ${rule}\n`);
    const fmt = (c) => vectors.GRADES.map((g) => `${c[g]} ${g}`).join(', ');
    process.stdout.write(`vectors: ${fmt(byVector)}\nrules:   ${fmt(byRule)}\n`);
  }
  return [...rules.values()].includes('FAIL') ? 1 : 0;
}

main().then((code) => { process.exitCode = code; }, (err) => {
  process.stderr.write(`the runner itself failed: ${err && err.stack}\n`);
  process.exitCode = 3;
});
