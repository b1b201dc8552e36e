"""Distributed key generation for oracle groups, with the proxy as the broadcast channel.

Pedersen's DKG (joint Feldman) with the complaint rounds of Gennaro et al. (J. Cryptology
2007, section 3); the arithmetic is :mod:`edgeledger.crypto.dkg`. The proxy's admin opens a
group (``open_group``); nobody ever holds the group secret. Phases, each closed when every
member who should act has acted, or after ``window_ms`` of chain time
(:mod:`edgeledger.ledger.clock`):

1. **dealing** -- each member posts its Feldman commitments and its shares for the others,
   each in a sealed box to the recipient's identity key (``dkg_deal``: the ciphertexts go in
   the block, the commitments in state);
2. **verdicts** -- each dealer posts the dealers whose share to it failed the Feldman check
   or did not open (``dkg_verdict``, possibly empty: then everyone knows it checked);
3. **answers** -- an accused dealer reveals the share in clear (``dkg_answer``); the proxy
   checks it against the dealer's commitments on the spot;
4. ``dkg_finish`` -- QUAL is every dealer who dealt, drew fewer than t complaints (t revealed
   shares would reveal its secret) and answered each with a valid share. The group is QUAL:
   its key is the sum of their commitments, each member's share the sum of their shares
   (a complainer uses the revealed one). A member who sent a bad share and did not repair
   it publicly is named in the ``group`` event's ``excluded`` and signs nothing.

The trusted dealer (``register_group`` with :func:`edgeledger.oracle.enrollment.deal_groups`)
remains for tests only.
"""

from __future__ import annotations

from typing import Any

from edgeledger.crypto.dkg import combine_commitments, share_from_bytes
from edgeledger.crypto.threshold import verify_share
from edgeledger.errors import EdgeLedgerError
from edgeledger.ledger.contracts import CallContext, contract_method, contract_state
from edgeledger.oracle.enrollment import group_threshold

__all__ = ["DistributedKeyGeneration", "dkg_phase", "dkg_session", "qualified_dealers", "require_g1_points",
           "DEFAULT_DKG_WINDOW_MS"]

DEFAULT_DKG_WINDOW_MS = 5_000
FELDMAN_STEPS = 200


def _complaints(session: dict[str, Any]) -> list[tuple[str, str]]:
    """(dealer, complainer) for every complaint against a dealer who dealt."""
    return sorted((d, m) for m, ds in session["verdicts"].items() for d in ds if d in session["dealt"])


def dkg_phase(session: dict[str, Any], now_ms: int) -> str:
    """The phase ``session`` is in at chain time ``now_ms``: dealing, verdicts, answers or finish
    (the last also when it is already done or failed). Pure: the proxy and members agree."""
    if session["status"] != "open":
        return "finish"
    window, start = session["window_ms"], session["opened_ms"]

    def late(since: int) -> bool:
        return since > 0 and now_ms >= since + window

    dealt = session["dealt"]
    if len(dealt) < len(session["members"]) and not late(start):
        return "dealing"
    verdict_start = session["marks"].get("verdicts", now_ms)
    if any(m not in session["verdicts"] for m in dealt) and not late(verdict_start):
        return "verdicts"
    answer_start = session["marks"].get("answers", now_ms)
    if any(f"{d}/{m}" not in session["answers"] for d, m in _complaints(session)) and not late(answer_start):
        return "answers"
    return "finish"


def _stamp(session: dict[str, Any], now_ms: int) -> str:
    """Note when the verdict and answer phases began (the first time the chain saw them); the phase."""
    phase = dkg_phase(session, now_ms)
    marks = session["marks"]
    if phase in ("verdicts", "answers", "finish"):
        marks.setdefault("verdicts", now_ms)
    if phase in ("answers", "finish"):
        marks.setdefault("answers", now_ms)
    return phase


def require_g1_points(ctx: CallContext, commitments: list[bytes], what: str) -> None:
    """Refuse the call unless every commitment decodes and lies in G1 (charged FELDMAN_STEPS)."""
    ctx.step(FELDMAN_STEPS)
    try:
        combine_commitments([commitments])
    except EdgeLedgerError as exc:
        ctx.require(False, f"{what}: {exc}")


def qualified_dealers(session: dict[str, Any]) -> list[str]:
    """QUAL: dealers with fewer than t complaints, each answered with a valid share (member order)."""
    complaints = _complaints(session)
    out = []
    for dealer in session["members"]:
        if dealer not in session["dealt"]:
            continue
        against = [m for d, m in complaints if d == dealer]
        if len(against) < session["threshold"] and all(session["answers"].get(f"{dealer}/{m}") for m in against):
            out.append(dealer)
    return out


def dkg_session(view: Any, proxy: str, group_id: str) -> dict[str, Any] | None:
    """A group's key generation as committed state ``view`` holds it (None: never opened)."""
    return contract_state(view, proxy, f"dkg/{group_id}")


