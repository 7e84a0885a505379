// Seals any plaintext to an app's public key as spec/README.md section 3 says (JWE
// compact, ECDH-ES+A256KW with A256GCM), with Node's own crypto: the end-to-end tests
// use it to hand the agent a sealed "link signing key" that decrypts to something that
// is not a P-256 private key (INVALID_LINK_SIGNING_KEY).
import { createCipheriv, createHash, createPublicKey, diffieHellman, generateKeyPairSync, randomBytes } from 'node:crypto';

const b64url = (bytes) => Buffer.from(bytes).toString('base64url');

function uint32(n) {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

/** The KEK: one SHA-256 round of the Concat KDF (RFC 7518 4.6.2), no PartyU/V info. */
function concatKdf(z, alg) {
  return createHash('sha256')
    .update(Buffer.concat([uint32(1), z, uint32(alg.length), Buffer.from(alg), uint32(0), uint32(0), uint32(256)]))
    .digest();
}

/** `plaintext` (a string) sealed to `appPublicJwk` ({kty, crv, x, y, kid}). */
export function sealToAppKey(plaintext, appPublicJwk) {
  const alg = 'ECDH-ES+A256KW';
  const recipient = createPublicKey({ key: appPublicJwk, format: 'jwk' });
  const ephemeral = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const z = diffieHellman({ privateKey: ephemeral.privateKey, publicKey: recipient });
  const kek = concatKdf(z, alg);
  const cek = randomBytes(32);
  const wrap = createCipheriv('id-aes256-wrap', kek, Buffer.from('A6A6A6A6A6A6A6A6', 'hex'));
  const wrapped = Buffer.concat([wrap.update(cek), wrap.final()]);
  const { kty, crv, x, y } = ephemeral.publicKey.export({ format: 'jwk' });
  const header = { alg, enc: 'A256GCM', kid: appPublicJwk.kid, epk: { kty, crv, x, y }, cty: 'jwk+json' };
  const protectedHeader = b64url(JSON.stringify(header));
  const iv = randomBytes(12);
  const gcm = createCipheriv('aes-256-gcm', cek, iv);
  gcm.setAAD(Buffer.from(protectedHeader, 'ascii'));
  const ciphertext = Buffer.concat([gcm.update(plaintext, 'utf8'), gcm.final()]);
  return [protectedHeader, b64url(wrapped), b64url(iv), b64url(ciphertext), b64url(gcm.getAuthTag())].join('.');
}
