#!/usr/bin/env python3
"""Writes golden medspace envelope objects (format version 1) with an implementation independent of
the Rust code: Python `cryptography` (OpenSSL) AES-256-GCM / SM4-GCM, `hmac` with SM3, and the
STREAM construction written out by hand (nonce = 7-byte prefix || u32 BE counter || last flag).

Run from this directory: python3 make_golden.py. The two objects are written to files and the two
wrapped keys printed as hex; all are committed and `tests/vectors.rs` decrypts / unwraps them. The nonce prefix is fixed here only to make the files
reproducible; the Rust writer always draws it at random.
"""
import hashlib
import hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

DEK = bytes(range(32))
CONTEXT = b"ds-golden"
PREFIX = bytes.fromhex("a0a1a2a3a4a5a6")
SEGMENT = 64 * 1024


def plaintext():
    # Same formula as the Rust tests' `data(n)`: byte i = i * 31 % 251, one full segment + 10 bytes.
    return bytes((i * 31 % 251) for i in range(SEGMENT + 10))


def gcm(alg, nonce, aad, pt):
    enc = Cipher(alg, modes.GCM(nonce)).encryptor()
    enc.authenticate_additional_data(aad)
    ct = enc.update(pt) + enc.finalize()
    return ct + enc.tag


def envelope(alg_id, make_alg):
    header = b"MSE1" + bytes([1, alg_id]) + PREFIX
    aad = header + CONTEXT
    pt = plaintext()
    segments = [pt[i:i + SEGMENT] for i in range(0, len(pt), SEGMENT)] or [b""]
    out = bytearray(header)
    for counter, seg in enumerate(segments):
        last = 1 if counter == len(segments) - 1 else 0
        nonce = PREFIX + counter.to_bytes(4, "big") + bytes([last])
        out += gcm(make_alg(), nonce, aad, seg)
    return bytes(out)


sm4_key = hmac.new(DEK, b"medspace/v1/sm4/content", "sm3").digest()[:16]
with open("golden-aes256gcm.mse", "wb") as f:
    f.write(envelope(1, lambda: algorithms.AES(DEK)))
with open("golden-sm4gcm.mse", "wb") as f:
    f.write(envelope(2, lambda: algorithms.SM4(sm4_key)))
print("sha256 of plaintext:", hashlib.sha256(plaintext()).hexdigest())


def wrapped_key(alg_id, make_alg):
    """A data key (DEK) wrapped under MASTER as FileKeyProvider::from_key(MASTER, "golden") does."""
    fp = hmac.new(MASTER, b"medspace/v1/key-id", "sha256").digest()[:4].hex()
    key_id = ("golden:" + fp).encode()
    header = b"MSWK" + bytes([1, alg_id, len(key_id)]) + key_id
    return header + WRAP_NONCE + gcm(make_alg(), WRAP_NONCE, header + CONTEXT, DEK)


MASTER = bytes(range(0x40, 0x60))
WRAP_NONCE = bytes.fromhex("b0b1b2b3b4b5b6b7b8b9babb")
kek_sm4 = hmac.new(MASTER, b"medspace/v1/sm4/key-wrap", "sm3").digest()[:16]
print("wrapped (AES-256-GCM):", wrapped_key(1, lambda: algorithms.AES(MASTER)).hex())
print("wrapped (SM4-GCM):", wrapped_key(2, lambda: algorithms.SM4(kek_sm4)).hex())
