"""What each member of a deployed Pedal oracle network does besides being a chain node.

* the operator (the first validator, the proxy's admin) deploys the proxy and, once every
  oracle node has registered, opens each group's distributed key generation (or, with the
  trusted dealer of tests, records the dealt groups' commitments);
* an oracle node registers (BLS key with proof of possession, VRF key); once every node has
  registered it builds the same :class:`PedalCore` and :class:`OracleService` the simulator
  runs, takes part in its groups' key generation (:class:`KeyGenService`; it keeps the share
  it ends with in its data directory through ``save_share``) and learns every group the chain
  registers; its share is always checked against the group's commitments (Feldman);
  restarted, it reloads its shares, and within a term it learns the term's master from the
  VRF proofs of fulfilments committed on chain;
* the requester (the application) deploys its feed, files data requests and reports their
  callbacks.

Setup steps are idempotent and resubmitted when they do not commit within a few seconds,
so a lost transaction or a restarted process cannot stall the network. The roles read no
clock, file or socket themselves: the process (:mod:`edgeledger.deploy.oracle_process`)
gives them a clock, their keys and shares, the source-reading ``work`` and a way to defer a
call, and serves their reports over HTTP.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from edgeledger.codec import decode, encode
from edgeledger.crypto.keys import PrivateKey
from edgeledger.crypto.threshold import Share, verify_share
from edgeledger.errors import ConfigError, EdgeLedgerError
from edgeledger.ledger.contracts import ContractCall, ContractDeploy, contract_meta, contract_state
from edgeledger.ledger.block import Block
from edgeledger.ledger.state import Receipt
from edgeledger.node.node import Node
from edgeledger.node.heartbeat import Signer
from edgeledger.oracle.data_oracle import FEED_CODE
from edgeledger.oracle.dkg import dkg_session
from edgeledger.oracle.dkg_member import DkgMember, KeyGenService
from edgeledger.oracle.enrollment import OracleKeys, group_call, registration_call
from edgeledger.oracle.pedal import FetchJob, PedalConfig, PedalCore, ResultAggregator
from edgeledger.oracle.proxy import PROXY_CODE, oracle_group, registered_group, registered_nodes, request_body
from edgeledger.oracle.records import ElectionProof, OracleFulfill, OracleGroup
from edgeledger.oracle.service import OracleService, WorkResult
from edgeledger.oracle.simnet import FEED, PROXY, CallbackWatch

__all__ = ["OracleRole", "Operator", "OracleMember", "Requester", "NetworkPlan", "GroupPlan", "NotReady",
           "RESUBMIT_S"]

log = logging.getLogger("edgeledger.oracle")
RESUBMIT_S = 5.0


class NotReady(EdgeLedgerError):
    """The oracle network is still being set up (or this member is still starting)."""


class GroupPlan(Protocol):
    """A working group as the dealer planned it (ids and, once dealt, the Feldman commitments)."""

    @property
    def group_id(self) -> str: ...
    @property
    def members(self) -> list[str]: ...
    @property
    def threshold(self) -> int: ...
    @property
    def commitments(self) -> list[bytes]: ...


class NetworkPlan(Protocol):
    """What the roles read of an oracle network's plan (:class:`edgeledger.deploy.oracle_plan.OracleNetworkPlan`)."""

    @property
    def validators(self) -> list[str]: ...
    @property
    def requester(self) -> str: ...
    @property
    def oracles(self) -> list[str]: ...
    @property
    def groups(self) -> Sequence[GroupPlan]: ...
    @property
    def election_seed(self) -> bytes: ...
    @property
    def alpha_milli(self) -> int: ...
    @property
    def term_blocks(self) -> int: ...
    @property
    def election_timeout_s(self) -> float: ...
    @property
    def key_generation(self) -> str: ...
    @property
    def dkg_window_ms(self) -> int: ...

    def role_of(self, node_id: str) -> str: ...


