"""edgeledger: blockchain-secured federated learning and task offloading for edge/cloud computing.

The Python API (docs/api.md)::

    import edgeledger as el

    s = el.Scenario.load("my.toml").with_overrides({"fl.rounds": 20})
    r = el.run(s)
    r.metrics, r.rounds, r.chain, r.plot()

Names load on first use (PEP 562), so ``import edgeledger`` stays cheap: a node process of a
chain-only network never imports torch, and the command line starts fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: public name -> module that defines it
_EXPORTS: dict[str, str] = {
    # scenarios and runs
    "Scenario": "edgeledger.scenario.schema",
    "Run": "edgeledger.scenario.session",
    "run": "edgeledger.scenario.session",
    "load_results": "edgeledger.scenario.session",
    "check_scenario": "edgeledger.scenario.preflight",
    # one decorator per plug-in kind
    "register_aggregator": "edgeledger.scenario.registration",
    "register_attack": "edgeledger.scenario.registration",
    "register_model": "edgeledger.scenario.registration",
    "register_contract": "edgeledger.scenario.registration",
    "register_consensus": "edgeledger.scenario.registration",
    # the interfaces a plug-in implements
    "Aggregator": "edgeledger.fl.aggregators",
    "ModelAttack": "edgeledger.fl.attacks",
    "ColludingAttack": "edgeledger.fl.attacks",
    "DataAttack": "edgeledger.fl.attacks",
    "Contract": "edgeledger.ledger.contracts",
    "contract_method": "edgeledger.ledger.contracts",
    "Consensus": "edgeledger.consensus",
    # errors
    "EdgeLedgerError": "edgeledger.errors",
    "ConfigError": "edgeledger.errors",
}

__all__ = [  # a test checks it is exactly ``__version__`` and the keys of ``_EXPORTS``
    "__version__", "Scenario", "Run", "run", "load_results", "check_scenario",
    "register_aggregator", "register_attack", "register_model", "register_contract", "register_consensus",
    "Aggregator", "ModelAttack", "ColludingAttack", "DataAttack", "Contract", "contract_method", "Consensus",
    "EdgeLedgerError", "ConfigError",
]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from edgeledger.consensus import Consensus
    from edgeledger.errors import ConfigError, EdgeLedgerError
    from edgeledger.fl.aggregators import Aggregator
    from edgeledger.fl.attacks import ColludingAttack, DataAttack, ModelAttack
    from edgeledger.ledger.contracts import Contract, contract_method
    from edgeledger.scenario.preflight import check_scenario
    from edgeledger.scenario.registration import (
        register_aggregator,
        register_attack,
        register_consensus,
        register_contract,
        register_model,
    )
    from edgeledger.scenario.schema import Scenario
    from edgeledger.scenario.session import Run, load_results, run


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'edgeledger' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
