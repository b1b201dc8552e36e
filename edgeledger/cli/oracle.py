"""``edgeledger oracle``: a Pedal oracle network as real processes (up, node, request, status)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer

from edgeledger.cli.base import app, console, new_table

if TYPE_CHECKING:
    from rich.table import Table

oracle_app = typer.Typer(no_args_is_help=True, help="Pedal oracles as local processes: a chain with an oracle "
                                                     "network (file requests, watch callbacks) or a federation of "
                                                     "chains with a relay group (cross-chain requests).")
app.add_typer(oracle_app, name="oracle")
DIR_HELP = "The folder given to (or printed by) edgeledger oracle up."


@oracle_app.command("up")
def oracle_up(root: Path = typer.Option(Path("runs/oracle-up"), "--dir", help="Data directories, logs, the plan."),
              validators: int = typer.Option(4, min=1, help="PBFT validators."),
              groups: int = typer.Option(1, min=1, help="Working groups of oracle nodes."),
              group_size: int = typer.Option(4, min=1, help="Oracle nodes per group (threshold ceil(2n/3))."),
              lying: int = typer.Option(1, min=0, help="Members per group reading through a lying gateway."),
              slow: int = typer.Option(1, min=0, help="Members per group reading a slow source."),
              slow_delay: float = typer.Option(1.0, min=0.0, help="Extra seconds the slow source takes."),
              election_timeout: float = typer.Option(0.5, min=0.01, help="Seconds a node waits for a term's VRF "
                                                     "proofs before falling back to the chain's fallback board."),
              observers: int = typer.Option(1, min=0, help="Observation nodes (follow the chain, answer "
                                            "GET /v1/query/oracle/...; see edgeledger oracle query)."),
              requests: int = typer.Option(0, min=0, help="File this many requests once ready and print callbacks."),
              sensor: str = typer.Option("boiler", help="Sensor the demo requests read."),
              detach: bool = typer.Option(False, help="Start and return; stop later with edgeledger down."),
              timeout: float = typer.Option(0.0, help="Stop by itself after this many seconds (0: until Ctrl-C).")
              ) -> None:
    """Start a PBFT chain, Pedal oracle nodes and a requester, each its own process on 127.0.0.1."""
    from edgeledger.deploy.oracle_cluster import (
        file_oracle_request, oracle_status, start_oracle_network, wait_callbacks, wait_oracle_ready,
    )
    from edgeledger.deploy.oracle_plan import plan_oracle_network

    plan = plan_oracle_network(n_validators=validators, n_groups=groups, per_group=group_size, lying=lying,
                               slow=slow, slow_delay_s=slow_delay, election_timeout_s=election_timeout,
                               observers=observers)
    cluster = start_oracle_network(plan, root)

    def ready() -> None:
        wait_oracle_ready(cluster, timeout=90.0)
        console.print("oracle network ready: proxy deployed, oracle nodes registered, group keys generated")
        if requests:
            tx_ids = [file_oracle_request(cluster, sensor) for _ in range(requests)]
            console.print(_requests_table(wait_callbacks(cluster, tx_ids, timeout=60.0)))

    hold_cluster(cluster, root, ready, f"file requests with: edgeledger oracle request --dir {root}", detach, timeout,
          before_stop=lambda: _status(oracle_status(cluster)))


def hold_cluster(cluster: Any, root: Path, ready: Any, hint: str, detach: bool, timeout: float,
          before_stop: Any = None) -> None:
    """Run ``ready``, then return (``detach``) or keep the processes up until ``timeout`` or Ctrl-C and stop them."""
    import time

    from edgeledger.deploy.cluster import stop_cluster

    console.print(f"started {len(cluster.processes)} processes; center {cluster.center}; state in {root}")
    try:
        ready()
        if detach:
            console.print(f"{hint}\nstop with: edgeledger down --dir {root}")
            return
        deadline = time.monotonic() + timeout if timeout else None
        console.print("running; Ctrl-C stops every process")
        while deadline is None or time.monotonic() < deadline:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    except BaseException:
        stop_cluster(cluster)
        raise
    if not detach:
        if before_stop is not None:
            before_stop()
        stop_cluster(cluster)
        console.print("all processes stopped")


@oracle_app.command("node")
def oracle_node(node_id: str = typer.Option(..., "--id", help="This process's id in the plan (v0, o3, requester)."),
                plan: Path = typer.Option(..., help="The oracle-plan.json written by edgeledger oracle up."),
                center_url: str = typer.Option(..., "--center", help="URL of the communication center."),
                data_dir: Path = typer.Option(..., help="Identity, keys, shares, chain (SQLite); reuse to resume."),
                listen: str = typer.Option("127.0.0.1:0", help="HOST:PORT to serve the API and protocol on "
                                                           "(port 0: one the OS picks, registered at the center)."),
                admin_token: Optional[str] = typer.Option(None, envvar="EDGELEDGER_ADMIN_TOKEN",
                                                          help="Token for admin actions (POST /v1/admin/shutdown).")
                ) -> None:
    """Run one member of an oracle network (validator, oracle node, requester or observation node)."""
    from edgeledger.deploy.bootstrap import parse_listen, run_until_signal
    from edgeledger.deploy.oracle_process import OracleNodeOptions, run_oracle_node

    host, port = parse_listen(listen)
    opts = OracleNodeOptions(node_id=node_id, plan_file=plan, center=center_url.rstrip("/"), data_dir=data_dir,
                             host=host, port=port, admin_token=admin_token)
    run_until_signal(lambda stop: run_oracle_node(opts, stop))


@oracle_app.command("request")
def oracle_request(root: Path = typer.Option(Path("runs/oracle-up"), "--dir", help=DIR_HELP),
                   sensor: str = typer.Option("boiler", help="The industrial source to read."),
                   count: int = typer.Option(1, min=1, help="How many requests to file."),
                   wait: float = typer.Option(30.0, help="Seconds to wait for the callbacks (0: do not wait).")
                   ) -> None:
    """File data requests on chain through the requester and print their callbacks."""
    from edgeledger.deploy.cluster import Cluster
    from edgeledger.deploy.oracle_cluster import file_oracle_request, oracle_requests, wait_callbacks

    cluster = Cluster.load(root)
    tx_ids = [file_oracle_request(cluster, sensor) for _ in range(count)]
    if wait:
        console.print(_requests_table(wait_callbacks(cluster, tx_ids, timeout=wait)))
    else:
        console.print(_requests_table([r for r in oracle_requests(cluster) if r["tx_id"] in tx_ids]))


@oracle_app.command("status")
def oracle_status_cmd(root: Path = typer.Option(Path("runs/oracle-up"), "--dir", help=DIR_HELP)) -> None:
    """Each process's part in the oracle network, then every request filed so far."""
    from edgeledger.deploy.cluster import Cluster
    from edgeledger.deploy.oracle_cluster import oracle_requests, oracle_status

    cluster = Cluster.load(root)
    _status(oracle_status(cluster))
    console.print(_requests_table(oracle_requests(cluster)))


