"""The oracle network's roles read no clock of their own: the process's clock paces setup resubmissions."""

from types import SimpleNamespace

import pytest

from edgeledger.crypto.keys import derive_key
from edgeledger.deploy.oracle_plan import plan_oracle_network
from edgeledger.oracle.roles import RESUBMIT_S, NotReady, OracleRole, Requester


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def _attached(role_type, clock):
    plan = plan_oracle_network(sensor_seed=1)
    role = role_type(plan, "requester", derive_key("ed25519", b"r" * 32), clock)
    submitted = []
    node = SimpleNamespace(submit=lambda tx, now: [(tx, now)], state=SimpleNamespace(kv={}), add_service=lambda s: None)
    role.attach(node, SimpleNamespace(submit_local=submitted.extend))
    return role, submitted


def test_a_setup_step_is_resubmitted_only_after_the_injected_clock_moves_on():
    clock = Clock()
    role, submitted = _attached(OracleRole, clock)
    role.once("deploy", False, "contract.deploy", {"x": 1})
    role.once("deploy", False, "contract.deploy", {"x": 1})
    assert [now for _, now in submitted] == [1_000.0]  # stamped with the injected clock
    clock.now += RESUBMIT_S - 0.01
    role.once("deploy", False, "contract.deploy", {"x": 1})
    assert len(submitted) == 1
    clock.now += 0.02
    role.once("deploy", False, "contract.deploy", {"x": 1})
    assert len(submitted) == 2 and submitted[1][0].nonce == submitted[0][0].nonce + 1
    clock.now -= 3_600  # the wall clock was set back an hour: do not wait an hour
    role.once("deploy", False, "contract.deploy", {"x": 1})
    assert len(submitted) == 3
    role.once("other", True, "contract.deploy", {"x": 1})  # done steps are never sent
    assert len(submitted) == 3


def test_nonces_start_above_any_an_earlier_run_used():
    early, late = Clock(), Clock()
    late.now += 1.0
    assert _attached(OracleRole, late)[0].nonce > _attached(OracleRole, early)[0].nonce


def test_the_requester_files_nothing_before_the_network_is_set_up():
    role, submitted = _attached(Requester, Clock())
    with pytest.raises(NotReady, match="still being set up"):
        role.file_request("boiler", 200)
    assert submitted == [] and role.requests() == []
