"""A key-value transaction kind: the simplest workload a chain can carry (and benchmark).

``kv.set`` writes ``value`` under ``kv/<key>``; keys are at most 256 bytes and values 4 KiB
so a block stays small. Reads go through the node's state API (``GET /v1/state/kv/<key>``).
"""

from __future__ import annotations

from edgeledger.codec import Record, decode
from edgeledger.ledger.state import TransactionRejected, TxContext, tx_kinds
from edgeledger.ledger.transaction import Transaction

__all__ = ["KVSet", "KIND_KV_SET", "MAX_KEY_BYTES", "MAX_VALUE_BYTES"]

KIND_KV_SET = "kv.set"
MAX_KEY_BYTES = 256
MAX_VALUE_BYTES = 4096


class KVSet(Record):
    key: str
    value: bytes


@tx_kinds.register(KIND_KV_SET)
def apply_kv_set(ctx: TxContext, tx: Transaction) -> None:
    body = decode(tx.payload, KVSet)
    if not body.key or len(body.key.encode()) > MAX_KEY_BYTES:
        raise TransactionRejected(f"kv.set key must be 1..{MAX_KEY_BYTES} bytes, got {len(body.key.encode())}")
    if len(body.value) > MAX_VALUE_BYTES:
        raise TransactionRejected(f"kv.set value of {len(body.value)} bytes exceeds {MAX_VALUE_BYTES}")
    ctx.put(f"kv/{body.key}", body.value)
