"""Deterministic contracts with Fabric's execute-order-validate flow.

Importing this package registers the ``contract.deploy`` and ``contract.call`` transaction kinds.
"""

from edgeledger.ledger.contracts.lifecycle import (
    call_log, contract_meta, contract_state, endorse, events_since, logs_at, simulate, step_budget,
)
from edgeledger.ledger.contracts.records import (
    ABSENT, CallLog, ContractCall, ContractDeploy, ContractMeta, EndorseRequest, Endorsement, Event, ReadVersion,
    StateEntry, Version, WriteEntry,
)
from edgeledger.ledger.contracts.runtime import (
    DEFAULT_STEP_BUDGET, ROLE_KEY_PREFIX, CallContext, Contract, ContractError, Execution, StateView,
    StepBudgetExceeded, contract_method, contract_types, execute, register_contract, role_of,
)

__all__ = [
    "call_log", "contract_meta", "contract_state", "endorse", "events_since", "logs_at", "simulate", "step_budget",
    "ABSENT", "CallLog", "ContractCall", "ContractDeploy", "ContractMeta", "EndorseRequest", "Endorsement", "Event", "ReadVersion",
    "StateEntry", "Version", "WriteEntry", "DEFAULT_STEP_BUDGET", "ROLE_KEY_PREFIX", "CallContext", "Contract",
    "ContractError", "Execution", "StateView", "StepBudgetExceeded", "contract_method", "contract_types", "execute",
    "register_contract", "role_of",
]