class OracleRole:
    """The base: a transaction helper (monotonic nonces across restarts) and the setup loop.

    ``clock`` is the wall clock (seconds) the process runs on: it stamps transactions and
    paces resubmissions; a role never reads a clock of its own.
    """

    def __init__(self, plan: NetworkPlan, node_id: str, key: PrivateKey, clock: Callable[[], float]) -> None:
        self.plan, self.node_id, self.key, self.clock = plan, node_id, key, clock
        self.node: Node | None = None
        self.driver: Any = None
        # nonces above any an earlier run of this process used; shared with the validator's heartbeat
        self.signer = Signer(key, node_id, nonce=int(clock() * 1000) * 1000)
        self._sent: dict[str, float] = {}

    @property
    def nonce(self) -> int:
        return self.signer.nonce

    def attach(self, node: Node, driver: Any) -> None:
        """Bind the chain node and the driver that turns its effects into I/O."""
        self.node, self.driver = node, driver

    @property
    def view(self) -> Any:
        assert self.node is not None
        return self.node.state.kv

    def submit(self, kind: str, payload: Any) -> bytes:
        assert self.node is not None
        tx = self.signer.sign(kind, payload)
        self.driver.submit_local(self.node.submit(tx, self.clock()))
        return tx.tx_id

    def once(self, step: str, done: bool, kind: str, payload: Any) -> None:
        """Submit ``step``'s transaction unless it is done or was sent less than RESUBMIT_S ago."""
        now = self.clock()
        if done or 0.0 <= now - self._sent.get(step, now - RESUBMIT_S) < RESUBMIT_S:  # < 0: the clock was set back
            return
        self._sent[step] = now
        log.info("%s: setup step %s", self.node_id, step)
        self.submit(kind, payload)

    def setup_complete(self) -> bool:
        """Proxy deployed, every oracle node registered and every group recorded."""
        if self.node is None or contract_meta(self.view, PROXY) is None:
            return False
        nodes = registered_nodes(self.view, PROXY)
        return all(o in nodes for o in self.plan.oracles) and \
            all(registered_group(self.view, PROXY, g.group_id) is not None for g in self.plan.groups)

    def tick(self) -> None:
        """One pass of this role's setup (the process calls it every 100 ms until :meth:`ready`)."""

    def ready(self) -> bool:
        return self.setup_complete()

    def describe(self) -> dict[str, Any]:
        return {}

    def status(self) -> dict[str, Any]:
        """This member's part in the network (``GET /v1/oracle/status``)."""
        height = self.node.store.height if self.node is not None else 0
        return {"node": self.node_id, "role": self.plan.role_of(self.node_id),
                "ready": self.node is not None and self.ready(), "height": height, **self.describe()}


class Operator(OracleRole):
    """The first validator: the proxy's admin and the dealer's voice on chain."""

    def tick(self) -> None:
        view = self.view
        deploy = ContractDeploy(name=PROXY, code=PROXY_CODE, version=1,
                                args=[self.plan.election_seed, self.plan.alpha_milli, self.plan.term_blocks])
        self.once("deploy-proxy", contract_meta(view, PROXY) is not None, "contract.deploy", deploy)
        nodes = registered_nodes(view, PROXY) if contract_meta(view, PROXY) is not None else {}
        if not all(o in nodes for o in self.plan.oracles):
            return
        if self.plan.key_generation == "dkg":  # the members make each key among themselves
            for g in self.plan.groups:
                opened = dkg_session(view, PROXY, g.group_id) is not None
                call = ContractCall(contract=PROXY, method="open_group",
                                    args=[g.group_id, list(g.members), self.plan.dkg_window_ms])
                self.once(f"open-{g.group_id}", opened, "contract.call", call)
            return
        for g in self.plan.groups:
            group = OracleGroup(group_id=g.group_id, members=g.members, commitments=g.commitments,
                                threshold=g.threshold)
            self.once(f"group-{g.group_id}", registered_group(view, PROXY, g.group_id) is not None,
                      "contract.call", group_call(PROXY, group))


