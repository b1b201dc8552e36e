"""What the twin platform shows, read from a node's committed state (SewingChain's observation nodes).

:func:`plant_snapshot` is the plant as the engineer sees it: machines per edge with their latest
attested readings, freshness, risk (and the model digest it was computed under), open commands with
their acknowledgements, and maintenance orders. Every value carries the id of the transaction
that put it on chain, so the page can link it to its inclusion proof (:func:`transaction_proof`:
the block, its commit certificate, the Merkle path to the header's root, each checked here).
Values are JSON-ready (bytes as hex).
"""

from __future__ import annotations

from typing import Any

from edgeledger.codec import decode, encode
from edgeledger.crypto.merkle import verify_merkle_proof
from edgeledger.errors import ChainValidationError
from edgeledger.ledger.contracts import ContractCall, call_log, contract_state
from edgeledger.ledger.identity import Membership
from edgeledger.ledger.store import ChainStore
from edgeledger.ledger.validation import CERTIFICATE_FINALITY
from edgeledger.node.light import prove_inclusion
from edgeledger.twins.records import REGISTRY

__all__ = ["command_list", "order_list", "plant_snapshot", "transaction_proof", "twin_detail"]

RECENT = 40


def _hex(value: Any) -> Any:
    return value.hex() if isinstance(value, (bytes, bytearray)) else value


def _twin_summary(view: Any, twin: dict[str, Any], now_ms: int) -> dict[str, Any]:
    tid = twin["id"]
    state = contract_state(view, REGISTRY, f"state/{tid}")
    stats = contract_state(view, REGISTRY, f"stats/{tid}", [0, 0, 0])
    reading = None
    if state is not None:
        reading = {"seq": state["seq"], "time_ms": state["time_ms"], "hours": state["hours"], "status": state["status"],
                   "age_s": round(max(now_ms - state["time_ms"], 0) / 1000, 3), "digest": _hex(state["digest"]),
                   "height": state["height"], "tx": _hex(state["tx"]),
                   "values": [{"field": f, "unit": u, "value": v / 1000}
                              for (f, u), v in zip(twin["sensors"], state["values"])]}
    order_id = contract_state(view, REGISTRY, f"open_order/{tid}")
    return {"id": tid, "kind": twin["kind"], "owner": twin["owner"], "edge": twin["edge"], "gateway": twin["gateway"],
            "status": twin["status"], "version": twin["version"], "added_tx": _hex(twin["tx"]),
            "reading": reading, "risk_milli": state["risk_milli"] if state else -1,
            "risk_model": _hex(state["model"]) if state else "", "risk_tx": _hex(state["tx"]) if state else "",
            "attested": stats[0], "refused": stats[1], "failures": stats[2], "open_order": order_id,
            "sensors": twin["sensors"], "commands": twin["commands"],
            "grants": contract_state(view, REGISTRY, f"grants/{tid}", [])}


def _command(cmd: dict[str, Any]) -> dict[str, Any]:
    return {**{k: _hex(v) for k, v in cmd.items() if k != "attempts"},
            "attempts": [{"attempt": a[0], "outcome": a[1], "rtt_ms": round(a[2] / 1000, 3), "status": a[3],
                          "height": a[4], "tx": _hex(a[5])} for a in cmd["attempts"]]}


def command_list(view: Any, twin_id: str | None = None, limit: int = RECENT) -> list[dict[str, Any]]:
    """The newest ``limit`` commands (of one twin, or all), newest first."""
    out = []
    for i in range(contract_state(view, REGISTRY, "cmd_seq", 0), 0, -1):
        cmd = contract_state(view, REGISTRY, f"cmd/{i}")
        if cmd is not None and (twin_id is None or cmd["twin"] == twin_id):
            out.append(_command(cmd))
            if len(out) >= limit:
                break
    return out


def order_list(view: Any, twin_id: str | None = None, limit: int = RECENT) -> list[dict[str, Any]]:
    """The newest ``limit`` maintenance orders, newest first."""
    out = []
    for i in range(contract_state(view, REGISTRY, "order_seq", 0), 0, -1):
        order = contract_state(view, REGISTRY, f"order/{i}")
        if order is not None and (twin_id is None or order["twin"] == twin_id):
            out.append({k: _hex(v) for k, v in order.items()})
            if len(out) >= limit:
                break
    return out


