// jose's SSI token verification rate, for `ssi bench token`.
//
//   node bench-verify.mjs JOB.json SECONDS
//
// JOB.json is a `verify-ssi` job of check.mjs: {linkTokenKey, idp, issuer,
// now, tokens: [string]}. Prints one line:
//   {"library":"jose <version>","verified":N,"seconds":S,"rate":N/S}
// Exits with status 1 (message on stderr) if any token does not verify: a
// rate over refusals would not be comparable with the Rust verifier's.

import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

import { JOSE_VERSION, makeVerifier } from './verify-ssi.mjs';

const [jobPath, secondsArg] = process.argv.slice(2);
const duration = Number(secondsArg);
if (!jobPath || !(duration > 0)) {
  console.error('usage: node bench-verify.mjs JOB.json SECONDS');
  process.exit(2);
}
const job = JSON.parse(readFileSync(jobPath, 'utf8'));
if (!Array.isArray(job.tokens) || job.tokens.length === 0) {
  console.error('bench-verify: the job has no tokens');
  process.exit(2);
}

// Key import is set-up, as in a partner backend that loads its key at start.
const verify = await makeVerifier(job);

// One untimed pass: fails fast on bad input and lets V8 compile the hot path.
for (const [index, token] of job.tokens.entries()) {
  const result = await verify(token);
  if (!result.ok) {
    console.error(`bench-verify: token ${index} does not verify: ${result.error} (${result.detail})`);
    process.exit(1);
  }
}

// Sequential, like one request handler; every iteration runs the whole
// verification again (nothing is cached between tokens or rounds).
const tokens = job.tokens;
const start = performance.now();
const deadline = start + duration * 1000;
let verified = 0;
let now = start;
while (now < deadline) {
  const result = await verify(tokens[verified % tokens.length]);
  if (!result.ok) {
    console.error(`bench-verify: token ${verified % tokens.length} stopped verifying: ${result.error}`);
    process.exit(1);
  }
  verified += 1;
  now = performance.now();
}
const seconds = (now - start) / 1000;
console.log(JSON.stringify({ library: `jose ${JOSE_VERSION}`, verified, seconds, rate: verified / seconds }));
