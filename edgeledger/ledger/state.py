"""The chain's deterministic state machine: nonces, a key-value state and transaction kinds.

Like CometBFT's ABCI ``FinalizeBlock``, applying a committed block is deterministic: no
clock, no randomness, no floats, ordered iteration only. A transaction whose handler
rejects it is recorded in the block as invalid with its reason and changes nothing (as in
Fabric's validate phase); it does not make the block invalid.

Every receipt carries a validation code, after Fabric's ``TxValidationCode`` (Androulaki et al.
2018, section 3.4: invalid transactions stay in the block, marked): ``VALID`` or the reason
class of an invalid one (``MVCC_READ_CONFLICT``, ``ENDORSEMENT_POLICY_FAILURE``, ...); a handler
names it by raising :class:`TransactionRejected` (or any error) with a ``code``.

Transaction kinds are plug-ins: a package above the ledger (FL, market, oracle) registers
a handler ``handler(ctx, tx)`` under its kind name in :data:`tx_kinds`.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from typing import TYPE_CHECKING

from edgeledger.codec import Record
from edgeledger.errors import EdgeLedgerError
from edgeledger.ledger.block import Block
from edgeledger.ledger.identity import Membership
from edgeledger.ledger.transaction import Transaction
from edgeledger.registry import Registry

if TYPE_CHECKING:
    from edgeledger.ledger.state_table import DurableState

#: Replay protection: a sender's nonce must be unused and above (highest used - NONCE_WINDOW), so
#: concurrent submissions may commit out of order while no transaction can ever commit twice.
NONCE_WINDOW = 4096

__all__ = ["NONCE_WINDOW", "TransactionRejected", "TxContext", "Receipt", "LedgerState", "tx_kinds", "VALID",
           "INVALID_OTHER_REASON", "VALIDATION_CODES"]

VALID = "VALID"
INVALID_OTHER_REASON = "INVALID_OTHER_REASON"
#: the codes the ledger itself gives (Fabric's names where Fabric has one); handlers may add their own
VALIDATION_CODES = {
    VALID: "the transaction was applied",
    "BAD_NONCE": "the nonce is outside the sender's replay window",
    "DUPLICATE_TXID": "the sender already used this nonce (a replay)",
    "UNKNOWN_TX_TYPE": "no handler is registered for the transaction kind",
    "ENDORSEMENT_POLICY_FAILURE": "the valid endorsement signatures do not satisfy the endorsement policy",
    "MVCC_READ_CONFLICT": "a key the endorsers read changed between simulation and validation",
    "EXPIRED_CHAINCODE": "the contract was upgraded (or replaced) since the call was endorsed",
    "BAD_RWSET": "the endorsed read/write set is malformed (e.g. a key outside the contract's namespace)",
    "INVALID_CHAINCODE": "the contract is not deployed, or its execution model refuses this call",
    "EXECUTION_FAILURE": "an order-execute contract call failed when executed in block order",
    INVALID_OTHER_REASON: "any other rule of a transaction kind refused it",
}


class TransactionRejected(EdgeLedgerError):
    """A handler refuses a transaction; the message is recorded as the receipt's reason and
    ``code`` as its validation code."""

    code: str = INVALID_OTHER_REASON

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class Receipt(Record):
    tx_id: bytes
    height: int
    ok: bool
    reason: str = ""
    code: str = VALID  # Fabric's TxValidationCode: VALID, or why the transaction is marked invalid


class TxContext:
    """A transaction's view of state: reads see earlier writes; writes commit only on success."""

    def __init__(self, state: LedgerState, height: int, proposer: str = "") -> None:
        self._state = state
        self.height = height
        self.proposer = proposer  # the proposer (PBFT primary, PoW miner) of the block being applied
        self.membership = state.membership
        self.writes: dict[str, bytes | None] = {}

    def get(self, key: str) -> bytes | None:
        if key in self.writes:
            return self.writes[key]
        return self._state.kv.get(key)

    def put(self, key: str, value: bytes) -> None:
        self.writes[key] = value

    def delete(self, key: str) -> None:
        self.writes[key] = None


