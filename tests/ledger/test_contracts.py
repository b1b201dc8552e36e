import pytest

from edgeledger.codec import decode
from edgeledger.ledger import make_transaction
from edgeledger.ledger.contracts import (
    CallContext, Contract, ContractCall, StepBudgetExceeded, call_log, contract_meta, contract_method, contract_state,
    contract_types, events_since, execute, logs_at, register_contract, simulate,
)
from edgeledger.ledger.contracts import lifecycle
from tests.market.consortium import Chain


@register_contract
class Counter(Contract):
    name = "test.counter"
    version = 1

    def init(self, ctx: CallContext, start: int = 0) -> None:
        ctx.put("n", start)

    @contract_method()
    def add(self, ctx: CallContext, k: int) -> int:
        n = ctx.get("n", 0) + k
        ctx.put("n", n)
        ctx.emit("added", k=k, n=n, by=ctx.sender, height=ctx.height)
        return n

    @contract_method("company")
    def reset(self, ctx: CallContext) -> None:
        ctx.put("n", 0)

    @contract_method()
    def boom(self, ctx: CallContext) -> None:
        ctx.put("n", 999)
        raise ZeroDivisionError("bad contract")

    @contract_method()
    def spin(self, ctx: CallContext, times: int) -> None:
        for i in range(times):
            ctx.put(f"k{i}", i)

    @contract_method()
    def floaty(self, ctx: CallContext) -> None:
        ctx.put("f", 0.5)


@register_contract
class CounterV2(Counter):
    version = 2

    @contract_method()
    def double(self, ctx: CallContext) -> int:
        n = ctx.get("n", 0) * 2
        ctx.put("n", n)
        return n


@pytest.fixture
def chain():
    c = Chain()
    assert c.deploy("dev0", "ctr", "test.counter", 1, [5]).ok
    return c


def test_deploy_runs_init_and_records_owner_and_version(chain):
    meta = contract_meta(chain.state.kv, "ctr")
    assert (meta.code, meta.version, meta.owner) == ("test.counter", 1, "dev0")
    assert contract_state(chain.state.kv, "ctr", "n") == 5
    assert "test.counter@1" in contract_types and "test.counter@2" in contract_types


def test_call_returns_result_and_events_in_the_call_log(chain):
    r, result = chain.call("dev1", "ctr", "add", 3)
    assert r.ok and result == 8
    log = call_log(chain.state.kv, r.tx_id)
    assert log.events[0].name == "added"
    assert log.events[0].attributes == {"k": 3, "n": 8, "by": "dev1", "height": r.height}
    assert [e.attributes["n"] for _, e in events_since(chain.state, 0, "ctr", "added")] == [8]
    assert logs_at(chain.state.kv, r.height)[0].tx_id == r.tx_id


def test_order_execute_contracts_refuse_an_endorsed_call(chain):
    """Endorsed calls belong to execute-order-validate instances (tests/ledger/test_endorsement.py)."""
    from edgeledger.ledger.contracts import Endorsement

    call = ContractCall(contract="ctr", method="add", args=[1], endorsement=Endorsement(read_set=[], write_set=[]))
    r = chain.submit("dev0", "contract.call", call)
    assert not r.ok and r.code == "INVALID_CHAINCODE" and "runs order-execute" in r.reason
    assert contract_state(chain.state.kv, "ctr", "n") == 5


def test_role_restricted_method_rejects_other_roles(chain):
    r, _ = chain.call("dev0", "ctr", "reset")
    assert not r.ok and "needs role company" in r.reason and "'device'" in r.reason
    assert chain.call("c1", "ctr", "reset")[0].ok


def test_raising_contract_fails_only_its_transaction(chain):
    receipts = chain.block([chain.tx("dev0", "contract.call", ContractCall(contract="ctr", method="boom")),
                            chain.tx("dev1", "contract.call", ContractCall(contract="ctr", method="add", args=[1]))])
    assert not receipts[0].ok and "ZeroDivisionError" in receipts[0].reason
    assert receipts[1].ok and contract_state(chain.state.kv, "ctr", "n") == 6


def test_step_budget_exceeded_fails_the_transaction(chain, monkeypatch):
    monkeypatch.setitem(lifecycle.step_budget, "default", 50)
    r, _ = chain.call("dev0", "ctr", "spin", 100)
    assert not r.ok and "step budget of 50" in r.reason
    assert contract_state(chain.state.kv, "ctr", "k0") is None
    assert chain.call("dev0", "ctr", "spin", 10)[0].ok


def test_floats_and_unknown_methods_are_refused(chain):
    assert "floats are not allowed" in chain.call("dev0", "ctr", "floaty")[0].reason
    assert "floats are not allowed" in chain.call("dev0", "ctr", "add", 1.5)[0].reason
    assert "has no method 'nope'" in chain.call("dev0", "ctr", "nope")[0].reason
    assert "has no method 'init'" in chain.call("dev0", "ctr", "init", 1)[0].reason  # init runs at deploy only


def test_upgrade_by_owner_keeps_state_and_adds_methods(chain):
    assert not chain.call("dev0", "ctr", "double")[0].ok
    r = chain.deploy("dev1", "ctr", "test.counter", 2)
    assert not r.ok and "only the owner 'dev0'" in r.reason
    assert chain.deploy("dev0", "ctr", "test.counter", 2).ok
    r, result = chain.call("dev1", "ctr", "double")
    assert r.ok and result == 10
    assert not chain.deploy("dev0", "ctr", "test.counter", 2).ok  # no downgrade / same version


def test_unregistered_code_cannot_be_deployed(chain):
    r = chain.deploy("dev0", "evil", "os.system", 1)
    assert not r.ok and "unknown contract code 'os.system@1'" in r.reason


def test_simulation_does_not_change_state(chain):
    before = dict(chain.state.kv)
    ex = simulate(chain.state, "dev0", ContractCall(contract="ctr", method="add", args=[1]))
    assert ex.result == 6 and chain.state.kv == before


def test_execute_directly_reports_reads_and_steps(chain):
    ctx = CallContext(chain.state.kv, chain.membership, "ctr", height=9, sender="dev0", tx_id=b"", budget=3)
    with pytest.raises(StepBudgetExceeded):
        execute(Counter, ctx, "spin", [5])


def test_failed_contract_call_does_not_consume_nonce(chain):
    tx = make_transaction(chain.keys["dev2"], "dev2", 1, "contract.call",
                          ContractCall(contract="missing", method="x"))
    r = chain.state.apply_transaction(tx, 99)
    assert not r.ok and "not deployed" in r.reason and chain.state.nonces.get("dev2", 0) == 0
    assert r.code == "INVALID_CHAINCODE"
    assert decode(tx.payload, ContractCall).contract == "missing"


@register_contract
class Sloppy(Contract):
    name = "test.sloppy"

    @contract_method()
    def bad_result(self, ctx: CallContext) -> object:
        return object()

    @contract_method()
    def bad_event(self, ctx: CallContext) -> None:
        ctx.emit("x", thing=object())

    @contract_method()
    def bad_value(self, ctx: CallContext) -> None:
        ctx.put("k", object())


def test_unencodable_results_events_and_values_fail_only_their_transaction():
    c = Chain()
    assert c.deploy("dev0", "sloppy", "test.sloppy").ok
    for method in ("bad_result", "bad_event", "bad_value"):
        r, _ = c.call("dev0", "sloppy", method)
        assert not r.ok and "raised" in r.reason, (method, r.reason)
    nested = []
    for _ in range(200):
        nested = [nested]
    assert "has no method" in c.call("dev0", "sloppy", "nope", nested)[0].reason
