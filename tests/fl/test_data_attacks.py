from __future__ import annotations

import numpy as np
import pytest

from edgeledger.errors import ConfigError
from edgeledger.fl.attacks import (
    Backdoor,
    DataPoisoning,
    LabelFlip,
    PixelTrigger,
    attack_success_rate,
    build_data_attack,
)
from edgeledger.fl.datasets import Dataset


def toy(n: int = 40, shape: tuple[int, ...] = (4,), n_classes: int = 10) -> Dataset:
    x = np.arange(n * int(np.prod(shape)), dtype=np.float32).reshape(n, *shape) / 100.0
    return Dataset(x=x, y=np.arange(n, dtype=np.int64) % n_classes, n_classes=n_classes, name="toy")


def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def test_label_flip_default_maps_l_to_c_minus_1_minus_l() -> None:
    data = toy()
    flipped = LabelFlip().poison_data(data, rng())
    assert np.array_equal(flipped.y, 9 - data.y)
    assert np.array_equal(flipped.x, data.x) and flipped.x is not data.x
    assert np.array_equal(data.y, np.arange(40) % 10)  # the honest copy is untouched


def test_label_flip_mapping_from_a_scenario_string_keeps_unmapped_labels() -> None:
    data = toy()
    flipped = build_data_attack("label_flip", mapping="1:7, 7:1").poison_data(data, rng())
    expected = data.y.copy()
    expected[data.y == 1], expected[data.y == 7] = 7, 1
    assert np.array_equal(flipped.y, expected)
    assert np.array_equal(LabelFlip({3: 0}).poison_data(data, rng()).y == 0, np.isin(data.y, [0, 3]))
    with pytest.raises(ConfigError, match="'1-7' is not 'src:dst'"):
        LabelFlip("1-7")
    with pytest.raises(ConfigError, match=r"outside \[0, 10\)"):
        LabelFlip("1:12").poison_data(data, rng())


def test_data_poisoning_randomises_labels_or_adds_input_noise() -> None:
    data = toy(400)
    labels = DataPoisoning(mode="labels").poison_data(data, rng())
    assert np.array_equal(labels.x, data.x)
    assert 0.8 < np.mean(labels.y != data.y) < 0.98  # random labels: ~90% differ
    noisy = DataPoisoning(mode="noise", fraction=0.5, sigma=2.0).poison_data(data, rng())
    assert np.array_equal(noisy.y, data.y)
    changed = np.any(noisy.x != data.x, axis=1)
    assert changed.sum() == 200
    assert abs(float((noisy.x - data.x)[changed].std()) - 2.0) < 0.2


def test_backdoor_stamps_the_corner_patch_and_relabels_a_fraction() -> None:
    data = toy(20, shape=(1, 5, 5))
    attack = Backdoor(target=2, fraction=0.5, size=3, value=9.0)
    poisoned = attack.poison_data(data, rng())
    stamped = np.flatnonzero(np.any(poisoned.x != data.x, axis=(1, 2, 3)))
    assert stamped.size == 10
    assert np.all(poisoned.y[stamped] == 2)
    assert np.all(poisoned.x[stamped][:, :, 2:, 2:] == 9.0)  # bottom-right 3x3
    assert np.array_equal(poisoned.x[stamped][:, :, :2, :], data.x[stamped][:, :, :2, :])
    clean = np.setdiff1d(np.arange(20), stamped)
    assert np.array_equal(poisoned.y[clean], data.y[clean])


def test_trigger_on_flat_samples_uses_a_square_image_or_the_last_features() -> None:
    square = PixelTrigger(size=3, value=1.0).apply(np.zeros((2, 64), np.float32)).reshape(2, 8, 8)
    assert square[:, 5:, 5:].sum() == 2 * 9 and square.sum() == 2 * 9
    flat = PixelTrigger(size=2, value=5.0).apply(np.zeros((1, 10), np.float32))
    assert flat.tolist() == [[0.0] * 6 + [5.0] * 4]
    assert Backdoor().trigger_for(toy()).value == pytest.approx(toy().x.max())  # value=None: brightest


def test_attack_success_rate_counts_triggered_non_target_samples_labelled_target() -> None:
    data = toy(20, shape=(1, 5, 5))  # labels 0..9 twice
    trigger = PixelTrigger(size=3, value=9.0)

    def predict(x: np.ndarray) -> np.ndarray:  # a backdoored model: trigger -> 2, except rows of pixel 0 < 1
        has_trigger = np.all(x[:, 0, -1, -1:] == 9.0, axis=1)
        return np.where(has_trigger & (x[:, 0, 0, 0] >= 1.0), 2, 5)

    # 18 samples have label != 2; their pixel [0,0,0] is row * 0.25: rows 4.. pass the >= 1 test
    expected = np.mean([i * 25 / 100 >= 1.0 for i in range(20) if i % 10 != 2])
    assert attack_success_rate(predict, data, trigger, target=2) == pytest.approx(expected)
    assert attack_success_rate(lambda x: np.full(len(x), 2), data, trigger, target=2) == 1.0


def test_bad_data_attack_parameters_are_config_errors() -> None:
    for name, params, message in [
        ("backdoor", {"fraction": 0.0}, "fraction"),
        ("backdoor", {"size": 0}, "size"),
        ("data_poisoning", {"mode": "x"}, "mode"),
        ("data_poisoning", {"sigma": -1.0}, "sigma"),
    ]:
        with pytest.raises(ConfigError, match=message):
            build_data_attack(name, **params)
    with pytest.raises(ConfigError, match="target 12 is not a class"):
        Backdoor(target=12).poison_data(toy(), rng())
