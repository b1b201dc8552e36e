from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from edgeledger.errors import ConfigError, DatasetError
from edgeledger.fl.datasets import Dataset
from edgeledger.fl.models import build_model
from edgeledger.fl.params import get_flat_params, set_flat_params
from edgeledger.fl.training import TrainResult, evaluate, train_local


def _train_mlp(train: Dataset, seed: int, **kwargs: float) -> tuple[np.ndarray, TrainResult]:
    model = build_model("mlp", train.input_shape, train.n_classes, seed=0)
    result = train_local(model, train, epochs=5, batch_size=32, lr=0.1, seed=seed, **kwargs)
    return get_flat_params(model), result


def test_mlp_on_digits_reaches_85_percent(digits: tuple[Dataset, Dataset]) -> None:
    train, test = digits
    model = build_model("mlp", train.input_shape, train.n_classes, seed=0)
    before, _ = evaluate(model, test)
    result = train_local(model, train, epochs=5, batch_size=32, lr=0.1, seed=0)
    accuracy, loss = evaluate(model, test)
    assert result == TrainResult(n_samples=1437, mean_loss=result.mean_loss, steps=5 * 45)
    assert before < 0.3 and accuracy > 0.85 and loss < result.mean_loss


def test_training_is_bit_identical_for_the_same_seed(digits: tuple[Dataset, Dataset]) -> None:
    a, ra = _train_mlp(digits[0], seed=11, momentum=0.9)
    b, rb = _train_mlp(digits[0], seed=11, momentum=0.9)
    c, _ = _train_mlp(digits[0], seed=12, momentum=0.9)
    assert np.array_equal(a, b) and ra == rb
    assert not np.array_equal(a, c)


def test_proximal_term_keeps_weights_near_global(digits: tuple[Dataset, Dataset]) -> None:
    train = digits[0].subset(np.arange(200))
    start = get_flat_params(build_model("mlp", train.input_shape, 10, seed=0))
    plain, _ = _train_mlp(train, seed=0)
    prox, _ = _train_mlp(train, seed=0, proximal_mu=1.0)
    prox_explicit, _ = _train_mlp(train, seed=0, proximal_mu=1.0, global_params=start)
    assert np.linalg.norm(prox - start) < np.linalg.norm(plain - start)
    assert np.array_equal(prox, prox_explicit)


def test_evaluate_restores_training_mode_and_needs_no_grad(digits: tuple[Dataset, Dataset]) -> None:
    model = build_model("mlp", (64,), 10, seed=0)
    model.train()
    acc_small_batches = evaluate(model, digits[1], batch_size=7)
    acc_one_batch = evaluate(model, digits[1])
    assert model.training
    assert acc_small_batches[0] == acc_one_batch[0]
    assert acc_small_batches[1] == pytest.approx(acc_one_batch[1], rel=1e-5)
    assert all(p.grad is None for p in model.parameters())


def test_training_a_round_copy_does_not_touch_the_global_vector(digits: tuple[Dataset, Dataset]) -> None:
    model = build_model("mlp", (64,), 10, seed=0)
    global_vec = get_flat_params(model)
    snapshot = global_vec.copy()
    set_flat_params(model, global_vec)
    train_local(model, digits[0].subset(np.arange(64)), epochs=1, batch_size=16, lr=0.1, seed=0)
    assert np.array_equal(global_vec, snapshot)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"epochs": 0}, "epochs"),
        ({"batch_size": 0}, "batch_size"),
        ({"lr": 0.0}, "lr"),
        ({"momentum": 1.0}, "momentum"),
    ],
)
def test_bad_hyperparameters_are_config_errors(
    digits: tuple[Dataset, Dataset], kwargs: dict, field: str
) -> None:
    args = {"epochs": 1, "batch_size": 8, "lr": 0.1, "seed": 0} | kwargs
    with pytest.raises(ConfigError, match=field):
        train_local(build_model("mlp", (64,), 10, seed=0), digits[0], **args)


def test_empty_dataset_is_a_dataset_error(digits: tuple[Dataset, Dataset]) -> None:
    empty = digits[0].subset(np.array([], dtype=np.int64))
    with pytest.raises(DatasetError, match="empty"):
        train_local(build_model("mlp", (64,), 10, seed=0), empty, epochs=1, batch_size=8, lr=0.1, seed=0)


def test_update_rule_matches_torch_sgd_with_momentum(digits: tuple[Dataset, Dataset]) -> None:
    train = digits[0].subset(np.arange(96))
    ours = build_model("mlp", (64,), 10, seed=0)
    train_local(ours, train, epochs=2, batch_size=32, lr=0.1, seed=5, momentum=0.9)

    reference = build_model("mlp", (64,), 10, seed=0)
    optimizer = torch.optim.SGD(reference.parameters(), lr=0.1, momentum=0.9)
    generator = torch.Generator().manual_seed(5)
    x, y = torch.from_numpy(train.x), torch.from_numpy(train.y)
    for _ in range(2):
        order = torch.randperm(len(train), generator=generator)
        for start in range(0, len(train), 32):
            idx = order[start : start + 32]
            optimizer.zero_grad()
            F.cross_entropy(reference(x[idx]), y[idx]).backward()
            optimizer.step()
    assert np.allclose(get_flat_params(ours), get_flat_params(reference), atol=1e-6)
