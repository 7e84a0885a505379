// SSI-TOKEN-1.0 verification written the way a partner would write it with
// jose, from DESIGN.md section 5 alone. Shared by check.mjs and
// bench-verify.mjs so that the benchmark measures exactly what the
// interoperability tests check.
//
// Error codes are those of ssi-token's VerifyErrorKind, so that the Rust tests
// can assert both implementations refuse a token for the same reason. Step 10
// (jti replay) is left out on purpose: it needs state, and the benchmark
// verifies the same tokens over and over.

import { readFileSync } from 'node:fs';
import { compactDecrypt, compactVerify, decodeJwt, decodeProtectedHeader, importJWK } from 'jose';

const LIFETIME = 300;
const SKEW = 60;

export const JOSE_VERSION = JSON.parse(
  readFileSync(new URL('./node_modules/jose/package.json', import.meta.url), 'utf8'),
).version;

class Refused extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

function refuse(code, message) {
  throw new Refused(code, message);
}

// Exact member sets: the spec rejects anything extra (jku, jwk, x5u, crit, ...).
function hasExactly(object, names) {
  const keys = Object.keys(object);
  return keys.length === names.length && names.every((name) => Object.hasOwn(object, name));
}

const isString = (value) => typeof value === 'string' && value.length > 0;
const isObject = (value) => value !== null && typeof value === 'object' && !Array.isArray(value);
// Fatal: a payload that is not UTF-8 is refused, not patched with U+FFFD.
const utf8 = new TextDecoder('utf-8', { fatal: true });
const LINK_MEMBERS = new Set(['ver', 'partnerUserId', 'platformUserId', 'vKey', 'iat', 'ctx']);

// Awaits a jose call; whatever jose throws becomes this step's error code
// (jose's own message is kept as the detail).
async function step(code, promise) {
  try {
    return await promise;
  } catch (error) {
    return refuse(code, error.message);
  }
}

function parseHeader(token) {
  let header;
  try {
    header = decodeProtectedHeader(token);
  } catch (error) {
    refuse('MALFORMED_TOKEN', error.message);
  }
  if (!hasExactly(header, ['alg', 'typ', 'kid'])) refuse('MALFORMED_TOKEN', 'header is not {alg, typ, kid}');
  if (header.alg !== 'ES256') refuse('MALFORMED_TOKEN', 'alg is not ES256');
  if (header.typ !== 'ssi+jwt') refuse('MALFORMED_TOKEN', 'typ is not ssi+jwt');
  if (!isString(header.kid)) refuse('MALFORMED_TOKEN', 'kid is not a string');
  return header;
}

// The claims are read before the signature is checked because the key that
// checks it (vKey) travels inside one of them (ltk); nothing read here is
// trusted until compactVerify below has passed over the same bytes.
function parseClaims(token, header) {
  let claims;
  try {
    claims = decodeJwt(token);
  } catch (error) {
    refuse('MALFORMED_CLAIMS', error.message);
  }
  const strings = ['ver', 'iss', 'aud', 'sub', 'lid', 'ltk', 'dev', 'jti'];
  if (!hasExactly(claims, [...strings, 'iat', 'exp'])) refuse('MALFORMED_CLAIMS', 'claims are not the SSI-TOKEN-1.0 set');
  if (!strings.every((name) => typeof claims[name] === 'string')) refuse('MALFORMED_CLAIMS', 'a claim is not a string');
  // Times must be JSON integers: 1.5 or "1700000000" are refused.
  if (!Number.isSafeInteger(claims.iat) || !Number.isSafeInteger(claims.exp) || claims.iat <= 0 || claims.exp <= 0) {
    refuse('MALFORMED_CLAIMS', 'iat and exp must be positive integers');
  }
  if (claims.ver !== 'SSI-TOKEN-1.0') refuse('MALFORMED_CLAIMS', 'ver is not SSI-TOKEN-1.0');
  if (claims.lid !== header.kid) refuse('MALFORMED_CLAIMS', 'lid differs from the header kid');
  return claims;
}

