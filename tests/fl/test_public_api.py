from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil

import edgeledger.fl as fl
from edgeledger.fl.aggregators import Aggregator, aggregators
from edgeledger.fl.attacks import ColludingAttack, DataAttack, ModelAttack, attacks, data_attacks
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
    classes = _concrete_subclasses(ModelAttack) + _concrete_subclasses(ColludingAttack)
    assert {"alie", "ipm", "alie_local", "ipm_local"} <= {c.name for c in classes}
    for cls in classes:
        assert cls.name and attacks.get(cls.name) is cls, cls


def test_every_concrete_data_attack_is_registered_under_its_name() -> None:
    _load_all_fl_modules()
    classes = _concrete_subclasses(DataAttack)
    assert {c.name for c in classes} >= {"label_flip", "data_poisoning", "backdoor"}
    for cls in classes:
        assert cls.name and data_attacks.get(cls.name) is cls, cls
    assert not set(data_attacks.names()) & set(attacks.names())  # one namespace in scenario files


def test_aggregators_and_attacks_import_no_io_modules() -> None:
    """docs/style.md rule 2: plug-in math imports no clock, socket, global random, torch or open()."""
    forbidden = {"asyncio", "socket", "time", "random", "torch", "os", "urllib", "http"}
    for package in ("edgeledger.fl.aggregators", "edgeledger.fl.attacks"):
        path = importlib.import_module(package).__path__  # the package, not the same-named registry
        for info in pkgutil.walk_packages(path, prefix=package + "."):
            tree = ast.parse(inspect.getsource(importlib.import_module(info.name)))
            imported = {
                alias.name.split(".")[0]
                for n in ast.walk(tree)
                if isinstance(n, ast.Import)
                for alias in n.names
            }
            imported |= {
                n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module
            }
            calls = {
                n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
            }
            assert not imported & forbidden, (info.name, imported & forbidden)
            assert "open" not in calls, info.name
