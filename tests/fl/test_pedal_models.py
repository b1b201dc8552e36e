from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from edgeledger.errors import ConfigError
from edgeledger.fl.aggregators import FedAvg
from edgeledger.fl.datasets import Dataset
from edgeledger.fl.models import build_model, models
from edgeledger.fl.params import get_flat_params, params_from_bytes, params_to_bytes, set_flat_params
from edgeledger.fl.training import evaluate, train_local

PEDAL = [("pedal_mnist_cnn", (1, 28, 28), 8_490), ("mcmahan_cnn", (1, 28, 28), 1_663_370),
         ("pedal_fmnist_cnn", (1, 28, 28), 29_034), ("pedal_cifar_vgg", (3, 32, 32), 9_225_610)]


@pytest.mark.parametrize(("name", "shape", "n_weights"), PEDAL)
def test_pedal_cnns_have_the_stated_shapes_and_sizes(name: str, shape: tuple[int, ...], n_weights: int) -> None:
    model = build_model(name, shape, 10, seed=0)
    assert model(torch.zeros(2, *shape)).shape == (2, 10)
    assert sum(p.numel() for p in model.parameters()) == n_weights
    with pytest.raises(ConfigError, match=f"{name} expects input_shape"):
        build_model(name, (64,), 10, seed=0)


def test_pedal_table_i_is_mnist_cnn_and_table_iii_is_an_eight_convolution_vgg11() -> None:
    table_i, ours = build_model("pedal_mnist_cnn", (1, 28, 28), 10, seed=3), build_model("mnist_cnn", (1, 28, 28), 10, seed=3)
    assert np.array_equal(get_flat_params(table_i), get_flat_params(ours))  # the same network, the same init
    convs = [(m.in_channels, m.out_channels, m.kernel_size) for m in table_i.modules() if isinstance(m, nn.Conv2d)]
    assert convs == [(1, 10, (5, 5)), (10, 20, (5, 5))]
    assert [(m.in_features, m.out_features) for m in table_i.modules() if isinstance(m, nn.Linear)] == [(320, 10)]
    vgg = build_model("pedal_cifar_vgg", (3, 32, 32), 10, seed=0)
    widths = [m.out_channels for m in vgg.modules() if isinstance(m, nn.Conv2d)]
    assert widths == [64, 128, 256, 256, 512, 512, 512, 512]
    assert all(m.kernel_size == (3, 3) for m in vgg.modules() if isinstance(m, nn.Conv2d))
    assert [(m.in_features, m.out_features) for m in vgg.modules() if isinstance(m, nn.Linear)] == [(512, 10)]
    assert sum(isinstance(m, nn.MaxPool2d) for m in vgg.modules()) == 5


def test_batch_norm_buffers_round_trip_through_flat_params_and_bytes() -> None:
    model = build_model("pedal_fmnist_cnn", (1, 28, 28), 10, seed=1)
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(4, 1, 28, 28))
    state = model.state_dict()
    assert int(state["1.num_batches_tracked"]) == 3 and state["1.num_batches_tracked"].dtype == torch.int64
    vec = params_from_bytes(params_to_bytes(get_flat_params(model)))
    twin = build_model("pedal_fmnist_cnn", (1, 28, 28), 10, seed=2)
    set_flat_params(twin, vec)
    for key, value in twin.state_dict().items():
        assert value.dtype == state[key].dtype and torch.equal(value, state[key]), key


def test_num_batches_tracked_survives_large_counts_and_averaging() -> None:
    a = build_model("pedal_fmnist_cnn", (1, 28, 28), 10, seed=0)
    b = build_model("pedal_fmnist_cnn", (1, 28, 28), 10, seed=0)
    a.state_dict()["1.num_batches_tracked"].fill_(2**24 - 1)  # largest exact count in float32
    b.state_dict()["1.num_batches_tracked"].fill_(2**24 - 3)
    mean = FedAvg().aggregate(np.stack([get_flat_params(a), get_flat_params(b)]), np.array([1.0, 1.0]))
    set_flat_params(a, mean)
    assert int(a.state_dict()["1.num_batches_tracked"]) == 2**24 - 2


def test_a_user_module_registered_by_decorator_trains_and_evaluates(digits: tuple[Dataset, Dataset]) -> None:
    class TinyNet(nn.Module):
        def __init__(self, n_in: int, n_classes: int) -> None:
            super().__init__()
            self.body = nn.Sequential(nn.Linear(n_in, 32), nn.BatchNorm1d(32), nn.ReLU())
            self.head = nn.Linear(32, n_classes)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.body(x.flatten(1)))

    name = "test_user_tiny_net"
    if name not in models:
        @models.register(name)
        def build_tiny(input_shape: tuple[int, ...], n_classes: int) -> nn.Module:
            return TinyNet(math.prod(input_shape), n_classes)

    train, test = digits
    model = build_model(name, train.input_shape, train.n_classes, seed=0)
    before = evaluate(model, test)[0]
    global_params = get_flat_params(model)
    for round_ in range(3):  # a tiny FedAvg loop over two clients, no scenario machinery
        halves = [train.subset(np.arange(k, len(train), 2)) for k in (0, 1)]
        uploads = []
        for k, part in enumerate(halves):
            set_flat_params(model, global_params)
            train_local(model, part, epochs=1, batch_size=32, lr=0.1, seed=10 * round_ + k)
            uploads.append(get_flat_params(model))
        global_params = FedAvg().aggregate(np.stack(uploads), np.array([len(h) for h in halves]))
    set_flat_params(model, global_params)
    after = evaluate(model, test)[0]
    assert after > 0.85 > before
