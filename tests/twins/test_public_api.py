from edgeledger import twins
from edgeledger.ledger.contracts import contract_types
from edgeledger.ledger.state import tx_kinds


def test_public_api_names_exist_and_the_registry_is_registered():
    assert sorted(set(twins.__all__)) == sorted(twins.__all__)
    for name in twins.__all__:
        assert hasattr(twins, name), name
    assert "twin.registry@1" in contract_types and "oracle.fulfill" in tx_kinds
    methods = twins.TwinRegistry.methods()
    assert methods["add_twin"] == ("company",)
    assert {"update_twin", "retire_twin", "grant", "revoke", "deliver", "set_model", "command", "ack", "ack_missing",
            "close_order", "set_model_task"} <= set(methods)
