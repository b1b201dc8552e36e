from __future__ import annotations

import pytest
import torch

from edgeledger.errors import ConfigError, RegistryError
from edgeledger.fl.models import build_model, models
from edgeledger.fl.params import get_flat_params


def test_builtin_models_are_registered() -> None:
    assert {"mlp", "mnist_cnn"} <= set(models.names())


def test_mlp_shape_and_parameter_count() -> None:
    model = build_model("mlp", (64,), 10, seed=0)
    assert model(torch.zeros(3, 64)).shape == (3, 10)
    assert sum(p.numel() for p in model.parameters()) == 64 * 64 + 64 + 64 * 10 + 10


def test_mnist_cnn_shape_and_parameter_count() -> None:
    model = build_model("mnist_cnn", (1, 28, 28), 10, seed=0)
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    expected = (1 * 10 * 25 + 10) + (10 * 20 * 25 + 20) + (320 * 10 + 10)
    assert sum(p.numel() for p in model.parameters()) == expected


def test_mnist_cnn_rejects_other_input_shapes() -> None:
    with pytest.raises(ConfigError, match=r"\(1, 28, 28\)"):
        build_model("mnist_cnn", (64,), 10, seed=0)


def test_same_seed_same_weights_different_seed_different_weights() -> None:
    a = get_flat_params(build_model("mlp", (64,), 10, seed=7))
    b = get_flat_params(build_model("mlp", (64,), 10, seed=7))
    c = get_flat_params(build_model("mlp", (64,), 10, seed=8))
    assert (a == b).all() and not (a == c).all()


def test_build_model_leaves_global_torch_rng_untouched() -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    build_model("mlp", (64,), 10, seed=0)
    assert torch.equal(torch.rand(3), expected)


def test_unknown_model_names_the_choices() -> None:
    with pytest.raises(RegistryError, match="mlp"):
        build_model("resnet9000", (64,), 10, seed=0)
