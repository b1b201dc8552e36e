"""What the members of a deployed plant do besides being chain nodes (on top of the oracle roles).

* :class:`TwinOperator` -- the first validator: the oracle proxy and groups (as
  :class:`~edgeledger.oracle.roles.Operator`), the twin registry bound to the maintenance task, and
  the maintenance rounds: it files round ``r + 1`` to the computing oracle once round ``r``'s model
  is on chain (again only if a round stays unanswered for ``round_timeout_s``);
* :class:`TwinEdge` -- an edge: a Pedal oracle member (reading attestation and maintenance
  training, :class:`~edgeledger.oracle.roles.OracleMember` with the maintenance aggregation) and
  the edge's gateway (:class:`~edgeledger.twins.gateway.TwinGatewayService` under its own identity).

Like the oracle roles they read no clock and open no socket: the process gives them both.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from edgeledger.crypto.keys import PrivateKey
from edgeledger.effects import Effect
from edgeledger.ledger.contracts import (
    ContractCall,
    ContractDeploy,
    contract_meta,
    contract_state,
)
from edgeledger.node.node import Node
from edgeledger.oracle.computing import FLTask, round_params
from edgeledger.oracle.proxy import request_body
from edgeledger.oracle.roles import NetworkPlan, Operator, OracleMember
from edgeledger.oracle.simnet import PROXY
from edgeledger.twins.gateway import GatewayCore, TwinGatewayService
from edgeledger.twins.maintenance import task_digest
from edgeledger.twins.records import (
    MAINTENANCE_KIND,
    REGISTRY,
    REGISTRY_CODE,
    ActuatorCommand,
    SensorBatch,
)

__all__ = ["TwinEdge", "TwinOperator"]

log = logging.getLogger("edgeledger.twins")


class TwinOperator(Operator):
    """The proxy's admin, the registry's admin and the maintenance task's requester."""

    def __init__(self, plan: NetworkPlan, node_id: str, key: PrivateKey, clock: Callable[[], float], task: FLTask,
                 risk_threshold_milli: int, max_attempts: int, round_timeout_s: float = 120.0) -> None:
        super().__init__(plan, node_id, key, clock)
        self.task, self.risk_threshold_milli, self.max_attempts = task, risk_threshold_milli, max_attempts
        self.round_timeout_s = round_timeout_s
        self.filed: dict[int, float] = {}  # round -> when its request was (last) filed

    def tick(self) -> None:
        super().tick()
        view = self.view
        deploy = ContractDeploy(name=REGISTRY, code=REGISTRY_CODE, version=1, args=[
            PROXY, self.risk_threshold_milli, self.max_attempts, task_digest(self.task)])
        self.once("deploy-registry", contract_meta(view, REGISTRY) is not None, "contract.deploy", deploy)
        if contract_meta(view, REGISTRY) is None or not self.setup_complete():
            return
        model = contract_state(view, REGISTRY, "model")
        done = model[1] if model else 0
        if done >= self.task.rounds:
            return
        now, round_ = self.clock(), done + 1
        if round_ in self.filed and 0.0 <= now - self.filed[round_] < self.round_timeout_s:
            return
        self.filed[round_] = now
        params = round_params(self.task, round_, model[0] if model else b"")
        timestamp_ms = int(now * 1000)
        body = request_body(self.node.membership.chain_id, PROXY, MAINTENANCE_KIND, "maintenance", params, REGISTRY,
                            "set_model", timestamp_ms)
        log.info("%s: filing maintenance round %d", self.node_id, round_)
        self.submit("contract.call", ContractCall(contract=PROXY, method="request", args=[
            MAINTENANCE_KIND, "maintenance", params, REGISTRY, "set_model", timestamp_ms, 400, self.key.sign(body)]))

    def ready(self) -> bool:
        return self.setup_complete() and self.node is not None and contract_meta(self.view, REGISTRY) is not None

    def describe(self) -> dict[str, Any]:
        model = contract_state(self.view, REGISTRY, "model") if self.node is not None else None
        return {"model_round": model[1] if model else 0, "rounds": self.task.rounds}


class TwinEdge(OracleMember):
    """An edge: oracle member and gateway. ``put`` stores a batch in the storage layer (returns its
    digest); ``transport`` carries a command to a device process and brings its answer back."""

    def __init__(self, *args: Any, gateway: GatewayCore, put: Callable[[bytes], bytes],
                 transport: Callable[[str, ActuatorCommand], Effect] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gateway, self.put, self.transport = gateway, put, transport
        self.gateway_service: TwinGatewayService | None = None

    def attach(self, node: Node, driver: Any) -> None:
        super().attach(node, driver)
        self.gateway_service = TwinGatewayService(self.gateway, lambda: node.state.kv, self.put, self.transport)
        node.add_service(self.gateway_service)

    def registered(self, twin_id: str) -> bool:
        return self.node is not None and contract_state(self.view, REGISTRY, f"twin/{twin_id}") is not None

    def file_batch(self, batch: SensorBatch, digest: bytes, size: int) -> None:
        """A batch the process stored under ``digest``: file its reading request through the node."""
        assert self.node is not None and self.gateway_service is not None
        for effect in self.gateway.file_reading(batch.twin_id, batch.seq, digest, size,
                                                self.gateway_service.model_digest(), self.clock()):
            self.driver.submit_local(self.node.submit(effect.tx, self.clock()))

    def ready(self) -> bool:
        return super().ready() and contract_meta(self.view, REGISTRY) is not None

    def describe(self) -> dict[str, Any]:
        rtts = self.gateway.rtts
        return {**super().describe(), "gateway": self.gateway.gateway_id, "commands_delivered": len(rtts),
                "readings_filed": len(self.gateway.filed)}
