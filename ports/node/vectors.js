#!/usr/bin/env node
'use strict';
// Replay tasktail's vectors in-process against the Node port (no Python needed).
//   node vectors.js [--planted-bug NAME] [--json] [--verbose] [--corpus DIR]
//   node vectors.js --url http://HOST:PORT   (over the wire: a server in test mode serving
//                                             /ws/{task} and /_tasktail/, PROTOCOL.md)
// Exit 0: no rule FAILs; 1: a rule FAILs; 2: usage error or a vector this runner cannot replay.

const { ConnectionManager, PLANTED_BUGS } = require('./lib/manager');
const vectors = require('./lib/vectors');

function parse(argv) {
  const opts = { plantedBug: null, json: false, verbose: false, corpus: vectors.CORPUS, url: null };
  for (let i = 0; i < argv.length; i += 1) {
    const a = argv[i];
    if (a === '--planted-bug') opts.plantedBug = argv[++i];
    else if (a === '--json') opts.json = true;
    else if (a === '--verbose' || a === '-v') opts.verbose = true;
    else if (a === '--corpus') opts.corpus = argv[++i];
    else if (a === '--url') opts.url = String(argv[++i]).replace(/\/+$/, '');
    else throw new Error(`unknown option ${a}`);
  }
  if (opts.url !== null && opts.plantedBug !== null) throw new Error('--planted-bug is the server\'s option with --url');
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
    const list = vectors.load(opts.corpus);
    if (opts.url !== null) {
      const wire = require('./lib/wire');
      let caps;
      try {
        caps = await wire.control(opts.url, 'capabilities');
      } catch (err) {
        throw new vectors.VectorError(`cannot ask ${opts.url}/_tasktail/capabilities: ${err.cause ? err.cause.message : err.message}`);
      }
      if (caps.protocol !== 'tasktail-control/1') {
        throw new vectors.VectorError(`the server speaks ${caps.protocol}, this runner tasktail-control/1`);
      }
      opts.name = caps.name;
      verdicts = await wire.runOverWire(opts.url, { vectors: list, caps });
    } else {
      verdicts = await vectors.run(factory, { vectors: list });
    }
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
      implementation: opts.name || `tasktail-node${opts.plantedBug ? ` (planted bug ${opts.plantedBug})` : ''}`,
      mode: opts.url ? `over the wire: ${opts.url}` : 'in-process',
      vectors: verdicts, rules: Object.fromEntries(rules), counts: { vectors: byVector, rules: byRule },
    }, null, 1)}\n`);
  } else {
    const name = opts.url ? `${opts.name} over the wire (${opts.url})`
      : `tasktail-node${opts.plantedBug ? ` with planted bug ${opts.plantedBug}` : ''}`;
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
