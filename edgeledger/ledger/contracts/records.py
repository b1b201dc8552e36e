"""The records of the contract runtime: calls, deployments, read/write sets, endorsements, logs.

Two execution models, chosen per contract instance when it is deployed:

- ``execute-order-validate`` (Hyperledger Fabric, Androulaki et al. 2018): endorsing peers
  simulate the call and sign its :class:`Endorsement` (read set with versions, write set,
  events, result); the client collects :class:`EndorserSignature` s until the contract's
  endorsement policy is met and submits the :class:`ContractCall`; committers check the
  signatures against the policy and the read versions (MVCC) and apply the write set
  without running the contract;
- ``order-execute`` (FISCO-BCOS, as EdgeToll runs): the call carries no endorsement and every
  node executes it in block order.
"""

from __future__ import annotations

from typing import Any

from edgeledger.codec import Record

__all__ = [
    "Version", "ABSENT", "StateEntry", "ReadVersion", "WriteEntry", "Event", "Endorsement", "EndorserSignature",
    "ContractCall", "ContractDeploy", "ContractMeta", "CallLog", "EndorseRequest", "ProposalResponse",
    "ORDER_EXECUTE", "EXECUTE_ORDER_VALIDATE", "EXECUTION_MODELS",
]

ORDER_EXECUTE = "order-execute"
EXECUTE_ORDER_VALIDATE = "execute-order-validate"
EXECUTION_MODELS = (ORDER_EXECUTE, EXECUTE_ORDER_VALIDATE)


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
    """What simulating a call against a snapshot produced (Fabric's proposal response payload):
    read set with versions and write set (sorted by key; private data only as hashes, see
    :mod:`edgeledger.ledger.contracts.private`), and the events and result the call log keeps;
    ``code``/``version`` name the contract code it ran."""

    read_set: list[ReadVersion]
    write_set: list[WriteEntry]
    events: list[Event] = []
    result: Any = None
    code: str = ""
    version: int = 0


class EndorserSignature(Record):
    """``endorser``'s signature over :func:`~edgeledger.ledger.contracts.endorsement.endorsement_statement`."""

    endorser: str
    signature: bytes


class ContractCall(Record):
    """Payload of a ``contract.call`` transaction: the call, and for an execute-order-validate
    contract its endorsed result and the endorsers' signatures."""

    contract: str
    method: str
    args: list[Any] = []
    endorsement: Endorsement | None = None
    endorsements: list[EndorserSignature] = []


class ContractDeploy(Record):
    """Payload of ``contract.deploy``: instance ``name`` runs registered ``code`` at ``version``.

    Deploying an existing name with a higher version by its owner is an upgrade; the
    instance's state is kept.
    """

    name: str
    code: str
    version: int
    args: list[Any] = []
    execution: str = ORDER_EXECUTE  # or EXECUTE_ORDER_VALIDATE
    endorsement_policy: str = ""  # Fabric policy syntax; required by (and only for) execute-order-validate


class ContractMeta(Record):
    name: str
    code: str
    version: int
    owner: str
    deployed_height: int
    execution: str = ORDER_EXECUTE
    endorsement_policy: str = ""


class CallLog(Record):
    """What a valid contract transaction produced, kept in state for subscribers."""

    tx_id: bytes
    height: int
    sender: str
    contract: str
    method: str
    result: Any
    events: list[Event]


class EndorseRequest(Record, tag="contract.endorse"):
    """A transaction proposal: ask an endorsing peer to simulate ``call`` as ``sender`` for the
    transaction ``sender`` will sign with ``nonce`` (``POST /v1/endorse``, or a wire message).
    ``transient`` inputs (private data) reach the contract but never the chain."""

    sender: str
    call: ContractCall
    nonce: int = 0
    transient: dict[str, bytes] = {}


class ProposalResponse(Record, tag="contract.endorsed"):
    """An endorsing peer's answer: the simulated :class:`Endorsement` and its signature over it
    (empty ``error`` when it endorsed; else why it would not, and no signature)."""

    endorser: str
    sender: str
    nonce: int
    endorsement: Endorsement | None = None
    signature: bytes = b""
    error: str = ""
