import edgeledger.oracle as oracle
from edgeledger.ledger.contracts import contract_types
from edgeledger.ledger.state import tx_kinds


def test_public_api_names_exist_and_kinds_are_registered():
    assert sorted(set(oracle.__all__)) == sorted(oracle.__all__)
    for name in oracle.__all__:
        assert hasattr(oracle, name), name
    for kind in ("oracle.fulfill", "xchain.deliver", "xchain.ack"):
        assert kind in tx_kinds
    for code in ("pedal.oracle_proxy@1", "pedal.sensor_feed@1", "pedal.xchain_gateway@1"):
        assert code in contract_types


def test_oracle_modules_do_no_io():
    import ast
    from pathlib import Path

    forbidden = {"asyncio", "socket", "time", "threading", "aiohttp", "httpx", "requests", "uvicorn", "random"}
    for path in Path(oracle.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        if path.name in ("enrollment.py", "simnet.py", "multichain.py"):
            names.discard("random")  # builders: a seeded random.Random for the dealer only
        assert not names & forbidden, (path.name, names & forbidden)
