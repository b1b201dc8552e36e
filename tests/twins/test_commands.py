"""Commands back to the plant: who may command, signed acknowledgements, lost and late ones, the retry bound."""

import numpy as np

from edgeledger.crypto.keys import derive_key
from edgeledger.effects import CancelTimer, Rejected, Send, SetTimer, SubmitTransaction
from edgeledger.ledger.contracts import ContractCall, contract_state
from edgeledger.twins.degradation import DegradationModel
from edgeledger.twins.gateway import TIMER_PREFIX, GatewayCore
from edgeledger.twins.machine import MachineDevice
from edgeledger.twins.records import REGISTRY, ActuatorCommand
from tests.twins.plant_chain import PlantChain


def command(c, user="engineer", args=(800,), name="set_speed"):
    return c.call(user, REGISTRY, "command", "m0", name, list(args))


def cmd(c, i=1):
    return contract_state(c.state.kv, REGISTRY, f"cmd/{i}")


def device(c):
    return MachineDevice("m0", c.sensor, c.actuator, "edgetoll", REGISTRY, 0, DegradationModel(),
                         np.random.default_rng(1))


def delivered(c, command_id=1, attempt=1):
    record = cmd(c, command_id)
    return ActuatorCommand(chain_id="edgetoll", registry=REGISTRY, command_id=command_id, twin_id="m0",
                           name=record["name"], args=record["args"], attempt=attempt)


def record(c, sender, method, *args):
    return c.call(sender, REGISTRY, method, *args)


def test_granted_users_and_the_owner_command_and_others_are_refused():
    c = PlantChain()
    r, first = command(c)
    assert r.ok and first == 1 and cmd(c)["status"] == "pending" and cmd(c)["gateway"] == "gw0"
    assert command(c, user="acme")[0].ok
    for user in ("intruder", "bolt", "gw0", "o0"):
        r, _ = command(c, user=user)
        assert not r.ok and f"{user!r} may not command twin 'm0'" in r.reason
    assert c.call("acme", REGISTRY, "revoke", "m0", "engineer")[0].ok
    assert not command(c)[0].ok
    assert contract_state(c.state.kv, REGISTRY, "cmd_seq") == 2


def test_commands_are_checked_against_the_twin_schema():
    c = PlantChain()
    for name, args, why in (("set_speed", [2000], "outside [0, 1500]"), ("set_speed", [], "takes 1 integer"),
                            ("explode", [1], "has no command"), ("set_coolant", [True], "outside [0, 1]")):
        r, _ = command(c, name=name, args=args)
        assert not r.ok and why in r.reason, r.reason


def test_a_signed_ack_is_recorded_with_its_round_trip_and_a_forged_one_refused():
    c = PlantChain()
    command(c)
    ack = device(c).on_command(delivered(c))
    r, _ = record(c, "gw0", "ack", 1, 1, ack.status, ack.state, 4200, derive_key("ed25519", b"other").sign(b"x"))
    assert not r.ok and "not signed by the actuator of twin 'm0'" in r.reason
    r, _ = record(c, "o0", "ack", 1, 1, ack.status, ack.state, 4200, ack.signature)
    assert not r.ok and "only gateway 'gw0'" in r.reason
    r, status = record(c, "gw0", "ack", 1, 1, ack.status, ack.state, 4200, ack.signature)
    assert r.ok and status == "acked"
    assert cmd(c)["attempts"][0][:4] == [1, "acked", 4200, "applied"] and cmd(c)["state"] == [800, 1]
    assert not record(c, "gw0", "ack", 1, 1, ack.status, ack.state, 4200, ack.signature)[0].ok  # once


def test_lost_acks_are_retried_up_to_the_bound_then_the_command_fails():
    c = PlantChain(max_attempts=2)
    command(c)
    assert record(c, "gw0", "ack_missing", 1, 2)[0].ok is False  # attempt 2 was never sent
    r, status = record(c, "gw0", "ack_missing", 1, 1)
    assert r.ok and status == "retrying" and cmd(c)["attempt"] == 2
    r, status = record(c, "gw0", "ack_missing", 1, 2)
    assert r.ok and status == "failed"
    r, _ = record(c, "gw0", "ack_missing", 1, 3)
    assert not r.ok and "nothing is awaited" in r.reason
    ack = device(c).on_command(delivered(c, attempt=3))
    r, _ = record(c, "gw0", "ack", 1, 3, ack.status, ack.state, 10, ack.signature)
    assert not r.ok and "never sent" in r.reason  # past the bound: refused


