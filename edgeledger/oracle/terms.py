"""The proxy's record of election terms: chained seeds and the fallback board (Pedal, Alg. 1).

Seeds: the first request of term T fixes ``seed_T = next_seed(seed_P, beta_P, T)``, P the last
seeded term and beta_P the VRF output of P's first accepted master (nothing when none was).
Later requests of T read the same seed, and a master accepted for P afterwards does not
change it: one term, one seed, decided by the chain.

Fallback board: when no node qualifies, each node posts its term proof with
``election_proof``; the proxy verifies it and keeps its output. The board closes when every
registered node has posted, or when ``fallback_ms`` of chain time
(:mod:`edgeledger.ledger.clock`) has passed since the first post (on a chain without a clock,
only the first). Then, with at least ceil(2n/3) proofs and none qualifying, the master is
the smallest output of all posted (:func:`fallback_decision`); proofs after the close are
refused. The master presents no proofs: the proxy and the members read this board.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from edgeledger.ledger.contracts import CallContext, contract_method, contract_state
from edgeledger.ledger.clock import chain_time_ms
from edgeledger.oracle.election import (
    election_threshold, fallback_master, fallback_quorum, next_seed, qualifies, verified_output,
)
from edgeledger.oracle.records import ElectionProof

__all__ = ["ElectionBoard", "fallback_decision", "fallback_view", "term_seed", "DEFAULT_FALLBACK_MS"]

DEFAULT_FALLBACK_MS = 2_000
VRF_STEPS = 50


def fallback_decision(outputs: Mapping[str, bytes], first_ms: int, n_registered: int, threshold: int, now_ms: int,
                      window_ms: int) -> tuple[str | None, str]:
    """``(master, "")`` once the board decides, else ``(None, why)`` (still open, too few, or a
    node qualified and is the master by its own proof)."""
    closed = len(outputs) >= n_registered or (first_ms > 0 and now_ms >= first_ms + window_ms)
    if not closed:
        return None, (f"the fallback board is open: {len(outputs)} of {n_registered} proofs, window ends at "
                      f"{first_ms + window_ms if first_ms else '(no chain time)'} ms, chain time {now_ms} ms")
    need = fallback_quorum(n_registered)
    if len(outputs) < need:
        return None, f"the fallback board closed with {len(outputs)} proofs, fewer than ceil(2n/3) = {need}"
    if any(qualifies(beta, threshold) for beta in outputs.values()):
        return None, "a posted proof qualifies: that node is the master by its own proof"
    return fallback_master(outputs), ""


def _board(raw: Any) -> tuple[dict[str, bytes], int]:
    return (dict(raw["outputs"]), int(raw["first_ms"])) if raw is not None else ({}, 0)


def term_seed(view: Any, proxy: str, term: int) -> bytes | None:
    """The seed the proxy fixed for ``term`` (None: no request was filed in it)."""
    return contract_state(view, proxy, f"seed/{term}")


def fallback_view(view: Any, proxy: str, term: int) -> tuple[str | None, str, dict[str, bytes]]:
    """Off chain, what the board of ``term`` says in committed state ``view``: (master, why, outputs)."""
    outputs, first_ms = _board(contract_state(view, proxy, f"fb/{term}"))
    n = len(contract_state(view, proxy, "nodes", []))
    threshold = election_threshold(contract_state(view, proxy, "alpha_milli", 1000), max(n, 1))
    master, why = fallback_decision(outputs, first_ms, n, threshold, chain_time_ms(view),
                                    contract_state(view, proxy, "fallback_ms", DEFAULT_FALLBACK_MS))
    return master, why, outputs


class ElectionBoard:
    """The proxy's term methods (a mixin of :class:`~edgeledger.oracle.proxy.OracleProxy`)."""

    def seed_for(self, ctx: CallContext, term: int) -> bytes:
        """Term ``term``'s seed, fixed now if this is its first request."""
        seed = ctx.get(f"seed/{term}")
        if seed is not None:
            return seed
        last_term, last_seed = ctx.get("seed_last", [-1, ctx.get("seed")])
        seed = next_seed(last_seed, ctx.get(f"output/{last_term}", b""), term)
        ctx.put(f"seed/{term}", seed)
        ctx.put("seed_last", [term, seed])
        ctx.emit("term_seed", term=term, seed=seed)
        return seed

    def record_output(self, ctx: CallContext, term: int, beta: bytes) -> None:
        """The first accepted master's VRF output of ``term``: the next seed is chained from it."""
        if ctx.get(f"output/{term}") is None:
            ctx.put(f"output/{term}", beta)

    def decide_fallback(self, ctx: CallContext, term: int) -> tuple[str | None, str, dict[str, bytes]]:
        outputs, first_ms = _board(ctx.get(f"fb/{term}"))
        n = len(ctx.get("nodes", []))
        threshold = election_threshold(ctx.get("alpha_milli"), max(n, 1))
        master, why = fallback_decision(outputs, first_ms, n, threshold, ctx.chain_time_ms(),
                                        ctx.get("fallback_ms", DEFAULT_FALLBACK_MS))
        return master, why, outputs

    @contract_method("oracle")
    def election_proof(self, ctx: CallContext, term: int, proof: bytes) -> int:
        """Post the sender's VRF proof of ``term`` on the fallback board; returns the proofs posted."""
        seed = ctx.get(f"seed/{term}")
        ctx.require(seed is not None, f"term {term!r} has no seed: no request was filed in it")
        entry = ctx.get(f"node/{ctx.sender}")
        ctx.require(entry is not None, f"{ctx.sender!r} is not a registered oracle node")
        outputs, first_ms = _board(ctx.get(f"fb/{term}"))
        ctx.require(ctx.sender not in outputs, f"{ctx.sender!r} already posted its proof of term {term}")
        master, why, _ = self.decide_fallback(ctx, term)
        ctx.require(master is None and "open" in why, f"the fallback board of term {term} is closed")
        ctx.step(VRF_STEPS)
        beta = verified_output(ElectionProof(term=term, node_id=ctx.sender, proof=proof), entry[1], seed)
        ctx.require(beta is not None, f"VRF proof of {ctx.sender!r} for term {term} does not verify")
        outputs[ctx.sender] = beta  # type: ignore[assignment]
        ctx.put(f"fb/{term}", {"outputs": dict(sorted(outputs.items())), "first_ms": first_ms or ctx.chain_time_ms()})
        ctx.emit("election_proof", term=term, node=ctx.sender, posted=len(outputs))
        return len(outputs)
