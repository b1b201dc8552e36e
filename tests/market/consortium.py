"""A small EdgeToll consortium applied straight through LedgerState (no consensus needed)."""

from __future__ import annotations

from edgeledger.codec import encode
from edgeledger.crypto.keys import derive_key
from edgeledger.ledger import Block, Genesis, Identity, LedgerState, Membership, make_transaction
from edgeledger.ledger.block import BlockHeader
from edgeledger.ledger.clock import KIND_CLOCK_TICK, ClockTick
from edgeledger.ledger.contracts import ContractCall, ContractDeploy, call_log

ROLES = {"proxy": "proxy", "c0": "company", "c1": "company", "c2": "company", "c3": "company",
         "en0": "en", "en1": "en", "dev0": "device", "dev1": "device", "dev2": "device", "outsider": "device"}


def make_consortium(roles=ROLES, validators=("proxy", "c0", "c1", "c2")):
    keys = {n: derive_key("ed25519", n.encode()) for n in roles}
    ids = [Identity(node_id=n, role=r, scheme="ed25519", public_key=keys[n].public_key) for n, r in roles.items()]
    return keys, Membership(Genesis(chain_id="edgetoll", identities=ids, validators=list(validators)))


class Chain:
    """Sign transactions with per-sender nonces and apply each as its own block (or batch them)."""

    def __init__(self, roles=ROLES, validators=("proxy", "c0", "c1", "c2")):
        self.keys, self.membership = make_consortium(roles, validators)
        self.state = LedgerState(self.membership)
        self.nonces: dict[str, int] = {}
        self.pending: list = []
        self.validators = list(validators)
        self.clock_ms = 0

    def tx(self, sender, kind, payload):
        self.nonces[sender] = self.nonces.get(sender, 0) + 1
        return make_transaction(self.keys[sender], sender, self.nonces[sender], kind, payload)

    def block(self, txs):
        h = self.state.height + 1
        header = BlockHeader(chain_id="edgetoll", height=h, prev_hash=b"", tx_root=b"", tx_count=len(txs),
                             proposer="proxy", timestamp_ms=0)
        return self.state.apply_block(Block(header=header, transactions=list(txs)))

    def submit(self, sender, kind, payload):
        (receipt,) = self.block([self.tx(sender, kind, payload)])
        return receipt

    def deploy(self, sender, name, code, version=1, args=()):
        return self.submit(sender, "contract.deploy", ContractDeploy(name=name, code=code, version=version, args=list(args)))

    def call(self, sender, contract, method, *args):
        r = self.submit(sender, "contract.call", ContractCall(contract=contract, method=method, args=list(args)))
        log = call_log(self.state.kv, r.tx_id)
        return r, (log.result if log else None)

    def empty_blocks(self, n):
        for _ in range(n):
            self.block([])

    def advance(self, ms):
        """Move the chain's BFT time ``ms`` forward: every sealer ticks in one block."""
        self.clock_ms += ms
        receipts = self.block([self.tx(v, KIND_CLOCK_TICK, ClockTick(time_ms=self.clock_ms)) for v in self.validators])
        assert all(r.ok for r in receipts), [r.reason for r in receipts]


__all__ = ["make_consortium", "Chain", "encode"]