@oracle_app.command("query")
def oracle_query(root: Path = typer.Option(Path("runs/oracle-up"), "--dir", help=DIR_HELP),
                 request: Optional[str] = typer.Option(None, help="One request id (oracle#3)."),
                 term: Optional[int] = typer.Option(None, min=0, help="One term: its seed and fallback board."),
                 group: Optional[str] = typer.Option(None, help="One group: members, key, key generation."),
                 requests: bool = typer.Option(False, "--requests", help="The latest requests.")) -> None:
    """Ask an observation node (GET /v1/query/oracle/...) and print its JSON answer."""
    import json
    import urllib.parse

    from edgeledger.deploy.cluster import Cluster
    from edgeledger.deploy.oracle_cluster import query_observer

    path = ("/v1/query/oracle/requests/" + urllib.parse.quote(request, safe="") if request is not None else
            f"/v1/query/oracle/terms/{term}" if term is not None else
            f"/v1/query/oracle/groups/{urllib.parse.quote(group, safe='')}" if group is not None else
            "/v1/query/oracle/requests" if requests else "/v1/query/oracle")
    console.print_json(json.dumps(query_observer(Cluster.load(root), path)))


def _status(status: dict[str, dict[str, Any]]) -> None:
    table = new_table(title="oracle network")
    for col in ("node", "role", "status", "ready", "height", "master of"):
        table.add_column(col)
    for label, info in status.items():
        table.add_row(label, str(info.get("role", "")), str(info.get("status")), str(info.get("ready", "-")),
                      str(info.get("height", "-")), ", ".join(info.get("fulfilled_as_master", [])))
    console.print(table)


