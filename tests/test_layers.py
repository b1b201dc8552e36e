"""Architecture rules of DESIGN.md / STYLE.md, enforced by walking the imports."""

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "edgeledger"

# (package prefix, forbidden top-level modules)
LOW_LAYERS = ["crypto", "ledger", "consensus", "codec.py", "effects.py"]
LOW_FORBIDDEN = {"torch", "aiohttp", "fastapi", "httpx", "uvicorn", "requests", "asyncio", "socket"}
CORES = ["consensus", "fl/round", "fl/aggregators", "fl/attacks"]
CORE_FORBIDDEN = {"asyncio", "socket", "time", "random", "threading", "aiohttp", "httpx", "requests", "uvicorn"}


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
        for name in imports_of(path):
            assert name.split(".")[0] not in CORE_FORBIDDEN, f"{path.relative_to(PKG)} imports {name}"
        source = path.read_text()
        assert "open(" not in source.replace("_open(", ""), f"{path.relative_to(PKG)} opens files"


def test_no_grab_bag_module_names():
    bad = [p for p in PKG.rglob("*.py") if p.stem in {"utils", "helpers", "manager", "misc", "common"}]
    assert bad == []
