from __future__ import annotations

import importlib
import inspect
import pkgutil

import edgeledger.fl as fl
from edgeledger.fl.aggregators import Aggregator, aggregators
from edgeledger.fl.attacks import ModelAttack, attacks
from edgeledger.registry import Registry


def _load_all_fl_modules() -> None:
    for info in pkgutil.walk_packages(fl.__path__, prefix="edgeledger.fl."):
        importlib.import_module(info.name)


def _concrete_subclasses(base: type) -> list[type]:
    found, stack = [], [base]
    while stack:
        for sub in stack.pop().__subclasses__():
            stack.append(sub)
            if not inspect.isabstract(sub) and sub.__module__.startswith("edgeledger."):
                found.append(sub)
    return found


def test_fl_all_is_exactly_the_public_names() -> None:
    assert len(fl.__all__) == len(set(fl.__all__))
    for name in fl.__all__:
        assert hasattr(fl, name), name
    public = {n for n, v in vars(fl).items() if not n.startswith("_") and not inspect.ismodule(v)}
    public -= {"annotations"}
    assert public == set(fl.__all__)


def test_registry_names_win_over_same_named_submodules() -> None:
    _load_all_fl_modules()
    for name in ("datasets", "models", "aggregators", "attacks"):
        assert isinstance(getattr(fl, name), Registry), name
    assert callable(fl.partition) and not inspect.ismodule(fl.partition)


def test_every_concrete_aggregator_is_registered_under_its_name() -> None:
    _load_all_fl_modules()
    classes = _concrete_subclasses(Aggregator)
    assert classes
    for cls in classes:
        assert cls.name and aggregators.get(cls.name) is cls, cls


def test_every_concrete_attack_is_registered_under_its_name() -> None:
    _load_all_fl_modules()
    classes = _concrete_subclasses(ModelAttack)
    assert classes
    for cls in classes:
        assert cls.name and attacks.get(cls.name) is cls, cls


def test_aggregators_and_attacks_import_no_io_modules() -> None:
    forbidden = {"asyncio", "socket", "time", "random", "torch", "os", "urllib", "http"}
    for package in ("edgeledger.fl.aggregators", "edgeledger.fl.attacks"):
        root = importlib.import_module(package)
        for info in pkgutil.walk_packages(
            importlib.import_module(package).__path__ if hasattr(root, "__path__") else [],
            prefix=package + ".",
        ):
            source = inspect.getsource(importlib.import_module(info.name))
            imported = {
                line.split()[1].split(".")[0]
                for line in source.splitlines()
                if line.startswith(("import ", "from "))
            }
            assert not imported & forbidden, (info.name, imported & forbidden)
            assert "open(" not in source, info.name
