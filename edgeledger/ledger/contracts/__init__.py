"""Deterministic contracts with two execution models: Fabric's execute-order-validate (endorsement
policies, signed read/write sets, MVCC validation, private data hashes) and order-execute.

Importing this package registers the ``contract.deploy`` and ``contract.call`` transaction kinds.
"""

from edgeledger.ledger.contracts.endorsement import (
    EndorsementMismatch, assemble, endorsement_statement, sign_endorsement, signed_endorsers, validate_endorsed,
    written_collections,
)
from edgeledger.ledger.contracts.lifecycle import (
    call_blob_references, call_log, contract_meta, contract_state, endorse_proposal, events_since, execution_model, logs_at, simulate,
    step_budget,
)
from edgeledger.ledger.contracts.policy import NOutOf, SignedBy, parse_policy, satisfied
from edgeledger.ledger.contracts.records import (
    ABSENT, EXECUTE_ORDER_VALIDATE, EXECUTION_MODELS, ORDER_EXECUTE, CallLog, ContractCall, ContractDeploy,
    ContractMeta, EndorseRequest, Endorsement, EndorserSignature, Event, ProposalResponse, ReadVersion, StateEntry,
    Version, WriteEntry,
)
from edgeledger.ledger.contracts.runtime import (
    DEFAULT_STEP_BUDGET, ROLE_KEY_PREFIX, CallContext, Contract, ContractError, Execution, StateView,
    StepBudgetExceeded, contract_method, contract_types, execute, implicit_collection, private_hash_key,
    register_contract, role_of,
)

__all__ = [
    "EndorsementMismatch", "assemble", "endorsement_statement", "sign_endorsement", "signed_endorsers",
    "validate_endorsed", "written_collections",
    "call_blob_references", "call_log", "contract_meta", "contract_state", "endorse_proposal", "events_since", "execution_model", "logs_at",
    "simulate", "step_budget", "NOutOf", "SignedBy", "parse_policy", "satisfied",
    "ABSENT", "EXECUTE_ORDER_VALIDATE", "EXECUTION_MODELS", "ORDER_EXECUTE", "CallLog", "ContractCall",
    "ContractDeploy", "ContractMeta", "EndorseRequest", "Endorsement", "EndorserSignature", "Event",
    "ProposalResponse", "ReadVersion", "StateEntry", "Version", "WriteEntry", "DEFAULT_STEP_BUDGET",
    "ROLE_KEY_PREFIX", "CallContext", "Contract", "ContractError", "Execution", "StateView", "StepBudgetExceeded",
    "contract_method", "contract_types", "execute", "implicit_collection", "private_hash_key", "register_contract",
    "role_of",
]
