"""An independent verifier of spec/vectors, written from spec/README.md alone.

It uses the `cryptography` package (OpenSSL) and shares no code with the Rust
implementation, so agreement on every case shows the specification and the
vectors are sufficient to implement the formats. Usage:
    python3 verify_vectors.py spec/vectors
Prints the number of cases checked and exits non-zero on any disagreement.
"""
import json, hashlib, re, sys
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap
from cryptography.exceptions import InvalidSignature, InvalidTag

N = int("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551", 16)
ALPH = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

class Err(Exception): pass

def b64d(s, n=None):
    if not isinstance(s, str) or any(c not in ALPH for c in s) or len(s) % 4 == 1: raise Err("b64")
    bits = "".join(format(ALPH.index(c), "06b") for c in s)
    extra = len(bits) % 8
    if extra and "1" in bits[len(bits)-extra:]: raise Err("noncanonical")
    out = bytes(int(bits[i:i+8], 2) for i in range(0, len(bits) - extra, 8))
    if n is not None and len(out) != n: raise Err("len")
    return out

def b64e(b):
    import base64
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

def pairs(ps):
    d = {}
    for k, v in ps:
        if k in d: raise Err("dup")
        d[k] = v
    return d

def jobj(b):
    try: v = json.loads(b, object_pairs_hook=pairs)
    except (ValueError, UnicodeDecodeError): raise Err("json")
    if not isinstance(v, dict): raise Err("notobj")
    return v

def exact(o, req, opt=()):
    if not isinstance(o, dict): raise Err("notobj")
    ks = set(o)
    if not set(req) <= ks or not ks <= set(req) | set(opt): raise Err("members")

def isint(v): return type(v) is int
def isstr(v): return type(v) is str

def point(jwk, names=("kty","crv","x","y")):
    exact(jwk, names)
    if jwk["kty"] != "EC" or jwk["crv"] != "P-256": raise Err("kty/crv")
    x = b64d(jwk["x"], 32); y = b64d(jwk["y"], 32)
    try: return ec.EllipticCurvePublicNumbers(int.from_bytes(x,"big"), int.from_bytes(y,"big"), ec.SECP256R1()).public_key()
    except ValueError: raise Err("curve")

def gcm_open(k, iv, aad, ct, tag):
    try: return AESGCM(k).decrypt(iv, ct + tag, aad)
    except InvalidTag: raise Err("tag")

def jwe5(tok):
    p = tok.split(".")
    if len(p) != 5: raise Err("parts")
    h = b64d(p[0]); ek = b64d(p[1]); iv = b64d(p[2], 12); ct = b64d(p[3]); tag = b64d(p[4], 16)
    if not p[0]: raise Err("empty")
    return p[0], jobj(h), ek, iv, ct, tag

def read_link(tok, keys):
    try:
        if len(tok.encode()) > 8192: raise Err("size")
        h64, h, ek, iv, ct, tag = jwe5(tok)
        exact(h, ["alg","enc","kid","typ","iv","tag"])
        if not all(isstr(h[k]) for k in h): raise Err("types")
        if (h["alg"], h["enc"], h["typ"]) != ("A256GCMKW","A256GCM","link+jwe"): raise Err("alg")
        key = next((k for k in keys if k["kid"] == h["kid"]), None)
        if key is None: raise Err("kid")
        if len(ek) != 32: raise Err("ek")
        cek = gcm_open(b64d(key["k"], 32), b64d(h["iv"], 12), b"", ek, b64d(h["tag"], 16))
        pt = gcm_open(cek, iv, h64.encode(), ct, tag)
    except Err: return ("LINK_TOKEN_UNDECRYPTABLE", 4)
    try:
        p = jobj(pt)
        exact(p, ["ver","partnerUserId","platformUserId","vKey","iat"], ["ctx"])
        if p["ver"] != "LINK-TOKEN-1.0": raise Err("ver")
        if not (isstr(p["partnerUserId"]) and p["partnerUserId"] and isstr(p["platformUserId"]) and p["platformUserId"]): raise Err("ids")
        if not isint(p["iat"]): raise Err("iat")
        ctx = p.get("ctx", {})
        if not isinstance(ctx, dict) or not all(isstr(v) for v in ctx.values()): raise Err("ctx")
        point(p["vKey"])
    except Err: return ("LINK_TOKEN_INVALID", 5)
    return {"partnerUserId": p["partnerUserId"], "platformUserId": p["platformUserId"], "vKey": p["vKey"], "iat": p["iat"], "ctx": ctx}

