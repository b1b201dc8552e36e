"""What an observation node answers: the oracle's and the cross-chain gateway's state, as JSON rows.

SewingChain gives observation nodes the queries: they follow the chains (checking every
block's certificate) without a vote or a role, and users -- an application, an auditor, the
control layer's twins -- ask them rather than the sealers. Each function reads committed
state only (a :class:`LedgerState`) and returns builtins (bytes as hex), so the HTTP layer
only serialises; nothing here trusts a peer. ``None`` means "not on this chain".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from edgeledger.codec import decode
from edgeledger.ledger.clock import chain_time_ms
from edgeledger.ledger.contracts import contract_state, events_since
from edgeledger.ledger.state import LedgerState
from edgeledger.oracle.crosschain import EXPIRED, GATEWAY, CrossChainMessage
from edgeledger.oracle.dkg import dkg_session, qualified_dealers
from edgeledger.oracle.proxy import oracle_group, pending_request
from edgeledger.oracle.records import OracleRequest
from edgeledger.oracle.terms import fallback_view, term_seed

__all__ = ["oracle_overview", "request_status", "request_list", "term_status", "group_status", "message_trace"]


def _hex(value: Any) -> Any:
    return value.hex() if isinstance(value, bytes) else value


def oracle_overview(state: LedgerState, proxy: str) -> dict[str, Any] | None:
    """The proxy's registry, groups and settings, and the chain's height and time."""
    kv = state.kv
    if contract_state(kv, proxy, "seed") is None:
        return None
    nodes = contract_state(kv, proxy, "nodes", [])
    groups = sorted({e.attributes["group_id"] for _, e in events_since(state, 0, proxy, "dkg_opened")} |
                    {e.attributes["group_id"] for _, e in events_since(state, 0, proxy, "group")})
    return {"proxy": proxy, "height": state.height, "chain_time_ms": chain_time_ms(kv), "oracle_nodes": nodes,
            "groups": [group_status(state, proxy, g) for g in groups],
            "term_blocks": contract_state(kv, proxy, "term_blocks"), "alpha_milli": contract_state(kv, proxy, "alpha_milli"),
            "work_nodes": contract_state(kv, proxy, "work_nodes", 0), "min_stake": contract_state(kv, proxy, "min_stake", 0),
            "requests_filed": contract_state(kv, proxy, "seq", 0)}


def group_status(state: LedgerState, proxy: str, group_id: str) -> dict[str, Any] | None:
    """A group: its members and key once registered, and how its key generation went."""
    group = oracle_group(state.kv, proxy, group_id)
    session = dkg_session(state.kv, proxy, group_id)
    if group is None and session is None:
        return None
    out: dict[str, Any] = {"group_id": group_id, "registered": group is not None}
    if group is not None:
        out.update(members=group.members, threshold=group.threshold, key=group.commitments[0].hex(),
                   indices=group.indices or list(range(1, len(group.members) + 1)))
    if session is not None:
        out["key_generation"] = {
            "status": session["status"], "opened_with": session["members"], "dealt": sorted(session["dealt"]),
            "complaints": {m: d for m, d in sorted(session["verdicts"].items()) if d},
            "answers": dict(sorted(session["answers"].items())),
            "qualified": qualified_dealers(session),
            "excluded": [m for m in session["members"] if m not in qualified_dealers(session)]
            if session["status"] != "open" else []}
    else:
        out["key_generation"] = {"status": "dealt by a trusted dealer (tests only)"}
    return out


def request_status(state: LedgerState, proxy: str, request_id: str) -> dict[str, Any] | None:
    """One request: what was asked (parameters hidden when sealed), and how it ended or stands."""
    encoded = next((e.attributes["request"] for _, e in events_since(state, 0, proxy, "requested")
                    if _request_id(e) == request_id), None)
    if encoded is None:
        return None
    req = decode(encoded, OracleRequest)
    out: dict[str, Any] = {"request_id": request_id, "kind": req.kind, "source": req.source,
                           "requester": req.requester, "term": req.term, "seed": req.seed.hex(),
                           "filed_at_height": req.height, "expires_at_height": req.expires_at_height,
                           "sealed": req.sealed, "stake": req.stake,
                           "params": None if req.sealed else req.params.hex()}
    if pending_request(state.kv, proxy, request_id) is not None:
        out["status"] = "pending" if state.height <= req.expires_at_height else "expired (awaiting expire)"
        return out
    done = {e.name: (h, e.attributes) for h, e in events_since(state, 0, proxy)
            if e.name in ("fulfilled", "expired") and e.attributes.get("request_id") == request_id}
    if "fulfilled" in done:
        height, a = done["fulfilled"]
        out.update(status="junk: stake forfeited" if a.get("junk") else "fulfilled", height=height, master=a["master"],
                   group=a["group"], workers=a.get("workers", []), result=_hex(a["result"]))
    elif "expired" in done:
        out.update(status="expired: stake returned", height=done["expired"][0])
    return out


def request_list(state: LedgerState, proxy: str, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """The latest ``limit`` requests (newest first), optionally those whose status starts with ``status``."""
    ids = [_request_id(e) for _, e in events_since(state, 0, proxy, "requested")]
    rows = []
    for request_id in reversed(ids):
        row = request_status(state, proxy, request_id)
        if row is not None and (status is None or row["status"].startswith(status)):
            rows.append(row)
        if len(rows) >= limit:
            break
    return rows


def term_status(state: LedgerState, proxy: str, term: int) -> dict[str, Any] | None:
    """A term's chained seed, its first accepted master's VRF output, and its fallback board."""
    seed = term_seed(state.kv, proxy, term)
    if seed is None:
        return None
    master, why, posted = fallback_view(state.kv, proxy, term)
    output = contract_state(state.kv, proxy, f"output/{term}")
    return {"term": term, "seed": seed.hex(), "master_output": _hex(output),
            "fallback": {"posted": sorted(posted), "master": master, "state": why or "decided"}}


def message_trace(states: Mapping[str, LedgerState], msg_id: str) -> dict[str, Any] | None:
    """A cross-chain message across the chains an observation node follows (``states``: chain id ->
    state): sent on the source, filed on the federal chain, delivered or expired on the
    destination, acknowledged back on the source."""
    source = msg_id.rsplit(":", 1)[0]
    if source not in states or contract_state(states[source].kv, GATEWAY, f"out/{msg_id}") is None:
        return None
    msg = decode(contract_state(states[source].kv, GATEWAY, f"out/{msg_id}"), CrossChainMessage)
    out: dict[str, Any] = {"msg_id": msg_id, "source": source, "destination": msg.dest_chain,
                           "call": f"{msg.dest_contract}.{msg.dest_method}", "sender": msg.sender,
                           "timeout_height": msg.timeout_height, "timeout_ms": msg.timeout_ms}
    dest = states.get(msg.dest_chain)
    if dest is None:
        out["delivery"] = "destination not followed here"
    else:
        landed = contract_state(dest.kv, GATEWAY, f"in/{msg_id}")
        out["delivery"] = "pending" if landed is None else ("expired" if landed < 0 else "delivered")
        out["delivered_at_height"] = None if landed is None else abs(landed)
    ack = contract_state(states[source].kv, GATEWAY, f"ack/{msg_id}")
    out["acknowledged"] = ack is not None
    out["result"] = None if ack is None else ("expired" if ack == EXPIRED else ack.hex())
    return out


def _request_id(event: Any) -> str:
    return decode(event.attributes["request"], Any)[0]
