"""The records of the contract runtime: calls, deployments, read/write sets, events, logs.

A :class:`ContractCall` may carry an :class:`Endorsement` -- the read set (with versions)
and write set that simulating the call against a snapshot produced (Fabric's *execute*).
When the ordered block is applied (*validate*), the call is valid only if every version in
its read set is still current; a call without an endorsement runs in block order
(FISCO-BCOS/EdgeToll's order-execute).
"""

from __future__ import annotations

from typing import Any

from edgeledger.codec import Record

__all__ = [
    "Version", "ABSENT", "StateEntry", "ReadVersion", "WriteEntry", "Event", "Endorsement",
    "ContractCall", "ContractDeploy", "ContractMeta", "CallLog", "EndorseRequest",
]


class Version(Record):
    """Fabric's key version: the height and transaction (id prefix) that last wrote the key."""

    height: int
    tx: bytes


#: the version of a key that does not exist
ABSENT = Version(height=0, tx=b"")


class StateEntry(Record):
    """One contract state value with its version, as stored under ``cs/<contract>/<key>``."""

    version: Version
    value: bytes  # canonical encoding of the contract's value


class ReadVersion(Record):
    key: str
    version: Version


class WriteEntry(Record):
    key: str
    value: bytes | None  # None deletes the key


class Event(Record):
    """A named event with attributes, emitted by ``contract``; subscribers read it from call logs."""

    contract: str
    name: str
    attributes: dict[str, Any]


class Endorsement(Record):
    """What executing a call against a snapshot produced (sorted by key)."""

    read_set: list[ReadVersion]
    write_set: list[WriteEntry]


class ContractCall(Record):
    """Payload of a ``contract.call`` transaction."""

    contract: str
    method: str
    args: list[Any] = []
    endorsement: Endorsement | None = None


class ContractDeploy(Record):
    """Payload of ``contract.deploy``: instance ``name`` runs registered ``code`` at ``version``.

    Deploying an existing name with a higher version by its owner is an upgrade; the
    instance's state is kept.
    """

    name: str
    code: str
    version: int
    args: list[Any] = []


class ContractMeta(Record):
    name: str
    code: str
    version: int
    owner: str
    deployed_height: int


class CallLog(Record):
    """What a valid contract transaction produced, kept in state for subscribers."""

    tx_id: bytes
    height: int
    sender: str
    contract: str
    method: str
    result: Any
    events: list[Event]


class EndorseRequest(Record):
    """Ask a node to simulate ``call`` as ``sender`` and return it endorsed (``POST /v1/endorse``)."""

    sender: str
    call: ContractCall