Handler = Callable[[TxContext, Transaction], None]
tx_kinds: Registry[Handler] = Registry("transaction kind")


class LedgerState:
    """State after applying blocks 1..height in order.

    In memory by default (a dict: simulations, tests). With ``durable`` (a node's
    :class:`~edgeledger.ledger.state_table.DurableState`, opened by its chain store) the key-value
    state is a SQLite table with a bounded cache and the store writes each block's changes with
    the block, so memory does not grow with the chain and a restart resumes without a replay."""

    def __init__(self, membership: Membership, durable: DurableState | None = None) -> None:
        self.membership = membership
        self.durable = durable
        self.kv: MutableMapping[str, bytes] = durable.kv if durable is not None else {}
        self.nonces: dict[str, int] = {}  # sender -> highest nonce used
        self.used_nonces: dict[str, set[int]] = {}  # sender -> nonces used within the window below it
        self.height = 0  # receipts are returned to the caller; a node stores them (ChainStore.put_receipts)
        if durable is not None:
            self.height = durable.height
            self.used_nonces = durable.load_nonces()
            self.nonces = {s: max(used) for s, used in self.used_nonces.items() if used}

    def check(self, tx: Transaction) -> str | None:
        """Why ``tx`` would be rejected now (nonce, kind), or None; changes nothing."""
        found = self._precheck(tx)
        return None if found is None else found[1]

    def _precheck(self, tx: Transaction) -> tuple[str, str] | None:
        highest = self.nonces.get(tx.sender, 0)
        if tx.nonce < 1 or tx.nonce <= highest - NONCE_WINDOW:
            return "BAD_NONCE", (f"nonce {tx.nonce} of {tx.sender!r} is out of the window: it must be >= 1 and more "
                                 f"than {highest - NONCE_WINDOW} (highest used {highest}, window {NONCE_WINDOW})")
        if tx.nonce in self.used_nonces.get(tx.sender, ()):
            return "DUPLICATE_TXID", f"nonce {tx.nonce} of {tx.sender!r} was already used (a replay)"
        if tx.kind not in tx_kinds:
            return "UNKNOWN_TX_TYPE", f"unknown transaction kind {tx.kind!r}"
        return None

    def apply_transaction(self, tx: Transaction, height: int, proposer: str = "") -> Receipt:
        found = self._precheck(tx)
        ctx = TxContext(self, height, proposer)
        if found is None:
            try:
                tx_kinds.get(tx.kind)(ctx, tx)
            except (TransactionRejected, EdgeLedgerError) as exc:
                found = getattr(exc, "code", INVALID_OTHER_REASON), str(exc)
        if found is not None:
            receipt = Receipt(tx_id=tx.tx_id, height=height, ok=False, reason=found[1], code=found[0])
        else:
            self._use_nonce(tx.sender, tx.nonce)
            for key in sorted(ctx.writes):
                value = ctx.writes[key]
                if value is None:
                    self.kv.pop(key, None)
                else:
                    self.kv[key] = value
            receipt = Receipt(tx_id=tx.tx_id, height=height, ok=True)
        return receipt

    def _use_nonce(self, sender: str, nonce: int) -> None:
        used = self.used_nonces.setdefault(sender, set())
        used.add(nonce)
        if nonce > self.nonces.get(sender, 0):
            self.nonces[sender] = nonce
        floor = self.nonces[sender] - NONCE_WINDOW
        if self.durable is not None:
            self.durable.use_nonce(sender, nonce)
        if len(used) > 2 * NONCE_WINDOW:
            self.used_nonces[sender] = {n for n in used if n > floor}
            if self.durable is not None:
                self.durable.trim_nonces(sender, floor)

    def apply_block(self, block: Block) -> list[Receipt]:
        """Apply a committed block's transactions in order; returns one receipt each."""
        receipts = [self.apply_transaction(tx, block.height, block.header.proposer) for tx in block.transactions]
        self.height = block.height
        return receipts