def test_a_late_ack_is_recorded_late_and_the_retry_in_time_as_acked():
    c = PlantChain()
    command(c)
    record(c, "gw0", "ack_missing", 1, 1)
    machine = device(c)
    first, second = machine.on_command(delivered(c, attempt=1)), machine.on_command(delivered(c, attempt=2))
    r, status = record(c, "gw0", "ack", 1, 1, first.status, first.state, 900_000, first.signature)
    assert r.ok and status == "acked-late"
    r, status = record(c, "gw0", "ack", 1, 2, second.status, second.state, 3000, second.signature)
    assert r.ok and status == "acked"
    assert [a[1] for a in cmd(c)["attempts"]] == ["late", "acked"]


def test_the_actuator_applies_a_command_once_however_often_it_is_delivered():
    c = PlantChain()
    command(c)
    machine = device(c)
    a1 = machine.on_command(delivered(c, attempt=1))
    machine.state.speed = 1200.0  # something else moved the set point meanwhile
    a2 = machine.on_command(delivered(c, attempt=2))
    assert a1.state == a2.state == [800, 1] and machine.state.speed == 1200.0
    assert [e.kind for e in machine.events] == ["set_speed"]


def core(timeout=0.5, attempts=3):
    return GatewayCore("gw0", derive_key("ed25519", b"gw0"), "edgetoll", {"m0": "dev0"}, ack_timeout_s=timeout,
                       max_attempts=attempts)


def methods(effects):
    from edgeledger.codec import decode

    return [(decode(e.tx.payload, ContractCall).method, decode(e.tx.payload, ContractCall).args[:2])
            for e in effects if isinstance(e, SubmitTransaction)]


def test_the_gateway_retries_on_timeouts_within_the_bound_and_records_each_loss():
    g = core(attempts=2)
    out = g.on_command(7, "m0", "set_speed", [800], now=0.0)
    assert isinstance(out[0], Send) and out[0].to == "dev0" and out[0].message.attempt == 1
    assert out[1] == SetTimer(f"{TIMER_PREFIX}ack:7:1", 0.5)
    out = g.on_timer(f"{TIMER_PREFIX}ack:7:1", 0.5)
    assert methods(out) == [("ack_missing", [7, 1])] and [e.message.attempt for e in out if isinstance(e, Send)] == [2]
    out = g.on_timer(f"{TIMER_PREFIX}ack:7:2", 1.0)
    assert methods(out) == [("ack_missing", [7, 2])] and not [e for e in out if isinstance(e, Send)]
    assert g.on_timer(f"{TIMER_PREFIX}ack:7:2", 1.5) == []


def test_the_gateway_records_acks_in_time_late_and_refuses_unsigned_ones():
    c = PlantChain()
    command(c)
    g = core()
    g.on_command(1, "m0", "set_speed", [800], now=0.0)
    machine = device(c)
    ack1 = machine.on_command(delivered(c, attempt=1))
    forged = type(ack1)(command_id=1, twin_id="m0", attempt=1, status="applied", state=[800, 1], signature=b"\0" * 64)
    assert isinstance(g.on_ack("dev0", forged, c.actuator.public_key, 0.1)[0], Rejected)
    assert g.on_ack("intruder", ack1, c.actuator.public_key, 0.1) == []  # not from the twin's device
    g.on_timer(f"{TIMER_PREFIX}ack:1:1", 0.5)  # attempt 1 given up, attempt 2 sent
    out = g.on_ack("dev0", ack1, c.actuator.public_key, 0.7)
    assert methods(out) == [("ack", [1, 1])] and not [e for e in out if isinstance(e, CancelTimer)]
    ack2 = machine.on_command(delivered(c, attempt=2))
    out = g.on_ack("dev0", ack2, c.actuator.public_key, 0.52)
    assert methods(out) == [("ack", [1, 2])] and CancelTimer(f"{TIMER_PREFIX}ack:1:2") in out
    assert g.rtts == [0.52 - 0.5]