def verify(schema, tok, keys, idp, iss, now, seen):
    if schema != "SSI-TOKEN-1.0": return ("WRONG_SCHEMA", 1)
    try:
        if len(tok.encode()) > 16384: raise Err("size")
        p = tok.split(".")
        if len(p) != 3: raise Err("parts")
        h = jobj(b64d(p[0])); pb = b64d(p[1]); sig = b64d(p[2], 64)
        exact(h, ["alg","typ","kid"])
        if not all(isstr(v) for v in h.values()): raise Err("types")
        if h["alg"] != "ES256" or h["typ"] != "ssi+jwt": raise Err("alg")
    except Err: return ("MALFORMED_TOKEN", 2)
    try:
        c = jobj(pb)
        names = ["ver","iss","aud","sub","lid","ltk","dev","iat","exp","jti"]
        exact(c, names)
        for n in names:
            if n in ("iat","exp"):
                if not isint(c[n]): raise Err("int")
            elif not isstr(c[n]): raise Err("str")
        if c["ver"] != "SSI-TOKEN-1.0" or c["lid"] != h["kid"]: raise Err("ver/lid")
        if c["iat"] <= 0 or c["exp"] <= 0: raise Err("pos")
        b64d(c["jti"], 16)
    except Err: return ("MALFORMED_CLAIMS", 3)
    link = read_link(c["ltk"], keys)
    if isinstance(link, tuple): return link
    pk = point(link["vKey"])
    r = int.from_bytes(sig[:32], "big"); s = int.from_bytes(sig[32:], "big")
    try:
        if not (0 < r < N and 0 < s < N): raise InvalidSignature()
        pk.verify(encode_dss_signature(r, s), (p[0] + "." + p[1]).encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature: return ("BAD_SIGNATURE", 6)
    if c["sub"] != link["platformUserId"]: return ("SUBJECT_MISMATCH", 7)
    if c["aud"] != idp: return ("WRONG_AUDIENCE", 8)
    if c["iss"] != iss: return ("WRONG_ISSUER", 8)
    if not c["iat"] <= now + 60: return ("ISSUED_IN_FUTURE", 9)
    if not c["exp"] > now - 60: return ("EXPIRED", 9)
    if not 0 < c["exp"] - c["iat"] <= 300: return ("BAD_LIFETIME", 9)
    if c["jti"] in seen: return ("REPLAYED", 10)
    seen.add(c["jti"])
    return {"partnerUserId": link["partnerUserId"], "platformUserId": link["platformUserId"], "linkId": c["lid"], "deviceId": c["dev"], "ctx": link["ctx"], "linkedAt": link["iat"], "issuedAt": c["iat"], "expiresAt": c["exp"], "jti": c["jti"]}

def thumb(j):
    return b64e(hashlib.sha256(('{"crv":"P-256","kty":"EC","x":"%s","y":"%s"}' % (j["x"], j["y"])).encode()).digest())

def unseal(sealed, app_keys):
    E = "INVALID_LINK_SIGNING_KEY_ENCRYPTION"
    try:
        if len(sealed.encode()) > 4096: raise Err("size")
        h64, h, ek, iv, ct, tag = jwe5(sealed)
        exact(h, ["alg","enc","kid","epk","cty"], ["apu","apv"])
        if (h["alg"], h["enc"], h["cty"]) != ("ECDH-ES+A256KW","A256GCM","jwk+json"): raise Err("alg")
        app = next((k for k in app_keys if k["kid"] == h["kid"]), None)
        if app is None: raise Err("kid")
        epk = point(h["epk"])
        d = int.from_bytes(b64d(app["d"], 32), "big")
        priv = ec.derive_private_key(d, ec.SECP256R1())
        z = priv.exchange(ec.ECDH(), epk)
        alg = b"ECDH-ES+A256KW"
        apu = b64d(h.get("apu", "")); apv = b64d(h.get("apv", ""))
        kek = hashlib.sha256((1).to_bytes(4,"big") + z + len(alg).to_bytes(4,"big") + alg + len(apu).to_bytes(4,"big") + apu + len(apv).to_bytes(4,"big") + apv + (256).to_bytes(4,"big")).digest()
        try: cek = aes_key_unwrap(kek, ek)
        except Exception: raise Err("unwrap")
        pt = gcm_open(cek, iv, h64.encode(), ct, tag)
    except Err: return E
    try:
        j = jobj(pt)
        exact(j, ["kty","crv","x","y","d"])
        pk = point({k: j[k] for k in ("kty","crv","x","y")})
        d = int.from_bytes(b64d(j["d"], 32), "big")
        if not 0 < d < N: raise Err("d")
        if ec.derive_private_key(d, ec.SECP256R1()).public_key().public_numbers() != pk.public_numbers(): raise Err("mismatch")
    except Err: return "INVALID_LINK_SIGNING_KEY"
    return {"verification_key": {k: j[k] for k in ("kty","crv","x","y")}, "signing_key": j}

bad = 0
checked = 0
f = json.load(open(sys.argv[1] + "/ssi-tokens.json"))
for c in f["cases"]:
    seen = set(c["seen_jtis"])
    r = verify(c["ssi_token"]["schema"], c["ssi_token"]["token"], c["link_token_keys"]["keys"], c["identity_provider_name"], c["issuer"], c["now"], seen)
    e = c["expected"]
    want = e["claims"] if e["valid"] else (e["error"], e["step"])
    checked += 1
    if r != want: bad += 1; print("SSI MISMATCH", c["name"], r, want)
    if e["valid"]:
        r2 = verify(c["ssi_token"]["schema"], c["ssi_token"]["token"], c["link_token_keys"]["keys"], c["identity_provider_name"], c["issuer"], c["now"], seen)
        if r2 != ("REPLAYED", 10): bad += 1; print("no replay", c["name"])
f = json.load(open(sys.argv[1] + "/sealed-keys.json"))
for c in f["cases"]:
    for k in c["app_keys"]:
        if thumb(k) != k["kid"]: bad += 1; print("thumbprint", c["name"])
    r = unseal(c["sealed_key"], c["app_keys"])
    e = c["expected"]
    want = {"verification_key": e["verification_key"], "signing_key": e["signing_key"]} if e["valid"] else e["error"]
    checked += 1
    if r != want: bad += 1; print("SEALED MISMATCH", c["name"], r, want)
f = json.load(open(sys.argv[1] + "/link-tokens.json"))
for c in f["cases"]:
    r = read_link(c["link_token"]["token"], c["link_token_keys"]["keys"])
    e = c["expected"]
    want = e["claims"] if e["valid"] else (e["error"], e["step"])
    checked += 1
    if r != want: bad += 1; print("LINK MISMATCH", c["name"], r, want)
print(f"checked: {checked} mismatches: {bad}")
sys.exit(1 if bad or not checked else 0)