function isLinkPayload(link) {
  return isObject(link) &&
    Object.keys(link).every((name) => LINK_MEMBERS.has(name)) &&
    link.ver === 'LINK-TOKEN-1.0' &&
    isString(link.partnerUserId) &&
    isString(link.platformUserId) &&
    Number.isSafeInteger(link.iat) &&
    (link.ctx === undefined || (isObject(link.ctx) && Object.values(link.ctx).every((v) => typeof v === 'string')));
}

async function readLinkToken(ltk, linkTokenKey, kid) {
  const { plaintext, protectedHeader } = await step(
    'LINK_TOKEN_UNDECRYPTABLE',
    compactDecrypt(ltk, linkTokenKey, {
      keyManagementAlgorithms: ['A256GCMKW'],
      contentEncryptionAlgorithms: ['A256GCM'],
    }),
  );
  // jose authenticated the header (it is the AAD) but does not look at typ or kid.
  if (!hasExactly(protectedHeader, ['alg', 'enc', 'kid', 'typ', 'iv', 'tag']) ||
      protectedHeader.typ !== 'link+jwe' || protectedHeader.kid !== kid) {
    refuse('LINK_TOKEN_UNDECRYPTABLE', 'unexpected link token header');
  }
  let link;
  try {
    link = JSON.parse(utf8.decode(plaintext));
  } catch (error) {
    refuse('LINK_TOKEN_INVALID', error.message);
  }
  if (!isLinkPayload(link)) refuse('LINK_TOKEN_INVALID', 'not a LINK-TOKEN-1.0 payload');
  const vKey = link.vKey;
  if (!isObject(vKey) || !hasExactly(vKey, ['kty', 'crv', 'x', 'y']) ||
      vKey.kty !== 'EC' || vKey.crv !== 'P-256') {
    refuse('LINK_TOKEN_INVALID', 'vKey is not a public P-256 JWK');
  }
  // WebCrypto's import checks that the point is on the curve.
  const key = await step('LINK_TOKEN_INVALID', importJWK(vKey, 'ES256'));
  return { link, key };
}

// `linkTokenKey` is the oct JWK; `idp`, `issuer` and `now` (Unix seconds)
// come from the job file. Returns async token => result object.
export async function makeVerifier({ linkTokenKey, idp, issuer, now }) {
  if (!Number.isSafeInteger(now)) throw new TypeError('job.now must be an integer (Unix seconds)');
  // Imported once: jose keeps an oct key as bytes for A256GCMKW.
  const key = await importJWK(linkTokenKey, 'A256GCMKW');

  return async function verify(token) {
    try {
      if (typeof token !== 'string') refuse('MALFORMED_TOKEN', 'token is not a string');
      const header = parseHeader(token);
      const claims = parseClaims(token, header);
      const { link, key: vKey } = await readLinkToken(claims.ltk, key, linkTokenKey.kid);
      await step('BAD_SIGNATURE', compactVerify(token, vKey, { algorithms: ['ES256'] }));
      if (claims.sub !== link.platformUserId) refuse('SUBJECT_MISMATCH', 'sub differs from platformUserId');
      if (claims.aud !== idp) refuse('WRONG_AUDIENCE', 'aud is not this IDP');
      if (claims.iss !== issuer) refuse('WRONG_ISSUER', 'iss is not the expected issuer');
      if (claims.iat > now + SKEW) refuse('ISSUED_IN_FUTURE', 'iat is in the future');
      if (claims.exp <= now - SKEW) refuse('EXPIRED', 'exp has passed');
      const lifetime = claims.exp - claims.iat;
      if (lifetime <= 0 || lifetime > LIFETIME) refuse('BAD_LIFETIME', 'exp - iat is not in (0, 300]');
      return {
        ok: true,
        partnerUserId: link.partnerUserId,
        platformUserId: link.platformUserId,
        linkId: claims.lid,
        deviceId: claims.dev,
        ctx: link.ctx ?? {},
        linkedAt: link.iat,
        issuedAt: claims.iat,
        error: null,
      };
    } catch (error) {
      if (!(error instanceof Refused)) throw error;
      return { ok: false, partnerUserId: null, platformUserId: null, linkId: null, error: error.code, detail: error.message };
    }
  };
}
