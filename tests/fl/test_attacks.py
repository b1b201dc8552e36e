from __future__ import annotations

import numpy as np
import pytest

from edgeledger.errors import ConfigError
from edgeledger.fl.attacks import SignFlip, attacks, build_attack


def test_sign_flip_reverses_and_scales_the_update() -> None:
    local = np.array([1.0, 2.0, 3.0], np.float32)
    global_model = np.array([1.0, 1.0, 1.0], np.float32)
    poisoned = SignFlip().poison(local, global_model, np.random.default_rng(0))
    # global - 4 * (local - global) = 1 - 4 * [0, 1, 2]
    assert poisoned.dtype == np.float32 and poisoned.tolist() == [1.0, -3.0, -7.0]


def test_build_attack_sets_scale_and_rejects_bad_values() -> None:
    attack = build_attack("sign_flip", scale=10.0)
    assert isinstance(attack, SignFlip) and attack.scale == 10.0
    with pytest.raises(ConfigError, match="scale"):
        build_attack("sign_flip", scale=-1.0)
    with pytest.raises(ConfigError, match="strength"):
        build_attack("sign_flip", strength=2)
    assert "sign_flip" in attacks


def test_sign_flip_rejects_mismatched_shapes() -> None:
    with pytest.raises(ConfigError, match=r"\(3,\) and \(2,\)"):
        SignFlip().poison(np.zeros(3), np.zeros(2), np.random.default_rng(0))
