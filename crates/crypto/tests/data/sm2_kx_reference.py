#!/usr/bin/env python3
"""Independent SM2 key exchange (GB/T 32918.3 §6.1) for `tests/sm2_exchange.rs`.

Two pure-Python implementations from PyPI, neither sharing code with the Rust one:

* `sm-py-bc` (0.1.9): a port of Bouncy Castle's `SM2KeyExchange`, with key confirmation
  (S_B / S_A);
* `gmalg` (1.1.2): key exchange without confirmation, used as a second check of the key
  (`key_gmalg` is null when the computing party's identifier is empty, which gmalg refuses).

Install with: python3 -m pip install gmalg==1.1.2 sm-py-bc==0.1.9

Reads a JSON list of jobs on stdin and writes a JSON list of results on stdout. Byte strings are
hex; points are uncompressed SEC1 (04 || x || y); `klen` is in bytes. Ephemeral scalars come from
the caller (any 32 bytes, mapped into [1, n-1]) so the Rust test can run the protocol in steps:

  {"op": "ephemeral", "r"}                                      -> {"ephemeral"}
  {"op": "respond",  "d", "id", "peer_pub", "peer_id", "r", "peer_eph", "klen"}
                                  -> {"ephemeral", "key", "key_gmalg", "s_b", "s_a_expected"}
  {"op": "initiate", "d", "id", "peer_pub", "peer_id", "r", "peer_eph", "s_b", "klen"}
                                  -> {"key", "key_gmalg", "s_a"}   (fails if S_B does not verify)
"""
import json
import sys

import gmalg
from sm_bc.crypto.SM2 import SM2
from sm_bc.crypto.agreement.sm2_key_exchange import SM2KeyExchange
from sm_bc.crypto.params.ec_private_key_parameters import ECPrivateKeyParameters
from sm_bc.crypto.params.ec_public_key_parameters import ECPublicKeyParameters
from sm_bc.crypto.params.parameters_with_id import ParametersWithID
from sm_bc.crypto.params.sm2_key_exchange_private_parameters import SM2KeyExchangePrivateParameters
from sm_bc.crypto.params.sm2_key_exchange_public_parameters import SM2KeyExchangePublicParameters

DOMAIN = SM2.get_parameters()
N = DOMAIN.n


def scalar(hex_bytes):
    return int(hex_bytes, 16) % (N - 1) + 1


def point(hex_point):
    return DOMAIN.curve.decode_point(bytes.fromhex(hex_point))


def encode(p):
    return p.normalize().get_encoded(False).hex()


def bc_exchange(job, initiator):
    own = SM2KeyExchangePrivateParameters(
        initiator,
        ECPrivateKeyParameters(int(job["d"], 16), DOMAIN),
        ECPrivateKeyParameters(scalar(job["r"]), DOMAIN),
    )
    peer = SM2KeyExchangePublicParameters(
        ECPublicKeyParameters(point(job["peer_pub"]), DOMAIN),
        ECPublicKeyParameters(point(job["peer_eph"]), DOMAIN),
    )
    kx = SM2KeyExchange()
    kx.init(ParametersWithID(own, bytes.fromhex(job["id"])))
    s_b = bytes.fromhex(job["s_b"]) if initiator else None
    out = kx.calculate_key_with_confirmation(
        job["klen"] * 8, s_b, ParametersWithID(peer, bytes.fromhex(job["peer_id"]))
    )
    return own, out


def gmalg_key(job, initiator):
    if not job["id"]:
        return None  # gmalg refuses an empty identifier of its own party (its `uid` is falsy)
    sm2 = gmalg.SM2(bytes.fromhex(job["d"]), bytes.fromhex(job["id"]), rnd_fn=lambda _: scalar(job["r"]))
    _, t = sm2.begin_key_exchange()
    mode = gmalg.KEYXCHG_MODE.INITIATOR if initiator else gmalg.KEYXCHG_MODE.RESPONDER
    return sm2.end_key_exchange(
        job["klen"],
        t,
        bytes.fromhex(job["peer_eph"]),
        bytes.fromhex(job["peer_id"]),
        bytes.fromhex(job["peer_pub"]),
        mode,
    ).hex()


def run(job):
    op = job["op"]
    if op == "ephemeral":
        return {"ephemeral": encode(DOMAIN.g.multiply(scalar(job["r"])))}
    if op == "respond":
        own, (key, s_b, s_a_expected) = bc_exchange(job, initiator=False)
        return {
            "ephemeral": encode(own.get_ephemeral_public_point()),
            "key": key.hex(),
            "key_gmalg": gmalg_key(job, initiator=False),
            "s_b": s_b.hex(),
            "s_a_expected": s_a_expected.hex(),
        }
    if op == "initiate":
        _, (key, s_a) = bc_exchange(job, initiator=True)
        return {"key": key.hex(), "key_gmalg": gmalg_key(job, initiator=True), "s_a": s_a.hex()}
    raise ValueError(f"unknown op {op!r}")


if __name__ == "__main__":
    json.dump([run(job) for job in json.load(sys.stdin)], sys.stdout)
