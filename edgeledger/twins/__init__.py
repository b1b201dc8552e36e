"""SewingChain's control layer: digital twins fed by attested sensor data, commands that reach
actuators through the chain, and predictive maintenance trained by the computing oracle.

Importing this package registers the ``twin.registry`` contract (and, through
:mod:`edgeledger.oracle`, the oracle proxy it is called back by). The simulator's plant lives in
:mod:`edgeledger.twins.factory` and :mod:`edgeledger.twins.experiment`; the predictor's training and
risk in :mod:`edgeledger.twins.maintenance` (imports torch). See docs/twins.md.
"""

import edgeledger.oracle  # noqa: F401  (the proxy contract and the oracle.fulfill kind)
from edgeledger.twins.commands import CommandBook, load_twin, may_command
from edgeledger.twins.degradation import (
    FAILURE_WEAR,
    SENSOR_FIELDS,
    DegradationModel,
    MachineState,
    simulate_life,
)
from edgeledger.twins.records import (
    MAINTENANCE_KIND,
    READING_KIND,
    REGISTRY,
    REGISTRY_CODE,
    VERDICTS,
    ActuatorAck,
    ActuatorCommand,
    ReadingClaim,
    SensorBatch,
    TwinObservation,
    ack_statement,
    batch_statement,
)
from edgeledger.twins.registry import TWIN_KINDS, UPDATABLE, TwinRegistry
from edgeledger.twins.storage import (
    AuditFinding,
    AuditReport,
    CloudStore,
    audit_readings,
    reading_index,
)

__all__ = [
    "FAILURE_WEAR",
    "MAINTENANCE_KIND",
    "READING_KIND",
    "REGISTRY",
    "REGISTRY_CODE",
    "SENSOR_FIELDS",
    "TWIN_KINDS",
    "UPDATABLE",
    "VERDICTS",
    "ActuatorAck",
    "ActuatorCommand",
    "AuditFinding",
    "AuditReport",
    "CloudStore",
    "CommandBook",
    "DegradationModel",
    "MachineState",
    "ReadingClaim",
    "SensorBatch",
    "TwinObservation",
    "TwinRegistry",
    "ack_statement",
    "audit_readings",
    "batch_statement",
    "load_twin",
    "may_command",
    "reading_index",
    "simulate_life",
]