class DistributedKeyGeneration:
    """The proxy's DKG methods (a mixin of :class:`~edgeledger.oracle.proxy.OracleProxy`)."""

    def _session(self, ctx: CallContext, group_id: str, phase: str) -> dict[str, Any]:
        session = ctx.get(f"dkg/{group_id}")
        ctx.require(session is not None, f"no key generation for group {group_id!r}")
        ctx.require(ctx.sender in session["members"], f"{ctx.sender!r} is not a member of group {group_id!r}")
        current = _stamp(session, ctx.chain_time_ms())
        ctx.require(current == phase, f"group {group_id!r} is in its {current} phase, not {phase}")
        return session

    def _save(self, ctx: CallContext, group_id: str, session: dict[str, Any]) -> None:
        _stamp(session, ctx.chain_time_ms())  # an action may close its phase: the next one starts now
        ctx.put(f"dkg/{group_id}", session)

    @contract_method()
    def open_group(self, ctx: CallContext, group_id: str, members: list[str],
                   window_ms: int = DEFAULT_DKG_WINDOW_MS) -> int:
        """The admin opens a group's key generation; returns its threshold t = ceil(2n/3)."""
        ctx.require(ctx.sender == ctx.get("admin"), f"only the admin opens groups, not {ctx.sender!r}")
        ctx.require(ctx.get(f"group/{group_id}") is None and ctx.get(f"dkg/{group_id}") is None,
                    f"group {group_id!r} exists")
        nodes = ctx.get("nodes", [])
        ctx.require(isinstance(members, list) and len(members) >= 2 and len(set(members)) == len(members)
                    and all(m in nodes for m in members),
                    f"a group needs >= 2 distinct registered oracle nodes, got {members!r}")
        ctx.require(isinstance(window_ms, int) and window_ms > 0, f"window_ms must be positive, got {window_ms!r}")
        t = group_threshold(len(members))
        ctx.put(f"dkg/{group_id}", {"members": members, "threshold": t, "window_ms": window_ms,
                                   "opened_ms": ctx.chain_time_ms(), "status": "open", "dealt": {}, "verdicts": {},
                                   "answers": {}, "marks": {}})
        ctx.emit("dkg_opened", group_id=group_id, members=members, threshold=t)
        return t

    @contract_method("oracle")
    def dkg_deal(self, ctx: CallContext, group_id: str, commitments: list[bytes], shares: dict[str, bytes]) -> None:
        """Post the sender's commitments; ``shares`` (member -> sealed box) travel in the block."""
        session = self._session(ctx, group_id, "dealing")
        ctx.require(ctx.sender not in session["dealt"], f"{ctx.sender!r} already dealt for {group_id!r}")
        others = sorted(m for m in session["members"] if m != ctx.sender)
        ctx.require(isinstance(shares, dict) and sorted(shares) == others and
                    all(isinstance(v, bytes) for v in shares.values()),
                    f"shares: a dealer sends one sealed share to each other member {others} (bytes each), got "
                    f"{shares!r:.80}")
        ctx.require(isinstance(commitments, list) and len(commitments) == session["threshold"],
                    f"a dealer commits to t = {session['threshold']} coefficients, got {len(commitments)}")
        require_g1_points(ctx, commitments, "bad commitment")
        session["dealt"][ctx.sender] = commitments
        self._save(ctx, group_id, session)
        ctx.emit("dkg_dealt", group_id=group_id, dealer=ctx.sender, commitments=commitments, shares=shares)

    @contract_method("oracle")
    def dkg_verdict(self, ctx: CallContext, group_id: str, complaints: list[str]) -> None:
        """The dealers whose share to the sender failed (empty: every share checked out)."""
        session = self._session(ctx, group_id, "verdicts")
        ctx.require(ctx.sender not in session["verdicts"], f"{ctx.sender!r} already gave its verdict")
        ctx.require(isinstance(complaints, list) and all(d in session["dealt"] and d != ctx.sender for d in complaints),
                    f"complaints must name other dealers who dealt, got {complaints!r}")
        session["verdicts"][ctx.sender] = sorted(set(complaints))
        self._save(ctx, group_id, session)
        ctx.emit("dkg_verdict", group_id=group_id, member=ctx.sender, complaints=sorted(set(complaints)))

    @contract_method("oracle")
    def dkg_answer(self, ctx: CallContext, group_id: str, complainer: str, share: bytes) -> bool:
        """An accused dealer reveals its share to ``complainer``; returns whether it checks out."""
        session = self._session(ctx, group_id, "answers")
        key = f"{ctx.sender}/{complainer}"
        ctx.require((ctx.sender, complainer) in _complaints(session), f"{complainer!r} made no complaint against "
                                                                        f"{ctx.sender!r}")
        ctx.require(key not in session["answers"], f"{ctx.sender!r} already answered {complainer!r}")
        ctx.step(FELDMAN_STEPS)
        revealed = share_from_bytes(session["members"].index(complainer) + 1, share)
        valid = revealed is not None and verify_share(revealed.index, revealed, session["dealt"][ctx.sender])
        session["answers"][key] = valid
        self._save(ctx, group_id, session)
        ctx.emit("dkg_answered", group_id=group_id, dealer=ctx.sender, complainer=complainer, share=share, valid=valid)
        return valid

    @contract_method("oracle")
    def dkg_finish(self, ctx: CallContext, group_id: str) -> bytes:
        """Close the key generation: the group is QUAL, its key the sum of their commitments."""
        session = self._session(ctx, group_id, "finish")
        ctx.require(session["status"] == "open", f"group {group_id!r} is already {session['status']}")
        qual = qualified_dealers(session)
        excluded = [m for m in session["members"] if m not in qual]
        t = session["threshold"]
        if len(qual) < t:
            session["status"] = "failed"
            ctx.put(f"dkg/{group_id}", session)
            ctx.emit("dkg_failed", group_id=group_id, qualified=qual, excluded=excluded)
            return b""
        ctx.step(FELDMAN_STEPS * len(qual))
        commitments = combine_commitments([session["dealt"][d] for d in qual])
        indices = [session["members"].index(m) + 1 for m in qual]
        session["status"] = "done"
        ctx.put(f"dkg/{group_id}", session)
        ctx.put(f"group/{group_id}", [qual, commitments, t, indices])
        key = commitments[0]
        ctx.emit("group", group_id=group_id, key=key, members=qual, excluded=excluded)
        return key
