"""`edgeledger market ...` in-process: exit codes and output (docs/style.md rule 13)."""

import json

from tests.test_cli import cli


def test_market_demo_prints_tables_and_saves_a_chain_the_other_commands_read(tmp_path, capsys):
    out = tmp_path / "m"
    code, stdout, _ = cli(capsys, "market", "demo", "--out", str(out), "--ens", "4", "--devices", "5")
    assert code == 0
    for text in ("PBFT sealers proxy, company-0, company-1, company-2", "certified by the sealers", "edge nodes",
                 "matches", "payment channels", "token balances", "follow the nearest-node rule", "settled", "open",
                 f"saved: {out}"):
        assert text in stdout.replace("\n", ""), text
    code, stdout, _ = cli(capsys, "market", "channels", "--dir", str(out))
    assert code == 0 and "proxy" in stdout and "settled" in stdout
    code, stdout, _ = cli(capsys, "market", "audit", "--dir", str(out))
    assert code == 0 and "all 5 matches follow the nearest-node rule" in stdout
    code, stdout, _ = cli(capsys, "market", "ens", "--dir", str(out))
    assert code == 0 and "edge-3" in stdout
    code, _, err = cli(capsys, "market", "demo", "--out", str(out))
    assert code == 2 and "already holds a market chain" in err


def test_market_demo_json_conserves_tokens(capsys):
    code, stdout, _ = cli(capsys, "market", "demo", "--json")
    snap = json.loads(stdout)
    assert code == 0 and snap["supply"] == sum(b["balance"] for b in snap["balances"])
    assert {c["code"] for c in snap["contracts"]} == {"edgetoll.matching", "edgetoll.payments"}


def test_market_commands_exit_2_on_bad_input(tmp_path, capsys):
    code, _, err = cli(capsys, "market", "balances", "--dir", str(tmp_path))
    assert code == 2 and "holds no market chain" in err and "market demo --out" in err
    code, _, err = cli(capsys, "market", "sharing", "--edges", "four")
    assert code == 2 and "expected comma-separated integers" in err


def test_market_sharing_prints_latency_rows(capsys):
    code, stdout, _ = cli(capsys, "market", "sharing", "--edges", "4", "--tasks", "1", "--payload-mb", "0.2",
                          "--json")
    (row,) = json.loads(stdout)
    assert code == 0 and row["n_edges"] == 4 and 0 < row["sharing_latency_s"] < row["settled_latency_s"]


def test_a_saved_market_chain_with_a_forged_certificate_is_refused(tmp_path, capsys):
    import sqlite3

    import msgspec

    from edgeledger.codec import encode
    from edgeledger.ledger.store import ChainStore

    out = tmp_path / "m"
    assert cli(capsys, "market", "demo", "--out", str(out), "--ens", "3", "--devices", "3")[0] == 0
    store = ChainStore(out / "chain.sqlite")
    block = store.block(3)
    store.close()
    votes = [msgspec.structs.replace(v, signature=bytes(64)) for v in block.certificate.votes]
    forged = msgspec.structs.replace(block, certificate=msgspec.structs.replace(block.certificate, votes=votes))
    with sqlite3.connect(out / "chain.sqlite") as db:
        db.execute("UPDATE blocks SET body = ? WHERE height = 3", (encode(forged),))
    code, _, err = cli(capsys, "market", "channels", "--dir", str(out))
    assert code == 2 and "does not verify" in err and "block 3" in err and "certificate" in err
