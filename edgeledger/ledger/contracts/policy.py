"""Endorsement policies in Hyperledger Fabric's signature-policy language.

Androulaki et al., "Hyperledger Fabric: A Distributed Operating System for Permissioned
Blockchains", EuroSys 2018, section 3.2: a contract's endorsement policy says whose
signatures a transaction's read/write set needs before committers accept it. The syntax is
Fabric's (``peer chaincode ... -P``)::

    OutOf(2, 'company.member', 'company.member', 'company.member')   # 2 of the companies
    AND('c0', OR('edge.member', 'cloud.member'))
    OR('proxy', 'company.member')

A principal is ``'<role>.member'`` -- any identity whose current role (genesis, or a committed
membership change) is ``<role>``, as Fabric's ``'Org1.member'`` is any member of Org1 -- or a
plain ``'<identity>'``, that one identity. ``AND(a, b, ..)`` is ``OutOf(k, ..)`` with k the
number of terms, ``OR`` is ``OutOf(1, ..)``; a policy compiles to nested
:class:`NOutOf`/:class:`SignedBy` (Fabric's ``SignaturePolicy``).

As in Fabric, one signer satisfies at most one principal, so ``OutOf(2, 'company.member',
'company.member')`` needs two different companies. Fabric's evaluator assigns signers
greedily and can miss an assignment that exists; :func:`satisfied` searches them all.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache

from edgeledger.errors import ConfigError

__all__ = ["SignedBy", "NOutOf", "Policy", "parse_policy", "satisfied", "principals", "MAX_PRINCIPALS"]

#: the largest policy accepted (principals in all); keeps the assignment search small
MAX_PRINCIPALS = 32
_TOKEN = re.compile(r"\s*(?:(?P<name>AND|OR|OutOf)\s*\(|(?P<quoted>'[^']*'|\"[^\"]*\")|(?P<int>\d+)|(?P<punct>[,)]))")


@dataclass(frozen=True)
class SignedBy:
    """A signature of one principal: ``role`` set for ``'<role>.member'``, else ``identity``."""

    identity: str = ""
    role: str = ""

    def matches(self, signer: str, role_of: Callable[[str], str | None]) -> bool:
        return signer == self.identity if self.identity else role_of(signer) == self.role

    def __str__(self) -> str:
        return f"'{self.role}.member'" if self.role else f"'{self.identity}'"


@dataclass(frozen=True)
class NOutOf:
    """At least ``n`` of ``rules``, each satisfied by its own signers."""

    n: int
    rules: tuple[Policy, ...]

    def __str__(self) -> str:
        if self.n == len(self.rules):
            return f"AND({', '.join(map(str, self.rules))})"
        if self.n == 1:
            return f"OR({', '.join(map(str, self.rules))})"
        return f"OutOf({self.n}, {', '.join(map(str, self.rules))})"


Policy = SignedBy | NOutOf


def _principal(text: str) -> SignedBy:
    name = text[1:-1].strip()
    if not name:
        raise ConfigError("endorsement policy: an empty principal ''; expected '<role>.member' or '<identity>'")
    if name.endswith(".member"):
        return SignedBy(role=name.removesuffix(".member"))
    return SignedBy(identity=name)


@lru_cache(maxsize=256)
def parse_policy(text: str) -> Policy:
    """Compile Fabric policy syntax into a :data:`Policy`; a mistake is one :class:`ConfigError` line."""
    tokens: list[tuple[str, str, int]] = []
    pos = 0
    while pos < len(text.rstrip()):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ConfigError(f"endorsement policy {text!r}: cannot read {text[pos:pos + 12]!r} at character {pos}; "
                              "expected AND(..), OR(..), OutOf(n, ..) or a quoted principal like 'company.member'")
        kind = m.lastgroup or ""
        tokens.append((kind, m.group(kind), pos))
        pos = m.end()
    rule, at = _parse(text, tokens, 0)
    if at != len(tokens):
        raise ConfigError(f"endorsement policy {text!r}: unexpected {tokens[at][1]!r} at character {tokens[at][2]}")
    if len(principals(rule)) > MAX_PRINCIPALS:
        raise ConfigError(f"endorsement policy {text!r} names {len(principals(rule))} principals; "
                          f"at most {MAX_PRINCIPALS}")
    return rule


def _expect(text: str, tokens: list[tuple[str, str, int]], at: int, what: str) -> tuple[str, str, int]:
    if at >= len(tokens):
        raise ConfigError(f"endorsement policy {text!r}: ends early; expected {what}")
    return tokens[at]


def _parse(text: str, tokens: list[tuple[str, str, int]], at: int) -> tuple[Policy, int]:
    kind, value, where = _expect(text, tokens, at, "a principal or AND/OR/OutOf")
    if kind == "quoted":
        return _principal(value), at + 1
    if kind != "name":
        raise ConfigError(f"endorsement policy {text!r}: unexpected {value!r} at character {where}; "
                          "expected a principal or AND/OR/OutOf")
    at += 1
    n = None
    if value == "OutOf":
        kind, number, where = _expect(text, tokens, at, "the number n of OutOf(n, ...)")
        if kind != "int":
            raise ConfigError(f"endorsement policy {text!r}: OutOf needs a number first, got {number!r} "
                              f"at character {where}")
        n, at = int(number), at + 1
    rules: list[Policy] = []
    while True:
        kind, sep, where = _expect(text, tokens, at, "',' or ')'")
        if kind == "punct" and sep == ")" and (rules or n is None):
            at += 1
            break
        if value == "OutOf" or rules:
            if sep != ",":
                raise ConfigError(f"endorsement policy {text!r}: expected ',' at character {where}, got {sep!r}")
            at += 1
        rule, at = _parse(text, tokens, at)
        rules.append(rule)
    if not rules:
        raise ConfigError(f"endorsement policy {text!r}: {value}() needs at least one term")
    k = len(rules) if value == "AND" else 1 if value == "OR" else n
    assert k is not None
    if not 1 <= k <= len(rules):
        raise ConfigError(f"endorsement policy {text!r}: OutOf({k}, ...) has {len(rules)} terms; "
                          f"expected 1 <= n <= {len(rules)}")
    return NOutOf(k, tuple(rules)), at


def principals(rule: Policy) -> list[SignedBy]:
    """Every principal of ``rule``, in order (with repeats)."""
    if isinstance(rule, SignedBy):
        return [rule]
    return [p for r in rule.rules for p in principals(r)]


def _remaining(rule: Policy, free: frozenset[str], role_of: Callable[[str], str | None]) -> Iterator[frozenset[str]]:
    """Every set of signers left unused after one way of satisfying ``rule`` from ``free``."""
    if isinstance(rule, SignedBy):
        for signer in sorted(free):
            if rule.matches(signer, role_of):
                yield free - {signer}
        return

    def pick(i: int, need: int, left: frozenset[str]) -> Iterator[frozenset[str]]:
        if need == 0:
            yield left
            return
        if len(rule.rules) - i < need:
            return
        seen: set[frozenset[str]] = set()
        for rest in _remaining(rule.rules[i], left, role_of):
            if rest not in seen:
                seen.add(rest)
                yield from pick(i + 1, need - 1, rest)
        yield from pick(i + 1, need, left)

    yield from pick(0, rule.n, free)


def satisfied(rule: Policy, signers: Iterable[str], role_of: Callable[[str], str | None]) -> bool:
    """Do ``signers`` (verified, distinct) satisfy ``rule``, each used for at most one principal?"""
    useful = frozenset(s for s in signers if any(p.matches(s, role_of) for p in principals(rule)))
    return next(_remaining(rule, useful, role_of), None) is not None