def plant_snapshot(view: Any, height: int, now_ms: int) -> dict[str, Any]:
    """The whole plant: edges with their twins, the model, commands and orders (newest first)."""
    twins = [contract_state(view, REGISTRY, f"twin/{t}") for t in contract_state(view, REGISTRY, "ids", [])]
    summaries = [_twin_summary(view, t, now_ms) for t in twins if t is not None]
    edges: dict[str, dict[str, Any]] = {}
    for s in summaries:
        edges.setdefault(s["edge"], {"edge": s["edge"], "gateway": s["gateway"], "twins": []})["twins"].append(s)
    model = contract_state(view, REGISTRY, "model")
    return {"ready": contract_state(view, REGISTRY, "proxy") is not None, "height": height, "now_ms": now_ms,
            "risk_threshold_milli": contract_state(view, REGISTRY, "risk_threshold_milli"),
            "max_attempts": contract_state(view, REGISTRY, "max_attempts"),
            "model": None if model is None else {"digest": _hex(model[0]), "round": model[1], "height": model[2],
                                                 "tx": _hex(model[3])},
            "edges": [edges[e] for e in sorted(edges)], "commands": command_list(view), "orders": order_list(view)}


def twin_detail(view: Any, twin_id: str, height: int, now_ms: int, history: int = RECENT) -> dict[str, Any] | None:
    """One twin in full: its summary, the newest attested readings (digest and proof), refused ones,
    its commands and orders. None for an unknown twin."""
    twin = contract_state(view, REGISTRY, f"twin/{twin_id}")
    if twin is None:
        return None
    summary = _twin_summary(view, twin, now_ms)
    last = summary["reading"]["seq"] if summary["reading"] else 0
    readings = []
    for seq in range(last, 0, -1):
        entry = contract_state(view, REGISTRY, f"reading/{twin_id}/{seq}")
        if entry is not None:
            readings.append({"seq": seq, "digest": _hex(entry[0]), "time_ms": entry[1], "height": entry[2],
                             "tx": _hex(entry[3]), "request": entry[4]})
            if len(readings) >= history:
                break
    refused = []
    for seq in reversed(contract_state(view, REGISTRY, f"last_refused/{twin_id}", [])):
        entry = contract_state(view, REGISTRY, f"refused/{twin_id}/{seq}")
        refused.append({"seq": seq, "digest": _hex(entry[0]), "verdict": entry[1], "height": entry[2],
                        "tx": _hex(entry[3])})
    return {**summary, "height": height, "readings": readings, "refused_readings": refused,
            "commands_log": command_list(view, twin_id), "orders": order_list(view, twin_id)}


def _decoded(payload: bytes, kind: str) -> Any:
    if kind == "contract.call":
        call = decode(payload, ContractCall)
        return {"contract": call.contract, "method": call.method,
                "args": [_hex(a) if not isinstance(a, (list, dict)) else "…" for a in call.args]}
    return {"bytes": len(payload)}


def transaction_proof(store: ChainStore, view: Any, membership: Membership, tx_id: bytes) -> dict[str, Any] | None:
    """Where ``tx_id`` sits on chain and why that is believable: its block's hash and commit certificate
    (checked against the validators), its Merkle inclusion proof (checked against the header's root),
    its receipt and, for a contract transaction, its call log's events. None when not committed."""
    found = prove_inclusion(store, tx_id)
    if found is None:
        return None
    block, proof, tx = store.block(found.height), found.proof, found.tx
    assert block is not None
    try:
        CERTIFICATE_FINALITY.verify(block, None, membership)
        certificate_ok, certificate_error = True, ""
    except ChainValidationError as exc:
        certificate_ok, certificate_error = False, str(exc)
    receipt = store.receipts(block)[proof.index]
    log = call_log(view, tx_id)
    cert = block.certificate
    return {"tx": tx_id.hex(), "height": found.height, "position": proof.index, "block_hash": block.hash.hex(),
            "merkle_root": block.header.tx_root.hex(), "proof_index": proof.index, "proof_size": proof.size,
            "proof_path": [p.hex() for p in proof.path],
            "inclusion_verified": verify_merkle_proof(encode(tx), proof, block.header.tx_root),
            "certificate_signers": [v.replica for v in cert.votes] if cert is not None else [],
            "certificate_verified": certificate_ok, "certificate_error": certificate_error,
            "sender": tx.sender, "kind": tx.kind, "payload": _decoded(tx.payload, tx.kind),
            "receipt": {"ok": receipt.ok, "reason": receipt.reason} if receipt is not None else None,
            "events": [{"name": e.name, "attributes": {k: _hex(v) for k, v in e.attributes.items()}}
                       for e in log.events] if log is not None else []}

