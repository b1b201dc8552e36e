"""One small simulated plant per test session (about five seconds), shared by the scenario and page tests."""

import pytest

from edgeledger.twins.experiment import run_plant
from edgeledger.twins.factory import FactoryConfig
from edgeledger.twins.maintenance import HistorySpec

SMALL = FactoryConfig(seed=3, edges=3, machines_per_edge=1, hours=192, lying_edge=1, lying_rate=0.3,
                      lossy_machine=0, link_loss=0.35, sluggish_machine=2, store_tamper_rate=0.1,
                      store_rewrite_rate=0.1, commands=10, intrusions=3, fl_rounds=2, fl_epochs=3,
                      history=HistorySpec(seed=5, machines_per_company=8, validation_machines=8))


@pytest.fixture(scope="session")
def plant():
    return run_plant(SMALL)