class OracleMember(OracleRole):
    """An oracle node: registers, then runs Pedal once the chain holds the whole setup.

    ``keys`` are its BLS/VRF keys, ``shares`` its dealt group shares (group id -> share),
    ``work`` reads its source for a request (the process runs it off the event loop) and
    ``defer(f)`` calls ``f`` after the current block commit has finished.
    """

    def __init__(self, plan: NetworkPlan, node_id: str, key: PrivateKey, clock: Callable[[], float],
                 keys: OracleKeys, shares: dict[str, Share], work: Callable[[FetchJob], WorkResult],
                 defer: Callable[[Callable[[], None]], Any],
                 save_share: Callable[[str, Share], None] = lambda group_id, share: None, rng: Any = None,
                 aggregators: Mapping[str, ResultAggregator] | None = None) -> None:
        super().__init__(plan, node_id, key, clock)
        self.keys, self.shares, self.work, self.defer = keys, dict(shares), work, defer
        self.save_share, self.rng = save_share, rng
        self.aggregators = dict(aggregators or {})  # request kind -> its rule (the computing oracle's)
        self.service: OracleService | None = None

    def attach(self, node: Node, driver: Any) -> None:
        super().attach(node, driver)
        node.commit_listeners.append(self._on_commit)
        self._start_safely()

    def _on_commit(self, block: Block, receipts: list[Receipt]) -> None:
        """Runs inside the commit of each block: start Pedal when the setup completes, and spot
        accepted fulfilments of terms this node has not decided (handled after the commit)."""
        self._start_safely()
        if self.service is None:
            return
        try:
            for tx, receipt in zip(block.transactions, receipts):
                if tx.kind != "oracle.fulfill" or not receipt.ok:
                    continue
                proofs = decode(tx.payload, OracleFulfill).fulfillment.election
                terms = {p.term for p in proofs}
                if len(terms) == 1 and next(iter(terms)) not in self.service.core.masters:
                    self.defer(lambda proofs=proofs: self._learn_term(proofs))
        except Exception:  # a fault here must not reach the node's commit
            log.exception("%s: reading fulfilments of block %d failed", self.node_id, block.height)

    def _learn_term(self, proofs: list[ElectionProof]) -> None:
        """A master's accepted certificate shows a term this node missed (it was down when the term's
        proofs went round): take its VRF proofs, which verify by themselves, and decide the term now
        rather than wait for proofs nobody will send again. Everything goes through the node."""
        assert self.node is not None and self.service is not None
        term = proofs[0].term
        if term in self.service.core.masters:
            return
        for proof in proofs:
            self.driver.apply(self.node.on_message(proof.node_id, proof, self.clock()))
        if term not in self.service.core.masters:
            self.driver.apply(self.node.on_timer(f"oracle.elect:{term}", self.clock()))
        log.info("%s: learnt term %d's master from the chain: %s", self.node_id, term,
                 self.service.core.masters.get(term, ("undecided",))[0])

    def _start_safely(self) -> None:
        try:
            self._maybe_start()
        except Exception:  # runs inside a block commit: a fault here must not reach the node
            log.exception("%s: starting Pedal failed", self.node_id)

    def tick(self) -> None:
        if contract_meta(self.view, PROXY) is None:
            return
        registered = self.node_id in registered_nodes(self.view, PROXY)
        self.once("register", registered, "contract.call", registration_call(PROXY, self.keys))

    def ready(self) -> bool:
        if self.service is None:
            return False
        known = {g.group_id for g in self.service.core.groups}
        return all(g.group_id in known for g in self.plan.groups)

    def _maybe_start(self) -> None:
        """Called inside the commit of each block, so the service sees the very next request."""
        if self.plan.key_generation == "dkg":
            self._maybe_start_generating()
            return
        if self.service is not None or not self.setup_complete():
            return
        assert self.node is not None
        view = self.view
        nodes = registered_nodes(view, PROXY)
        if nodes[self.node_id] != (self.keys.bls_public, self.keys.vrf_public):
            log.error("%s: the keys registered on chain are not this node's; not serving Pedal", self.node_id)
            return
        groups, shares = [], {}
        for g in self.plan.groups:
            members, commitments, threshold = registered_group(view, PROXY, g.group_id)  # type: ignore[misc]
            groups.append(OracleGroup(group_id=g.group_id, members=members, commitments=commitments,
                                      threshold=threshold))
        for group_id, share in self.shares.items():
            group = next((g for g in groups if g.group_id == group_id), None)
            if group is None or group.members.index(self.node_id) + 1 != share.index or \
                    not verify_share(share.index, share, group.commitments):
                log.error("%s: share of group %s fails the Feldman check; not serving Pedal", self.node_id, group_id)
                return
            shares[group_id] = share
        config = PedalConfig(proxy=PROXY, seed=self.plan.election_seed, alpha_milli=self.plan.alpha_milli,
                             election_timeout_s=self.plan.election_timeout_s)
        self.signer.nonce += 1_000_000  # the core counts its own nonces from here
        core = PedalCore(self.node_id, self.key, self.node.membership, config, self.keys.vrf_secret,
                         {n: v for n, (_, v) in nodes.items()}, groups, shares, nonce=self.signer.nonce,
                         aggregators=self.aggregators)
        node = self.node
        self.service = OracleService(core, self.work, lambda: node.state.kv)
        node.add_service(self.service)
        log.info("%s: Pedal running (groups %s)", self.node_id, sorted(shares))

    def _maybe_start_generating(self) -> None:
        """With the key generation: start Pedal as soon as every node registered; each group joins
        the core when the chain registers it (our share from the generation, or from the file)."""
        if self.service is not None or self.node is None or contract_meta(self.view, PROXY) is None:
            return
        nodes = registered_nodes(self.view, PROXY)
        if not all(o in nodes for o in self.plan.oracles):
            return
        if nodes[self.node_id] != (self.keys.bls_public, self.keys.vrf_public):
            log.error("%s: the keys registered on chain are not this node's; not serving Pedal", self.node_id)
            return
        config = PedalConfig(proxy=PROXY, seed=self.plan.election_seed, alpha_milli=self.plan.alpha_milli,
                             election_timeout_s=self.plan.election_timeout_s)
        self.signer.nonce += 1_000_000  # the core counts its own nonces (deals, proofs, fulfilments) from here
        core = PedalCore(self.node_id, self.key, self.node.membership, config, self.keys.vrf_secret,
                         {n: v for n, (_, v) in nodes.items()}, [], {}, nonce=self.signer.nonce,
                         aggregators=self.aggregators)
        node = self.node
        self.service = OracleService(core, self.work, lambda: node.state.kv)
        member = DkgMember(self.node_id, self.key, node.membership, PROXY, self.rng, core.sign)
        node.add_service(self.service)
        node.add_service(KeyGenService(member, lambda: node.state.kv, self._on_group, lambda: node.store.height))
        for g in self.plan.groups:  # groups registered before this start (a restart): shares from the file
            group = oracle_group(self.view, PROXY, g.group_id)
            if group is not None:
                self._on_group(group, None)
        log.info("%s: Pedal running; key generation for groups %s", self.node_id,
                 [g.group_id for g in self.plan.groups if self.node_id in g.members])

    def _on_group(self, group: OracleGroup, share: Share | None) -> None:
        """The chain registered ``group``: keep our share (new from the generation, or the saved one)."""
        assert self.service is not None
        if share is not None:
            self.shares[group.group_id] = share
            self.save_share(group.group_id, share)
        mine = self.shares.get(group.group_id) if self.node_id in group.members else None
        if mine is not None and not verify_share(mine.index, mine, group.commitments):
            log.error("%s: our share of group %s fails the Feldman check; not signing for it", self.node_id,
                      group.group_id)
            mine = None
        self.service.core.add_group(group, mine)

    def describe(self) -> dict[str, Any]:
        if self.service is None:
            return {}
        core = self.service.core
        return {"fulfilled_as_master": list(core.fulfilled), "pending": sorted(core.requests),
                "masters": {str(term): master for term, (master, _) in sorted(core.masters.items())}}


