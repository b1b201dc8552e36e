import edgeledger.ledger.contracts as contracts
import edgeledger.market as market
import edgeledger.market.sharing as sharing
from edgeledger.ledger.contracts import Contract, contract_types
from edgeledger.ledger.state import tx_kinds


def test_public_names_are_exported_deliberately():
    for module in (contracts, market, sharing):
        assert sorted(module.__all__) == sorted(set(module.__all__))
        assert all(hasattr(module, name) for name in module.__all__)


def test_market_contracts_and_tx_kinds_are_registered():
    for name in ("edgetoll.matching@1", "edgetoll.payments@2", "fabric.task_sharing@1"):
        assert issubclass(contract_types.get(name), Contract)
    for kind in ("contract.deploy", "contract.call", "membership.join", "membership.propose", "membership.vote"):
        assert kind in tx_kinds
