"""Read-only tables of the market's chain state, shared by the CLI and the /observe/market page.

Every function takes a :class:`LedgerState` and returns plain rows (lists of dicts), sorted
deterministically. Contract instances are found by their code, so any instance names work.
"""

from __future__ import annotations

from typing import Any

from edgeledger.ledger.contracts import contract_meta, contract_state
from edgeledger.ledger.state import LedgerState
from edgeledger.market.matching import audit_matches, favoured_companies

__all__ = ["contracts", "instance_of", "edge_nodes", "matches", "channels", "balances", "audit", "market_snapshot"]


def contracts(state: LedgerState) -> list[dict[str, Any]]:
    """Every deployed contract instance: name, code, version, owner, deployment height."""
    out = []
    for key in sorted(k for k in state.kv if k.startswith("contract/")):
        meta = contract_meta(state.kv, key.removeprefix("contract/"))
        if meta is not None:
            out.append({"name": meta.name, "code": meta.code, "version": meta.version, "owner": meta.owner,
                        "height": meta.deployed_height})
    return out


def instance_of(state: LedgerState, code: str) -> str | None:
    """The first deployed instance running ``code`` (e.g. ``edgetoll.matching``)."""
    return next((c["name"] for c in contracts(state) if c["code"] == code), None)


def edge_nodes(state: LedgerState) -> list[dict[str, Any]]:
    name = instance_of(state, "edgetoll.matching")
    if name is None:
        return []
    return [contract_state(state.kv, name, f"node/{i}") for i in contract_state(state.kv, name, "nodes", [])]


def matches(state: LedgerState) -> list[dict[str, Any]]:
    name = instance_of(state, "edgetoll.matching")
    if name is None:
        return []
    count = contract_state(state.kv, name, "match_count", 0)
    return [contract_state(state.kv, name, f"match/{i}") for i in range(count)]


def channels(state: LedgerState) -> list[dict[str, Any]]:
    name = instance_of(state, "edgetoll.payments")
    if name is None:
        return []
    count = contract_state(state.kv, name, "channel_count", 0)
    return [contract_state(state.kv, name, f"chan/{i}") for i in range(count)]


def balances(state: LedgerState) -> list[dict[str, Any]]:
    """Token balance of every identity holding one, plus the channel escrow (``@escrow``)."""
    name = instance_of(state, "edgetoll.payments")
    if name is None:
        return []
    accounts = sorted(state.membership.identities) + ["@escrow"]
    rows = [{"account": a, "role": state.membership.role(a) or "escrow",
             "balance": contract_state(state.kv, name, f"bal/{a}", 0)} for a in accounts]
    return [r for r in rows if r["balance"]]


def audit(state: LedgerState) -> dict[str, Any]:
    """Matches that broke the nearest-node rule, and which companies they favoured."""
    name = instance_of(state, "edgetoll.matching")
    findings = audit_matches(state, name) if name else []
    return {"matches": len(matches(state)), "findings": [f.to_dict() if hasattr(f, "to_dict") else
                                                         {k: getattr(f, k) for k in f.__struct_fields__}
                                                         for f in findings],
            "favoured": favoured_companies(findings)}


def market_snapshot(state: LedgerState) -> dict[str, Any]:
    """Everything the dashboard shows, in one dict."""
    supply_name = instance_of(state, "edgetoll.payments")
    return {"height": state.height, "contracts": contracts(state), "edge_nodes": edge_nodes(state),
            "matches": matches(state), "channels": channels(state), "balances": balances(state),
            "supply": contract_state(state.kv, supply_name, "supply", 0) if supply_name else 0,
            "audit": audit(state)}
