"""Architecture rules of docs/design.md and docs/style.md, enforced by walking the imports."""

import ast
import re
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "edgeledger"

# (package prefix, forbidden top-level modules)
LOW_LAYERS = ["crypto", "ledger", "consensus", "codec.py", "effects.py"]
LOW_FORBIDDEN = {"torch", "aiohttp", "fastapi", "httpx", "uvicorn", "requests", "asyncio", "socket"}
CORES = ["consensus", "fl/round", "fl/aggregators", "fl/attacks", "ledger/contracts", "market", "oracle", "twins"]
CORE_FORBIDDEN = {"asyncio", "socket", "time", "threading", "aiohttp", "httpx", "requests", "uvicorn"}
# the Byzantine test engine drives cores as a driver does; only its campaign runner (wall time, worker
# processes) and mutation tool (copies the package) touch the outside; the simulated world must not
ENGINE_RUNNERS = {"consensus/testing/campaign.py", "consensus/testing/mutants.py"}
# an injected random.Random / numpy Generator is fine; the module-level (global) generator is not
GLOBAL_RANDOM = re.compile(r"\b(random|np\.random|numpy\.random)\.(random|randint|randrange|choice|choices|shuffle|uniform|seed|gauss|sample|rand|randn|normal|permutation)\(")


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def files_under(prefix: str) -> list[Path]:
    target = PKG / prefix
    return [target] if target.is_file() else sorted(target.rglob("*.py"))


@pytest.mark.parametrize("prefix", LOW_LAYERS)
def test_low_layers_import_no_torch_http_or_simulator(prefix):
    for path in files_under(prefix):
        for name in imports_of(path):
            top = name.split(".")[0]
            assert top not in LOW_FORBIDDEN, f"{path.relative_to(PKG)} imports {name}"
            assert not name.startswith(("edgeledger.net", "edgeledger.node", "edgeledger.fl", "edgeledger.scenario")), \
                f"{path.relative_to(PKG)} imports {name} from a higher layer"


@pytest.mark.parametrize("prefix", CORES)
def test_protocol_cores_do_no_io(prefix):
    for path in files_under(prefix):
        if str(path.relative_to(PKG)) in ENGINE_RUNNERS:
            continue
        for name in imports_of(path):
            assert name.split(".")[0] not in CORE_FORBIDDEN, f"{path.relative_to(PKG)} imports {name}"
        source = path.read_text()
        assert not re.search(r"(?<![\w.])open\(", source), f"{path.relative_to(PKG)} opens files"
        assert not GLOBAL_RANDOM.search(source), f"{path.relative_to(PKG)} uses a global random generator"


def test_no_grab_bag_module_names():
    bad = [p for p in PKG.rglob("*.py") if p.stem in {"utils", "helpers", "manager", "misc", "common"}]
    assert bad == []


# docs/design.md: crypto/codec <- ledger <- consensus <- net <- node <- (fl, offload, oracle, market, twins) <- scenario
# <- web <- deploy <- bench <- cli
RANK = {"errors": 0, "registry": 0, "codec": 0, "effects": 0, "crypto": 0, "ledger": 1, "consensus": 2, "net": 3,
        "node": 4, "fl": 5, "offload": 5, "oracle": 5, "market": 5, "twins": 5, "scenario": 6, "web": 7, "deploy": 8, "bench": 9,
        "cli": 10, "__main__": 11, "__init__": 11}
# allowed sideways imports inside one rank (a plug-in layer may use another's public API)
SIDEWAYS = {("offload", "fl"), ("oracle", "fl"), ("market", "fl"), ("twins", "fl"), ("twins", "oracle")}


def _layer(path: Path) -> str:
    rel = path.relative_to(PKG)
    return rel.parts[0].removesuffix(".py")


def test_imports_only_point_down_the_layer_order():
    for path in sorted(PKG.rglob("*.py")):
        here = _layer(path)
        for name in imports_of(path):
            if not name.startswith("edgeledger."):
                continue
            there = name.split(".")[1]
            if there == here or there not in RANK:
                continue
            ok = RANK[there] < RANK[here] or RANK[there] == RANK[here] == 0 or (here, there) in SIDEWAYS
            assert ok, f"{path.relative_to(PKG)} ({here}) imports {name} ({there}): arrows must point down"


def test_every_package_has_a_place_in_the_layer_order():
    tops = {p.relative_to(PKG).parts[0].removesuffix(".py") for p in PKG.rglob("*.py")}
    assert tops <= set(RANK), f"not in the layer order: {sorted(tops - set(RANK))}"


def test_no_private_name_is_imported_from_another_module():
    """A leading underscore means "this module's business": another module that needs it gets a public name."""
    found = []
    for path in sorted(PKG.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("edgeledger")):
                found += [f"{path.relative_to(PKG)}: {a.name} from {node.module}" for a in node.names
                          if a.name.startswith("_") and not a.name.startswith("__")]
    assert found == []


def _module_graph() -> dict[str, set[str]]:
    """module -> the edgeledger modules it imports anywhere (inside functions too)."""
    modules = {}
    for path in PKG.rglob("*.py"):
        parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {}
    for name, path in modules.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                deps |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                deps |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
        # a module importing its own package (an __init__ that re-exports it) is no cycle of two ideas
        graph[name] = {d for d in deps if d in modules and d != name and not name.startswith(d + ".")}
    return graph


def test_no_two_modules_import_each_other_even_inside_functions():
    graph = _module_graph()
    cycles = []
    for start in sorted(graph):
        stack, seen = [(start, [start])], set()
        while stack:
            here, path = stack.pop()
            for there in sorted(graph[here]):
                if there == start:
                    cycles.append(" -> ".join(path + [start]))
                elif there not in seen:
                    seen.add(there)
                    stack.append((there, path + [there]))
    assert cycles == []
