from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pytest

from edgeledger.errors import ConfigError
from edgeledger.fl.attacks import (
    Alie, AlieLocal, ColludingAttack, FreeRiding, GaussianNoise, Ipm, IpmLocal, RoundView, Scaling, attacks, build_attack,
)
from edgeledger.fl.attacks.alie import alie_z_max

GLOBAL = np.array([1.0, 1.0, 1.0, 1.0], np.float32)
LOCAL = np.array([2.0, 0.0, 1.5, 1.0], np.float32)  # delta = [1, -1, 0.5, 0]


def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def test_scaling_boosts_the_update_by_its_factor() -> None:
    poisoned = Scaling(factor=10.0).poison(LOCAL, GLOBAL, rng())
    assert poisoned.dtype == np.float32
    assert np.allclose(poisoned - GLOBAL, 10.0 * (LOCAL - GLOBAL))


def test_ipm_local_sends_minus_epsilon_times_its_own_update() -> None:
    poisoned = IpmLocal(epsilon=0.5).poison(LOCAL, GLOBAL, rng())
    assert np.allclose(poisoned, [0.5, 1.5, 0.75, 1.0])
    assert float(np.dot(poisoned - GLOBAL, LOCAL - GLOBAL)) < 0  # negative inner product


def test_gaussian_noise_has_the_configured_spread_and_replays() -> None:
    local = np.zeros(20000, np.float32)
    poisoned = GaussianNoise(sigma=0.5).poison(local, local, rng())
    assert abs(float(poisoned.std()) - 0.5) < 0.01 and abs(float(poisoned.mean())) < 0.01
    assert np.array_equal(poisoned, GaussianNoise(sigma=0.5).poison(local, local, rng()))


def test_alie_z_max_follows_the_paper() -> None:
    # n=50, m=10: s = floor(26) - 10 = 16; z = Phi^-1(34 / 50)
    assert alie_z_max(50, 10) == pytest.approx(NormalDist().inv_cdf(0.68))
    assert alie_z_max(50, 10) == pytest.approx(0.4677, abs=1e-3)
    with pytest.raises(ConfigError, match=r"s = floor\(n/2 \+ 1\) - m >= 1, got s=0"):
        alie_z_max(10, 6)


def test_alie_local_shifts_each_coordinate_against_its_own_sign_by_z_std() -> None:
    attack = AlieLocal(z=1.0)
    delta = (LOCAL - GLOBAL).astype(np.float64)
    poisoned = attack.poison(LOCAL, GLOBAL, rng())
    shift = poisoned - LOCAL  # what the attack added to the honest model
    assert np.allclose(shift, -delta.std() * np.sign(delta), atol=1e-6)
    assert np.allclose(shift[3], 0.0)  # no benign direction, no shift
    assert AlieLocal(n_clients=50, n_malicious=10).z == pytest.approx(alie_z_max(50, 10))


