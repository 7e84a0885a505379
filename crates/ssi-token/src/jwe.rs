//! The two compact JWE forms of the token mechanism, and nothing else:
//! `ECDH-ES+A256KW` / `A256GCM` (sealed link signing keys) and
//! `A256GCMKW` / `A256GCM` (link tokens). No algorithm negotiation.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::agreement::{self, UnparsedPublicKey};
use aws_lc_rs::digest;
use aws_lc_rs::key_wrap::{AES_256, AesKek, KeyWrap};
use zeroize::Zeroizing;

use crate::b64;
use crate::rng::Random;

pub(crate) const TAG_LEN: usize = 16;
pub(crate) const CEK_LEN: usize = 32;

/// The five parts of a compact JWE, still encoded except where noted.
pub(crate) struct CompactJwe<'a> {
    pub protected_b64: &'a str,
    pub encrypted_key: Vec<u8>,
    pub iv: [u8; NONCE_LEN],
    pub ciphertext: Vec<u8>,
    pub tag: [u8; TAG_LEN],
}

impl<'a> CompactJwe<'a> {
    /// Splits and decodes; `None` for anything but five valid base64url parts
    /// with a 96-bit IV and a 128-bit tag.
    pub(crate) fn parse(text: &'a str) -> Option<Self> {
        let mut parts = text.split('.');
        let protected_b64 = parts.next()?;
        let encrypted_key = b64::decode(parts.next()?)?;
        let iv = b64::decode_array::<NONCE_LEN>(parts.next()?)?;
        let ciphertext = b64::decode(parts.next()?)?;
        let tag = b64::decode_array::<TAG_LEN>(parts.next()?)?;
        if parts.next().is_some() || protected_b64.is_empty() {
            return None;
        }
        Some(Self {
            protected_b64,
            encrypted_key,
            iv,
            ciphertext,
            tag,
        })
    }

    pub(crate) fn protected_header(&self) -> Option<Vec<u8>> {
        b64::decode(self.protected_b64)
    }

    /// A256GCM content decryption with the protected header as AAD.
    pub(crate) fn decrypt_content(&self, cek: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        aes_gcm_open(
            cek,
            &self.iv,
            self.protected_b64.as_bytes(),
            &self.ciphertext,
            &self.tag,
        )
    }
}

pub(crate) fn aes_gcm_seal(
    key: &[u8],
    iv: &[u8; NONCE_LEN],
    aad: &[u8],
    plaintext: &[u8],
) -> (Vec<u8>, [u8; TAG_LEN]) {
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).expect("a 256-bit AES key"));
    let mut in_out = plaintext.to_vec();
    let tag = key
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(*iv),
            Aad::from(aad),
            &mut in_out,
        )
        .expect("AES-GCM sealing of bounded input cannot fail");
    let tag: [u8; TAG_LEN] = tag.as_ref().try_into().expect("a 128-bit tag");
    (in_out, tag)
}

pub(crate) fn aes_gcm_open(
    key: &[u8],
    iv: &[u8; NONCE_LEN],
    aad: &[u8],
    ciphertext: &[u8],
    tag: &[u8; TAG_LEN],
) -> Option<Zeroizing<Vec<u8>>> {
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).ok()?);
    let mut in_out = Zeroizing::new(Vec::with_capacity(ciphertext.len() + TAG_LEN));
    in_out.extend_from_slice(ciphertext);
    in_out.extend_from_slice(tag);
    let plaintext_len = key
        .open_in_place(
            Nonce::assume_unique_for_key(*iv),
            Aad::from(aad),
            &mut in_out,
        )
        .ok()?
        .len();
    in_out.truncate(plaintext_len);
    Some(in_out)
}

/// Assembles `header.ek.iv.ciphertext.tag` after encrypting `plaintext` under
/// `cek` with the encoded header as AAD.
pub(crate) fn encode_compact(
    header_json: &[u8],
    encrypted_key: &[u8],
    cek: &[u8],
    plaintext: &[u8],
    rng: &mut dyn Random,
) -> String {
    let protected_b64 = b64::encode(header_json);
    let mut iv = [0u8; NONCE_LEN];
    rng.fill(&mut iv);
    let (ciphertext, tag) = aes_gcm_seal(cek, &iv, protected_b64.as_bytes(), plaintext);
    let mut out = protected_b64;
    for part in [encrypted_key, &iv[..], &ciphertext, &tag[..]] {
        out.push('.');
        b64::encode_into(part, &mut out);
    }
    out
}

/// RFC 7518 section 4.6.2: the Concat KDF with SHA-256 for a 256-bit key;
/// one hash block suffices.
pub(crate) fn concat_kdf(
    shared_secret: &[u8],
    algorithm: &str,
    apu: &[u8],
    apv: &[u8],
) -> Zeroizing<[u8; 32]> {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(&1u32.to_be_bytes());
    ctx.update(shared_secret);
    for field in [algorithm.as_bytes(), apu, apv] {
        ctx.update(&(field.len() as u32).to_be_bytes());
        ctx.update(field);
    }
    ctx.update(&256u32.to_be_bytes());
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// ECDH on P-256 between our private key and the peer's uncompressed point;
/// aws-lc refuses points off the curve and the identity.
pub(crate) fn ecdh_p256(
    private: &agreement::PrivateKey,
    peer_sec1: &[u8],
) -> Option<Zeroizing<Vec<u8>>> {
    let peer = UnparsedPublicKey::new(&agreement::ECDH_P256, peer_sec1);
    agreement::agree(private, peer, (), |z| Ok(Zeroizing::new(z.to_vec()))).ok()
}

pub(crate) fn aes_kw_wrap(kek: &[u8; 32], cek: &[u8; CEK_LEN]) -> Vec<u8> {
    let kek = AesKek::new(&AES_256, kek).expect("a 256-bit KEK");
    let mut out = vec![0u8; CEK_LEN + 8];
    let len = kek
        .wrap(cek, &mut out)
        .expect("wrapping a 256-bit key cannot fail")
        .len();
    out.truncate(len);
    out
}

pub(crate) fn aes_kw_unwrap(kek: &[u8; 32], wrapped: &[u8]) -> Option<Zeroizing<[u8; CEK_LEN]>> {
    if wrapped.len() != CEK_LEN + 8 {
        return None;
    }
    let kek = AesKek::new(&AES_256, kek).ok()?;
    let mut out = Zeroizing::new([0u8; CEK_LEN + 8]);
    let plain = kek.unwrap(wrapped, out.as_mut()).ok()?;
    let cek: [u8; CEK_LEN] = plain.try_into().ok()?;
    Some(Zeroizing::new(cek))
}
