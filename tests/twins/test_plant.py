"""The plant scenario end to end in the simulator: readings, commands, attacks and maintenance."""

from edgeledger.ledger.contracts import contract_state
from edgeledger.twins.records import REGISTRY
from tests.twins.conftest import SMALL


def test_every_tampered_reading_and_stored_batch_is_detected_and_nothing_else(plant):
    report, _ = plant
    assert report.tampered >= 5 and report.detected == report.tampered and report.false_alarms == 0
    assert set(report.refused) <= {"forged", "mismatch"} and report.refused.get("forged", 0) >= 1
    assert report.extra["audit_findings"] >= 1  # history the store rewrote after it was attested


def test_the_twins_carry_fresh_attested_readings_with_risk_under_the_chain_model(plant):
    report, f = plant
    view = f.view
    model = contract_state(view, REGISTRY, "model")
    assert model[1] == SMALL.fl_rounds
    for twin in f.machines:
        s = contract_state(view, REGISTRY, f"state/{twin}")
        assert s["seq"] >= 20 and s["model"] == model[0] and 0 <= s["risk_milli"] <= 1000
    assert report.attested >= 40 and max(report.reading_to_twin_s) < 1.0  # some batches are tampered or lost


def test_commands_reach_the_actuators_unauthorised_ones_are_refused(plant):
    report, f = plant
    assert report.intrusions == report.intrusions_refused == 3
    assert sum(report.command_status.values()) == 10
    assert set(report.command_status) <= {"acked", "acked-late", "failed"}
    assert report.lost_attempts >= 1  # the lossy link and the sluggish actuator cost attempts
    for host in f.machines.values():  # what the chain says was applied is what the machine did
        applied = [e for e in host.device.events if e.kind.startswith("set_")]
        assert len(applied) == len(host.device.acks) - sum(1 for s, _ in host.device.acks.values() if s != "applied")


def test_orders_on_chain_are_the_inspections_the_crew_made(plant):
    report, f = plant
    inspections = [e for h in f.machines.values() for e in h.device.events if e.kind == "inspection"]
    assert report.orders_on_chain.get("repaired", 0) == sum(e.detail for e in inspections)
    assert report.orders_on_chain.get("no-fault", 0) == sum(1 - e.detail for e in inspections)
    assert report.maintenance.orders == len(inspections)
    assert 0 < report.baseline_tau_hours


def test_a_seed_replays_the_same_plant_bit_for_bit():
    from dataclasses import replace

    from edgeledger.twins.experiment import run_plant

    tiny = replace(SMALL, machines_per_edge=1, hours=48, commands=3, intrusions=1, fl_rounds=1)
    (a, fa), (b, fb) = run_plant(tiny), run_plant(tiny)
    head = fa.nodes[fa.observer].store.head()
    assert head.hash == fb.nodes[fb.observer].store.head().hash and head.height == a.height > 10
    assert a.figures() == b.figures()