def test_free_riding_uploads_random_or_stale_parameters() -> None:
    global_model = np.random.default_rng(1).standard_normal(5000).astype(np.float32) * 0.2
    local = global_model + 1.0
    stale = FreeRiding(mode="stale").poison(local, global_model, rng())
    assert np.array_equal(stale, global_model)
    random = FreeRiding().poison(local, global_model, rng())
    assert abs(float(random.std()) - float(global_model.std())) < 0.01  # matches the model's scale
    assert abs(float(np.corrcoef(random, local)[0, 1])) < 0.05  # unrelated to the trained model
    assert FreeRiding(sigma=3.0).poison(local, global_model, rng()).std() == pytest.approx(3.0, rel=0.05)


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("gaussian_noise", {"sigma": 0.0}, "sigma"),
        ("scaling", {"factor": -2.0}, "boosting factor"),
        ("ipm", {"epsilon": float("inf")}, "epsilon"),
        ("ipm_local", {"epsilon": 0.0}, "epsilon"),
        ("alie", {"z": -1.0}, "z must"),
        ("alie", {"n_clients": 10}, "expected some of"),  # n and m are the round's, not parameters
        ("alie_local", {"n_clients": 4, "n_malicious": 4}, "n_malicious < n_clients"),
        ("free_riding", {"mode": "lazy"}, "random"),
    ],
)
def test_bad_attack_parameters_are_config_errors(name: str, params: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_attack(name, **params)


@pytest.mark.parametrize("name", ["gaussian_noise", "scaling", "alie_local", "ipm_local", "free_riding"])
def test_model_attacks_reject_mismatched_shapes(name: str) -> None:
    with pytest.raises(ConfigError, match=rf"{name} needs .* got \(3,\) and \(2,\)"):
        build_attack(name).poison(np.zeros(3), np.zeros(2), rng())


# -- the colluding forms: one crafted model per round from the round's benign models ------------

BENIGN = np.array([[2.0, 0.0, 1.0], [4.0, 2.0, 1.0], [0.0, 1.0, 1.0], [2.0, 1.0, 1.0]], np.float32)  # (4, 3)
START = np.array([1.0, 1.0, 1.0], np.float32)


def view(n_clients: int, n_malicious: int, benign: np.ndarray = BENIGN, own: np.ndarray | None = None) -> RoundView:
    own = np.zeros((0, 3), np.float32) if own is None else own
    return RoundView(round=1, global_params=START, benign=benign, own=own, n_clients=n_clients,
                     n_malicious=n_malicious)


def test_alie_crafts_the_benign_mean_minus_z_max_std_per_coordinate_with_the_rounds_counts() -> None:
    crafted = Alie().craft(view(n_clients=6, n_malicious=2), rng())
    mu, sigma = BENIGN.astype(np.float64).mean(0), BENIGN.astype(np.float64).std(0)  # coordinate-wise
    z = alie_z_max(6, 2)  # s = floor(6/2 + 1) - 2 = 2: z = Phi^-1(4 / 6)
    assert z == pytest.approx(NormalDist().inv_cdf(4 / 6))
    assert np.allclose(crafted, mu - z * sigma, atol=1e-6)
    assert crafted[2] == pytest.approx(1.0)  # no spread in a coordinate, no shift there
    # another round with other counts gets another z: the counts are the round's, not defaults
    other = Alie().craft(view(n_clients=12, n_malicious=2), rng())
    assert np.allclose(other, mu - alie_z_max(12, 2) * sigma, atol=1e-6)
    assert not np.allclose(other, crafted)


def test_alie_with_a_colluding_majority_uses_the_largest_shift_the_formula_allows() -> None:
    crafted = Alie().craft(view(n_clients=4, n_malicious=3), rng())  # s = 3 - 3 = 0: no z_max
    mu, sigma = BENIGN.astype(np.float64).mean(0), BENIGN.astype(np.float64).std(0)
    assert np.allclose(crafted, mu - alie_z_max(4, 2) * sigma, atol=1e-6)  # s clamped to 1
    assert np.allclose(Alie(z=2.0).craft(view(4, 3), rng()), mu - 2.0 * sigma, atol=1e-6)


def test_ipm_crafts_minus_epsilon_times_the_benign_mean_update() -> None:
    crafted = Ipm(epsilon=0.5).craft(view(6, 2), rng())
    mean_update = BENIGN.mean(0) - START  # [1, 0, 0]
    assert np.allclose(crafted, START - 0.5 * mean_update)
    assert float(np.dot(crafted - START, mean_update)) < 0  # negative inner product with the benign mean update


def test_colluding_attacks_fall_back_to_the_colluders_own_models_without_a_benign_one() -> None:
    own = np.array([[3.0, 1.0, 1.0], [1.0, 1.0, 1.0]], np.float32)
    empty = np.zeros((0, 3), np.float32)
    assert np.allclose(Ipm(epsilon=1.0).craft(view(4, 2, benign=empty, own=own), rng()), [0.0, 1.0, 1.0])
    assert np.allclose(Alie(z=1.0).craft(view(4, 2, benign=empty, own=own), rng()), [1.0, 1.0, 1.0])
    # the paper's non-omniscient estimate uses the colluders' own models even when benign ones are seen
    assert np.allclose(Alie(z=1.0, estimate="colluders").craft(view(4, 2, own=own), rng()), [1.0, 1.0, 1.0])
    with pytest.raises(ConfigError, match="estimate must be"):
        Alie(estimate="oracle")
    with pytest.raises(ConfigError, match=">= 1 reference model"):
        Ipm().craft(view(4, 2, benign=empty), rng())


def test_alie_and_ipm_are_registered_as_colluding_attacks_and_their_local_forms_are_not() -> None:
    assert issubclass(attacks.get("alie"), ColludingAttack) and issubclass(attacks.get("ipm"), ColludingAttack)
    assert attacks.get("alie_local") is AlieLocal and attacks.get("ipm_local") is IpmLocal
    assert not issubclass(AlieLocal, ColludingAttack) and not issubclass(IpmLocal, ColludingAttack)
