import pytest

from edgeledger.bench.rate import (
    Composite, FixedLoad, FixedRate, LinearRate, LoadView, MaximumRate, Replay, RateController, controllers, schedule,
)
from edgeledger.bench.schema import RoundConfig
from edgeledger.errors import ConfigError


def rnd(n=4, **rc):
    return RoundConfig.model_validate({"label": "r", "workload": {"name": "kv_create"}, "tx_number": n,
                                       "rate_control": rc or {"type": "fixed-rate", "opts": {}}})


def test_fixed_rate_sends_transaction_i_at_i_over_tps():
    assert schedule(FixedRate(4.0), 4) == [0.0, 0.25, 0.5, 0.75]


def test_linear_rate_moves_from_starting_to_finishing_tps_over_the_count():
    ctl = LinearRate.from_opts({"startingTps": 10, "finishingTps": 20}, rnd(4))
    # rates 10, 12.5, 15 for the gaps after tx 0, 1, 2
    assert schedule(ctl, 4) == pytest.approx([0.0, 0.1, 0.18, 0.18 + 1 / 15])


def test_linear_rate_by_duration_uses_elapsed_time():
    ctl = LinearRate(10.0, 30.0, (None, 1.0))
    assert schedule(ctl, 3) == pytest.approx([0.0, 0.1, 0.1 + 1 / 12])


def test_fixed_load_waits_while_the_backlog_is_full():
    ctl = FixedLoad(2)
    assert ctl.send_at(0, LoadView(0.5, 1, 0.0)) == 0.5
    assert ctl.send_at(1, LoadView(0.6, 2, 0.0)) is None


def test_maximum_rate_steps_up_while_throughput_rises_then_steps_back_and_holds():
    ctl = MaximumRate(10.0, 5.0, 1.0)
    assert ctl.send_at(0, LoadView(0.0, 0, 0.0)) == 0.0
    assert ctl.send_at(1, LoadView(0.5, 0, 0.0)) == pytest.approx(0.1)
    assert ctl.send_at(2, LoadView(1.0, 0, 10.0)) == pytest.approx(0.1 + 1 / 15)  # rose: 15 tps
    assert ctl.tps == 15.0
    assert ctl.send_at(3, LoadView(2.0, 0, 8.0)) == pytest.approx(0.1 + 1 / 15 + 1 / 10)  # fell: back to 10, hold
    assert ctl.holding and ctl.send_at(4, LoadView(9.0, 0, 50.0)) == pytest.approx(0.1 + 1 / 15 + 0.2)


def test_composite_runs_each_controller_for_its_weighted_share():
    ctl = Composite.from_opts({"weights": [1, 1], "rateControllers": [
        {"type": "fixed-rate", "opts": {"tps": 10}}, {"type": "fixed-rate", "opts": {"tps": 20}}]}, rnd(4))
    assert schedule(ctl, 4) == pytest.approx([0.0, 0.1, 0.1, 0.15])


def test_replay_follows_the_trace_then_the_default_interval(tmp_path):
    path = tmp_path / "trace.csv"
    path.write_text("# offsets\n1.0\n1.5\n3.0\n")
    ctl = Replay.from_opts({"pathToTrace": str(path), "defaultInterval": 0.5}, rnd(5))
    assert schedule(ctl, 5) == [0.0, 0.5, 2.0, 2.5, 3.0]


@pytest.mark.parametrize("kind, opts, message", [
    ("fixed-rate", {"tps": 0}, "expected a number > 0"),
    ("fixed-rate", {"tsp": 5}, "no option 'tsp'"),
    ("composite", {"weights": [1], "rateControllers": []}, "composite needs rateControllers"),
    ("replay", {"pathToTrace": "/nonexistent/trace"}, "does not exist"),
])
def test_bad_rate_control_options_name_the_option(kind, opts, message):
    with pytest.raises(ConfigError, match=message):
        controllers.get(kind).from_opts(opts, rnd())


def test_every_rate_controller_is_registered():
    concrete = {c for c in RateController.__subclasses__()}
    assert concrete == {controllers.get(n) for n in controllers.names()}
    assert controllers.names() == ["composite", "fixed-load", "fixed-rate", "linear-rate", "maximum-rate", "replay"]