def _requests_table(rows: list[dict[str, Any]]) -> Table:
    table = new_table(title="oracle requests")
    for col in ("request", "value", "latency (s)", "fulfilled at height"):
        table.add_column(col)
    for r in rows:
        value = r.get("value_milli")
        table.add_row(str(r.get("request_id") or r["tx_id"][:16]), "-" if value is None else f"{value / 1000:.3f}",
                      "-" if r.get("latency_s") is None else f"{r['latency_s']:.3f}",
                      str(r.get("fulfilled_at_height") or "-"))
    return table


@oracle_app.command("federation-up")
def federation_up(root: Path = typer.Option(Path("runs/federation-up"), "--dir", help="Data directories and logs."),
                  lbcs: int = typer.Option(2, min=2, help="Local chains (lbc1, lbc2, ...) besides the FBC."),
                  validators: int = typer.Option(4, min=1, help="PBFT validators per chain."),
                  relays: int = typer.Option(4, min=2, help="Relay group members (federal-interacting nodes)."),
                  observers: int = typer.Option(1, min=0, help="Observation nodes (follow every chain, serve "
                                                               "/v1/query/...)."),
                  requests: int = typer.Option(1, min=0, help="Cross-chain requests lbc1 -> lbc2 to carry once ready."),
                  detach: bool = typer.Option(False, help="Start and return; stop later with edgeledger down."),
                  timeout: float = typer.Option(0.0, help="Stop by itself after this many seconds (0: until Ctrl-C).")
                  ) -> None:
    """Start a federal chain, local chains and a relay group as processes; carry cross-chain requests."""
    from edgeledger.deploy.federation_cluster import start_federation, wait_federation_ready
    from edgeledger.deploy.federation_plan import plan_federation

    cluster = start_federation(plan_federation(lbcs, validators, relays, observers=observers), root)

    def ready() -> None:
        wait_federation_ready(cluster, timeout=90.0)
        console.print("federation ready: the relay key generated on the FBC and installed on every gateway, "
                      "applications on the local chains")
        for _ in range(requests):
            _xsend(cluster, "lbc1", "lbc2", 1)

    hold_cluster(cluster, root, ready, f"carry requests with: edgeledger oracle xsend --dir {root}", detach, timeout)


@oracle_app.command("federation-node")
def federation_node(node_id: str = typer.Option(..., "--id", help="This process's id (lbc1.v0, relay2, ...)."),
                    plan: Path = typer.Option(..., help="The federation-plan.json written by federation-up."),
                    center_url: str = typer.Option(..., "--center", help="URL of the communication center."),
                    data_dir: Path = typer.Option(..., help="Identity, relay share, chains (SQLite)."),
                    listen: str = typer.Option("127.0.0.1:0", help="HOST:PORT to serve the API and protocol on "
                                                           "(port 0: one the OS picks, registered at the center)."),
                    admin_token: Optional[str] = typer.Option(None, envvar="EDGELEDGER_ADMIN_TOKEN",
                                                              help="Token for admin actions.")) -> None:
    """Run one validator, relay or observation node of a federation."""
    from edgeledger.deploy.bootstrap import parse_listen, run_until_signal
    from edgeledger.deploy.federation_process import FederationNodeOptions, run_federation_node

    host, port = parse_listen(listen)
    opts = FederationNodeOptions(node_id=node_id, plan_file=plan, center=center_url.rstrip("/"), data_dir=data_dir,
                                 host=host, port=port, admin_token=admin_token)
    run_until_signal(lambda stop: run_federation_node(opts, stop))


@oracle_app.command("xsend")
def xsend(root: Path = typer.Option(Path("runs/federation-up"), "--dir", help="The federation-up folder."),
          source: str = typer.Option("lbc1", help="Source local chain (the order is placed here)."),
          dest: str = typer.Option("lbc2", help="Destination local chain (its stock is reserved)."),
          qty: int = typer.Option(1, min=1, help="Units to reserve.")) -> None:
    """Carry one cross-chain request (Fig. 3) and print its callback on the source chain."""
    from edgeledger.deploy.cluster import Cluster

    _xsend(Cluster.load(root), source, dest, qty)


def _xsend(cluster: Any, source: str, dest: str, qty: int) -> None:
    from edgeledger.deploy.federation_cluster import chain_state, send_cross_chain, wait_cross_chain

    tx_id, sent = send_cross_chain(cluster, source, dest, qty)
    done = wait_cross_chain(cluster, source, tx_id, sent)
    console.print(f"{done['msg_id']}: {dest} reserved {qty}, {done['result']} left; callback on {source} after "
                  f"{done['latency_s']:.3f} s; {dest} stock now {chain_state(cluster, dest, 'cs/stock/stock')}")
