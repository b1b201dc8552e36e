"""One exception hierarchy for edgeledger (docs/style.md rule 5).

Every message names the field or value at fault and what was expected, so a user can fix
the cause without reading a traceback. The CLI prints ``ErrorType: message`` and exits 2
for :class:`ConfigError` and other bad-input errors.
"""

from __future__ import annotations

__all__ = [
    "EdgeLedgerError",
    "ConfigError",
    "DecodeError",
    "ProtocolError",
    "LocalProtocolError",
    "RemoteProtocolError",
    "SignatureError",
    "IntegrityError",
    "ChainValidationError",
    "AggregationError",
    "InvariantViolation",
    "DatasetError",
    "RegistryError",
]


class EdgeLedgerError(Exception):
    """Root of every error edgeledger raises on purpose."""

    exit_code: int = 1


class ConfigError(EdgeLedgerError):
    """A scenario, option or argument is invalid; the user must change it."""

    exit_code = 2


class DecodeError(EdgeLedgerError):
    """Bytes could not be decoded into the expected typed struct."""

    exit_code = 2


class ProtocolError(EdgeLedgerError):
    """A protocol rule was broken (base class: says whose fault it is)."""


class LocalProtocolError(ProtocolError):
    """Our own side tried something the protocol forbids (a bug or misuse)."""


class RemoteProtocolError(ProtocolError):
    """A peer sent something the protocol forbids; the input is rejected, state unchanged."""


class SignatureError(RemoteProtocolError):
    """A signature does not verify under the claimed key."""


class IntegrityError(RemoteProtocolError):
    """Content does not match the digest it claims (blob, Merkle root, global model)."""


class ChainValidationError(RemoteProtocolError):
    """A block or chain breaks a validation rule (previous hash, Merkle root, certificate)."""


class AggregationError(EdgeLedgerError):
    """An aggregator's precondition does not hold (e.g. too few updates for Krum)."""


class InvariantViolation(EdgeLedgerError):
    """A safety invariant was found broken: always a bug, never user input."""


class DatasetError(EdgeLedgerError):
    """A data set is missing, corrupt or unknown."""

    exit_code = 2


class RegistryError(ConfigError):
    """A plug-in name is unknown or registered twice."""