class Requester(OracleRole):
    """The application: deploys its feed contract, files requests, records their callbacks."""

    def __init__(self, plan: NetworkPlan, node_id: str, key: PrivateKey, clock: Callable[[], float]) -> None:
        super().__init__(plan, node_id, key, clock)
        self.watch: CallbackWatch | None = None
        self.timestamps: dict[bytes, int] = {}

    def attach(self, node: Node, driver: Any) -> None:
        super().attach(node, driver)
        self.watch = CallbackWatch(self.node_id, lambda: node.state.kv)
        node.add_service(self.watch)

    def tick(self) -> None:
        deploy = ContractDeploy(name=FEED, code=FEED_CODE, version=1, args=[PROXY])
        self.once("deploy-feed", contract_meta(self.view, FEED) is not None, "contract.deploy", deploy)

    def ready(self) -> bool:
        return self.setup_complete() and contract_meta(self.view, FEED) is not None

    def file_request(self, sensor: Any, ttl_blocks: Any) -> dict[str, Any]:
        """File a data request for ``sensor`` (1..64 characters) living ``ttl_blocks`` (1..100000) blocks.

        Returns the request transaction's id (hex) and the sensor timestamp; raises
        :class:`NotReady` while the network is being set up, :class:`ConfigError` for bad input.
        """
        if self.node is None or not self.ready():
            raise NotReady("the oracle network is still being set up (see GET /v1/oracle/status)")
        if not isinstance(sensor, str) or not 0 < len(sensor) <= 64 or isinstance(ttl_blocks, bool) or \
                not isinstance(ttl_blocks, int) or not 0 < ttl_blocks <= 100_000:
            raise ConfigError(f"sensor must be a name of 1..64 characters and ttl_blocks an int in "
                              f"1..100000, got {sensor!r} and {ttl_blocks!r}")
        now = self.clock()
        timestamp_ms = int(now * 1000)
        params = encode({"unit": "milli"})
        signed = request_body(self.node.membership.chain_id, PROXY, "data", sensor, params, FEED, "deliver",
                              timestamp_ms)
        call = ContractCall(contract=PROXY, method="request", args=[
            "data", sensor, params, FEED, "deliver", timestamp_ms, ttl_blocks, self.key.sign(signed)])
        tx = self.signer.sign("contract.call", call)
        assert self.watch is not None
        self.watch.submitted_at[tx.tx_id] = now
        self.timestamps[tx.tx_id] = timestamp_ms
        self.driver.submit_local(self.node.submit(tx, now))
        return {"tx_id": tx.tx_id.hex(), "timestamp_ms": timestamp_ms}

    def requests(self) -> list[dict[str, Any]]:
        """Every request this process filed: its id on chain, the callback value and latency."""
        if self.watch is None:
            raise NotReady("node is starting")
        w, out = self.watch, []
        for tx_id, t0 in sorted(w.submitted_at.items(), key=lambda kv: kv[1]):
            rid = w.request_of.get(tx_id)
            back = w.called_back_at.get(rid) if rid is not None else None
            out.append({"tx_id": tx_id.hex(), "request_id": rid, "sensor_timestamp_ms": self.timestamps.get(tx_id),
                        "filed_at": t0, "called_back_at": back,
                        "latency_s": None if back is None else round(back - t0, 6),
                        "value_milli": contract_state(self.view, FEED, f"reading/{rid}") if rid else None,
                        "fulfilled_at_height": contract_state(self.view, PROXY, f"done/{rid}") if rid else None})
        return out
