// Interoperability checks of ssi-token against jose, driven by the Rust tests
// (crates/ssi-token/tests/it/interop.rs).
//
//   node check.mjs JOB.json
//
// JOB.json is one object with an `op`; the result is one JSON object on
// stdout. An operation that cannot be done (bad job, jose refuses to
// encrypt or decrypt) exits with status 1 and `{"ok":false,"error":...}`.
// A refused token in `verify-ssi` is a normal result, not a failure.
//
//   verify-ssi       {linkTokenKey, idp, issuer, now, tokens: [string]}
//                    -> {ok: true, library, results: [{ok, partnerUserId, platformUserId, linkId, error, ...}]}
//   seal             {appPublicKey, linkPrivateKey, kid?}  -> {ok: true, sealed}
//   make-link-token  {linkTokenKey, payload}               -> {ok: true, token}
//   decrypt-sealed   {appPrivateKey, sealed}               -> {ok: true, jwk, protectedHeader}

import { readFileSync } from 'node:fs';
import { CompactEncrypt, compactDecrypt, importJWK } from 'jose';

import { JOSE_VERSION, makeVerifier } from './verify-ssi.mjs';

const encoder = new TextEncoder();

const operations = {
  async 'verify-ssi'(job) {
    const verify = await makeVerifier(job);
    const results = [];
    // One at a time and independently: one token's failure says nothing about the next.
    for (const token of job.tokens) results.push(await verify(token));
    return { library: `jose ${JOSE_VERSION}`, results };
  },

  // A partner backend sealing its link signing key with jose instead of
  // ssi-token. `kid` may name another key than the one encrypted to, so that
  // a test can reach the decryption itself rather than the kid lookup.
  async seal({ appPublicKey, linkPrivateKey, kid }) {
    const key = await importJWK(appPublicKey, 'ECDH-ES+A256KW');
    const sealed = await new CompactEncrypt(encoder.encode(JSON.stringify(linkPrivateKey)))
      .setProtectedHeader({ alg: 'ECDH-ES+A256KW', enc: 'A256GCM', kid: kid ?? appPublicKey.kid, cty: 'jwk+json' })
      .encrypt(key);
    return { sealed };
  },

  // A link token made by jose; jose itself adds `iv` and `tag` (A256GCMKW)
  // to the protected header, which ssi-token's read_link_token requires.
  async 'make-link-token'({ linkTokenKey, payload }) {
    const key = await importJWK(linkTokenKey, 'A256GCMKW');
    const token = await new CompactEncrypt(encoder.encode(JSON.stringify(payload)))
      .setProtectedHeader({ alg: 'A256GCMKW', enc: 'A256GCM', kid: linkTokenKey.kid, typ: 'link+jwe' })
      .encrypt(key);
    return { token };
  },

  // The server-side unseal done by jose: proves ssi-token's sealing is plain JWE.
  async 'decrypt-sealed'({ appPrivateKey, sealed }) {
    const key = await importJWK(appPrivateKey, 'ECDH-ES+A256KW');
    const { plaintext, protectedHeader } = await compactDecrypt(sealed, key, {
      keyManagementAlgorithms: ['ECDH-ES+A256KW'],
      contentEncryptionAlgorithms: ['A256GCM'],
    });
    return { jwk: JSON.parse(new TextDecoder().decode(plaintext)), protectedHeader };
  },
};

async function main() {
  const [jobPath] = process.argv.slice(2);
  if (!jobPath) throw new Error('usage: node check.mjs JOB.json');
  const job = JSON.parse(readFileSync(jobPath, 'utf8'));
  const operation = operations[job.op];
  if (!operation) throw new Error(`unknown op ${JSON.stringify(job.op)}; expected one of ${Object.keys(operations).join(', ')}`);
  return { ok: true, ...(await operation(job)) };
}

try {
  process.stdout.write(`${JSON.stringify(await main())}\n`);
} catch (error) {
  process.stdout.write(`${JSON.stringify({ ok: false, error: `${error.name}: ${error.message}` })}\n`);
  process.exitCode = 1;
}
