"""The federation's relay group makes its key on the federal chain; every gateway installs it certified.

Nobody deals the relay group's key. Its members are registered oracle nodes of the FBC's
``proxy`` contract and run the same distributed key generation as the oracle groups
(Pedersen's joint Feldman with Gennaro et al.'s complaints, :mod:`edgeledger.oracle.dkg`,
members :class:`~edgeledger.oracle.dkg_member.DkgMember`): the FBC's first validator opens
the group, each relay deals, complains, answers, and the proxy registers QUAL and its key.

* :class:`RelayKeyAttester` (a service of every FBC validator) signs the relay-key statement
  of the group its own executed state registered and posts it to the FBC's gateway;
* :class:`RelayKeySetup` (a relay's setup steps, driven by its process) registers the relay
  on the FBC's proxy, runs its key generation, takes its share (checked against the group's
  commitments) into the :class:`~edgeledger.oracle.relay.RelayCore`, and hands every chain's
  gateway the FBC's certificate: a quorum of those signatures
  (:mod:`edgeledger.oracle.relay_trust`).

Both are sans-IO: they read committed state and return transactions; the process signs
nothing itself, keeps the share in a private file and resubmits what did not commit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from edgeledger.crypto.keys import PrivateKey
from edgeledger.crypto.threshold import Share, verify_share
from edgeledger.effects import Effect, Metric, SubmitTransaction
from edgeledger.ledger.block import Block
from edgeledger.ledger.contracts import ContractCall, contract_meta, contract_state
from edgeledger.ledger.identity import quorum_size
from edgeledger.ledger.state import Receipt
from edgeledger.ledger.transaction import Transaction
from edgeledger.node.heartbeat import Signer
from edgeledger.node.service import Service
from edgeledger.oracle.crosschain import GATEWAY
from edgeledger.oracle.dkg_member import DkgMember, KeyGenService
from edgeledger.oracle.enrollment import OracleKeys, registration_call
from edgeledger.oracle.proxy import oracle_group, registered_nodes
from edgeledger.oracle.records import OracleGroup, share_index
from edgeledger.oracle.relay_trust import relay_key_statement

__all__ = ["RelayKeyAttester", "RelayKeySetup", "relay_certificate", "RELAY_PROXY", "RESUBMIT_S"]

log = logging.getLogger("edgeledger.federation")
RELAY_PROXY = "proxy"  # the proxy contract on the FBC that runs the relay group's key generation
RESUBMIT_S = 5.0


def _claim(group: OracleGroup) -> list[Any]:
    return [group.group_id, list(group.members), list(group.commitments), group.threshold, list(group.indices)]


class RelayKeyAttester(Service):
    """An FBC validator: once its state holds the relay group the key generation registered, sign
    the relay-key statement and post it to the FBC gateway (again every ``resend_blocks`` blocks
    until it is there)."""

    def __init__(self, node_id: str, key: PrivateKey, signer: Signer, fbc_genesis: bytes, group_id: str,
                 state_view: Callable[[], Any], resend_blocks: int = 5, proxy: str = RELAY_PROXY) -> None:
        self.node_id, self.key, self.signer, self.fbc_genesis = node_id, key, signer, fbc_genesis
        self.group_id, self.state_view, self.resend_blocks, self.proxy = group_id, state_view, resend_blocks, proxy
        self.sent_at = -resend_blocks

    def on_message(self, sender: str, message: Any, now: float) -> list[Effect]:
        return []

    def on_block(self, block: Block, receipts: list[Receipt], now: float) -> list[Effect]:
        view = self.state_view()
        if contract_meta(view, GATEWAY) is None or contract_state(view, GATEWAY, "relay_trust") != "certificate":
            return []
        if contract_state(view, GATEWAY, f"attest/{self.group_id}/{self.node_id}") is not None:
            return []
        group = oracle_group(view, self.proxy, self.group_id)
        if group is None or block.height - self.sent_at < self.resend_blocks:
            return []
        self.sent_at = block.height
        claim = _claim(group)
        statement = relay_key_statement(contract_state(view, GATEWAY, "fbc"), self.fbc_genesis, *claim)
        call = ContractCall(contract=GATEWAY, method="attest_relay_key", args=claim + [self.key.sign(statement)])
        return [SubmitTransaction(self.signer.sign("contract.call", call)), Metric("xchain.relay_key_attested", 1.0)]


def relay_certificate(fbc_view: Any, group_id: str, fbc_validators: list[str],
                      proxy: str = RELAY_PROXY) -> list[Any] | None:
    """``install_relay_key``'s arguments: the group the FBC registered and the validators' signatures
    of exactly that group posted on the FBC gateway, once a quorum of them is there (else None)."""
    group = oracle_group(fbc_view, proxy, group_id)
    if group is None:
        return None
    claim = _claim(group)
    signatures: dict[str, bytes] = {}
    for v in fbc_validators:
        posted = contract_state(fbc_view, GATEWAY, f"attest/{group_id}/{v}")
        if isinstance(posted, list) and len(posted) == 5 and list(posted[:4]) == claim[1:]:
            signatures[v] = posted[4]
    return claim + [signatures] if len(signatures) >= quorum_size(len(fbc_validators)) else None


class RelayKeySetup:
    """A relay's setup steps (its process calls :meth:`tick` every 100 ms until :meth:`ready`).

    ``host`` is the relay's :class:`~edgeledger.oracle.multichain.RelayHost` (one follower node per
    chain and a :class:`RelayCore` not yet keyed), ``apply`` carries out effects (the driver),
    ``save_share``/``saved_share`` keep the share in the data directory across restarts.
    """

    def __init__(self, node_id: str, key: PrivateKey, host: Any, fbc: str, group_id: str,
                 fbc_validators: list[str], keys: OracleKeys, rng: Any, clock: Callable[[], float],
                 apply: Callable[[list[Effect]], None], save_share: Callable[[Share], None],
                 saved_share: Share | None = None, proxy: str = RELAY_PROXY) -> None:
        self.node_id, self.key, self.host, self.fbc, self.group_id = node_id, key, host, fbc, group_id
        self.fbc_validators, self.keys, self.clock, self.apply = fbc_validators, keys, clock, apply
        self.save_share, self.share, self.proxy = save_share, saved_share, proxy
        self._sent: dict[str, float] = {}
        fbc_node = host.nodes[fbc]
        self.member = DkgMember(node_id, key, fbc_node.membership, proxy, rng,
                                lambda kind, payload: host.core.sign_for(fbc, kind, payload))
        fbc_node.add_service(KeyGenService(self.member, lambda: fbc_node.state.kv, self._on_group,
                                           lambda: fbc_node.store.height))

    def _on_group(self, group: OracleGroup, share: Share | None) -> None:
        """Inside the FBC block that registered a group: keep our new share (installed by :meth:`tick`)."""
        if group.group_id == self.group_id and share is not None:
            self.share = share
            self.save_share(share)

    def _view(self, chain_id: str) -> Any:
        return self.host.nodes[chain_id].state.kv

    def _once(self, step: str, done: bool, chain_id: str, call: ContractCall) -> None:
        now = self.clock()
        if done or 0.0 <= now - self._sent.get(step, now - RESUBMIT_S) < RESUBMIT_S:
            return
        self._sent[step] = now
        log.info("%s: setup step %s", self.node_id, step)
        tx: Transaction = self.host.core.sign_for(chain_id, "contract.call", call)
        self.apply(self.host.nodes[chain_id].submit(tx, now))

    def tick(self) -> None:
        fbc = self._view(self.fbc)
        if contract_meta(fbc, self.proxy) is None:
            return
        self._once("register", self.node_id in registered_nodes(fbc, self.proxy), self.fbc,
                   registration_call(self.proxy, self.keys))
        group = oracle_group(fbc, self.proxy, self.group_id)
        if group is not None and not self.host.core.keyed:
            self._key_core(group)
        certificate = relay_certificate(fbc, self.group_id, self.fbc_validators, self.proxy)
        if certificate is None:
            return
        for chain_id in sorted(self.host.nodes):
            view = self._view(chain_id)
            if contract_meta(view, GATEWAY) is None or contract_state(view, GATEWAY, "relay_trust") != "certificate":
                continue
            self._once(f"install-{chain_id}", bool(contract_state(view, GATEWAY, "group_key")), chain_id,
                       ContractCall(contract=GATEWAY, method="install_relay_key", args=certificate))

    def _key_core(self, group: OracleGroup) -> None:
        index = share_index(group, self.node_id)
        if index < 0:
            log.warning("%s: the key generation excluded us from relay group %s", self.node_id, self.group_id)
            self.host.core.group = group  # we know the group (coordinators), we sign nothing
            return
        share = self.share
        if share is None or share.index != index or not verify_share(index, share, group.commitments):
            return  # not ours yet (the generation's last block is still being handled), or not valid
        log.info("%s: relay group %s keyed by its key generation (t=%d of %d)", self.node_id, self.group_id,
                 group.threshold, len(group.members))
        self.apply(self.host.install(group, share, self.clock()))

    def ready(self) -> bool:
        """Keyed, and every chain's gateway holds the key."""
        return self.host.core.keyed and all(
            bool(contract_state(n.state.kv, GATEWAY, "group_key")) for n in self.host.nodes.values())

    def status(self) -> dict[str, Any]:
        return {"node": self.node_id, "keyed": self.host.core.keyed, "ready": self.ready(),
                "gateways": {c: bool(contract_state(n.state.kv, GATEWAY, "group_key"))
                             for c, n in sorted(self.host.nodes.items())}}
