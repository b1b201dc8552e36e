"""``edgeledger twin``: the digital-twin platform (list, show, command, audit), the simulated plant and
the plant as real processes (up, node, device).

``list``/``show``/``audit`` read an observation node's ``/v1/twins`` (``--url``, or the one of the
network started in ``--dir``); ``command`` signs a registry call with an account's key from ``--dir``
(the launcher's folder) and follows the command until its acknowledgement is on chain. Bad input
(an unknown twin or command, an argument out of the schema's bounds) is one line and exit code 2; a
command the contract refuses (an account without the right to command that twin) exits 1.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from edgeledger.cli.base import app, console, new_table
from edgeledger.errors import ConfigError, EdgeLedgerError

twin_app = typer.Typer(no_args_is_help=True, help="Digital twins: list, inspect and command machines through the "
                                                 "chain; the simulated plant; the plant as processes.")
app.add_typer(twin_app, name="twin")
DIR_HELP = "The folder given to edgeledger twin up (its accounts' keys, its processes)."
URL_HELP = "An observation node's URL (default: the one of the network in --dir)."


class CommandRefused(EdgeLedgerError):
    """The twin registry refused a command (the sender may not command that twin)."""


def _url(root: Path, url: str | None) -> str:
    if url:
        return url.rstrip("/")
    from edgeledger.deploy.cluster import Cluster
    from edgeledger.deploy.twin_cluster import observer_url

    return observer_url(Cluster.load(root))


def _get(url: str) -> Any:
    from edgeledger.deploy.twin_cluster import get_json

    code, body = get_json(url)
    if code == 0:
        raise ConfigError(f"nothing answers at {url.split('/v1/')[0]}; is the network up (edgeledger twin up)?")
    if code == 503:
        raise EdgeLedgerError(f"the observation node is starting: {body.get('error', '')}")
    return code, body


def _twin(base: str, twin_id: str) -> dict[str, Any]:
    code, body = _get(f"{base}/v1/twins/{twin_id}")
    if code == 200:
        return dict(body)
    if code in (400, 404):
        _, plant = _get(f"{base}/v1/twins")
        known = sorted(t["id"] for e in plant.get("edges", []) for t in e["twins"])
        raise ConfigError(f"twin {twin_id!r}: no such twin; expected one of {known}")
    raise EdgeLedgerError(f"the observation node answered {code}: {body}")


@twin_app.command("list")
def twin_list(root: Path = typer.Option(Path("runs/twin-up"), "--dir", help=DIR_HELP),
              url: str | None = typer.Option(None, help=URL_HELP),
              as_json: bool = typer.Option(False, "--json", help="Print the plant snapshot as JSON.")) -> None:
    """Machines per edge with their latest attested reading, its age, risk and open maintenance order."""
    _, plant = _get(f"{_url(root, url)}/v1/twins")
    if as_json:
        console.print_json(json.dumps(plant))
        return
    table = new_table(title=f"twins at height {plant['height']}")
    for col in ("twin", "edge", "owner", "status", "seq", "age (s)", "readings", "risk", "order", "refused"):
        table.add_column(col)
    for edge in plant["edges"]:
        for t in edge["twins"]:
            r = t["reading"] or {}
            values = ", ".join(f"{v['field'].split('_')[0]} {v['value']:.1f}" for v in r.get("values", []))
            table.add_row(t["id"], t["edge"], t["owner"], r.get("status", t["status"]), str(r.get("seq", "-")),
                          str(r.get("age_s", "-")), values or "-",
                          "-" if t["risk_milli"] < 0 else f"{t['risk_milli'] / 10:.1f} %",
                          f"#{t['open_order']}" if t["open_order"] else "-", str(t["refused"]))
    console.print(table)


@twin_app.command("show")
def twin_show(twin_id: str = typer.Argument(..., help="The twin's id (see edgeledger twin list)."),
              root: Path = typer.Option(Path("runs/twin-up"), "--dir", help=DIR_HELP),
              url: str | None = typer.Option(None, help=URL_HELP),
              as_json: bool = typer.Option(False, "--json", help="Print the twin as JSON.")) -> None:
    """One twin: schema, latest reading with its proof, risk, reading history, commands and orders."""
    d = _twin(_url(root, url), twin_id)
    if as_json:
        console.print_json(json.dumps(d))
        return
    r = d["reading"]
    console.print(f"[b]{d['id']}[/b] {d['kind']} of {d['owner']} at {d['edge']} (gateway {d['gateway']}), "
                  f"{d['status']}, version {d['version']}; granted: {', '.join(d['grants']) or '-'}")
    if r:
        console.print(f"reading seq {r['seq']} ({r['hours']} h, {r['status']}, {r['age_s']} s old), digest "
                      f"{r['digest'][:16]}, tx {r['tx'][:16]}: " + ", ".join(
                          f"{v['field']} {v['value']:.2f} {v['unit']}" for v in r["values"]))
    console.print("risk: " + ("no model yet" if d["risk_milli"] < 0 else
                              f"{d['risk_milli'] / 10:.1f} % under model {d['risk_model'][:16]}"))
    console.print(f"{d['attested']} attested, {d['refused']} refused, {d['failures']} failures; commands: "
                  + ", ".join(f"{c[0]}({', '.join(f'{p[0]} {p[1]}..{p[2]}' for p in c[1])})" for c in d["commands"]))
    table = new_table(title="commands")
    for col in ("id", "command", "issuer", "status", "attempts"):
        table.add_column(col)
    for c in d["commands_log"]:
        table.add_row(str(c["id"]), f"{c['name']} {' '.join(map(str, c['args']))}", c["issuer"], c["status"],
                      "; ".join(f"#{a['attempt']} {a['outcome']} {a['rtt_ms']:.1f} ms" for a in c["attempts"]))
    console.print(table)


def _arguments(d: dict[str, Any], name: str, values: list[str]) -> list[int]:
    schema = {c[0]: c[1] for c in d["commands"]}
    if name not in schema:
        raise ConfigError(f"command {name!r}: twin {d['id']!r} has no such command; expected one of {sorted(schema)}")
    params = schema[name]
    if len(values) != len(params):
        raise ConfigError(f"command {name!r} takes {len(params)} arguments {[p[0] for p in params]}, got {values}")
    out = []
    for text, (param, low, high) in zip(values, params):
        try:
            value = int(text)
        except ValueError:
            raise ConfigError(f"command {name!r}: {param}={text!r} is not an integer") from None
        if not low <= value <= high:
            raise ConfigError(f"command {name!r}: {param}={value} is outside [{low}, {high}]")
        out.append(value)
    return out


@twin_app.command("command")
def twin_command(twin_id: str = typer.Argument(..., help="The twin to command."),
                 name: str = typer.Argument(..., help="The command (set_speed, set_coolant, ...)."),
                 args: list[str] = typer.Argument(None, help="Its integer arguments, e.g. 800."),
                 account: str = typer.Option("engineer", "--as", help="The account that signs (its key in --dir)."),
                 root: Path = typer.Option(Path("runs/twin-up"), "--dir", help=DIR_HELP),
                 url: str | None = typer.Option(None, help=URL_HELP),
                 wait: float = typer.Option(20.0, help="Seconds to wait for the acknowledgement (0: do not wait).")
                 ) -> None:
    """Submit a command transaction and follow it to the actuator's acknowledgement on chain."""
    import time

    from edgeledger.deploy.cluster import Cluster
    from edgeledger.deploy.twin_cluster import submit_call, wait_command, wait_receipt

    base = _url(root, url)
    d = _twin(base, twin_id)
    values = _arguments(d, name, list(args or []))
    cluster = Cluster.load(root)
    if not (root / "accounts" / account / "identity.seed").exists():
        raise ConfigError(f"--as {account!r}: no key for that account in {str(root / 'accounts')!r}")
    started = time.monotonic()
    tx = submit_call(cluster, account, "command", [twin_id, name, values])
    receipt = wait_receipt(cluster, tx, timeout=max(wait, 5.0))
    if not receipt["receipt"]["ok"]:
        raise CommandRefused(f"command refused on chain at height {receipt['height']}: {receipt['receipt']['reason']}")
    _, body = _get(f"{base}/v1/twins/commands?twin={twin_id}")
    cmd = next(c for c in body["commands"] if c["tx"] == tx)
    console.print(f"command {cmd['id']} ({name} {' '.join(map(str, values))} on {twin_id}) committed at height "
                  f"{receipt['height']}, tx {tx[:16]}")
    if not wait:
        return
    done = wait_command(cluster, cmd["id"], timeout=wait)
    attempts = "; ".join(f"attempt {a['attempt']} {a['outcome']} ({a['rtt_ms']:.1f} ms)" for a in done["attempts"])
    console.print(f"{done['status']} after {time.monotonic() - started:.3f} s: {attempts}")
    if done["status"] not in ("acked", "acked-late"):
        raise typer.Exit(1)


@twin_app.command("close-order")
def twin_close_order(order: int = typer.Argument(..., help="The maintenance order's number (see twin list)."),
                     outcome: str = typer.Argument(..., help="repaired, no-fault or failed (what the inspection found)."),
                     account: str = typer.Option(..., "--as", help="The owner company that closes it (its key in --dir)."),
                     root: Path = typer.Option(Path("runs/twin-up"), "--dir", help=DIR_HELP)) -> None:
    """Close a maintenance order after the inspection (the twin's owner only)."""
    from edgeledger.deploy.cluster import Cluster
    from edgeledger.deploy.twin_cluster import submit_call, wait_receipt

    if outcome not in ("repaired", "no-fault", "failed"):
        raise ConfigError(f"outcome {outcome!r}: expected repaired, no-fault or failed")
    if not (root / "accounts" / account / "identity.seed").exists():
        raise ConfigError(f"--as {account!r}: no key for that account in {str(root / 'accounts')!r}")
    cluster = Cluster.load(root)
    receipt = wait_receipt(cluster, submit_call(cluster, account, "close_order", [order, outcome]))
    if not receipt["receipt"]["ok"]:
        raise CommandRefused(f"closing order {order} refused on chain: {receipt['receipt']['reason']}")
    console.print(f"order {order} closed ({outcome}) at height {receipt['height']}")


@twin_app.command("audit")
def twin_audit(twin_id: str = typer.Argument(..., help="The twin whose stored readings to check."),
               root: Path = typer.Option(Path("runs/twin-up"), "--dir", help=DIR_HELP),
               url: str | None = typer.Option(None, help=URL_HELP)) -> None:
    """Re-fetch the twin's stored batches and check them against the chain; exit 1 on any finding."""
    base = _url(root, url)
    _twin(base, twin_id)
    _, body = _get(f"{base}/v1/twins/{twin_id}/audit")
    console.print(f"{body['checked']} stored batches of {twin_id} checked against their on-chain digests: "
                  f"{len(body['findings'])} problems")
    for f in body["findings"]:
        console.print(f"  seq {f['seq']}: {f['problem']} (digest {f['digest'][:16]}, reading tx {f['tx'][:16]})")
    if body["findings"]:
        raise typer.Exit(1)


@twin_app.command("simulate")
def twin_simulate(seed: int = typer.Option(7, help="Decides machines, keys, losses, attacks and commands."),
                  edges: int = typer.Option(3, min=1, help="Edges (each an oracle member and a gateway)."),
                  machines: int = typer.Option(3, min=1, help="Machines per edge."),
                  hours: int = typer.Option(480, min=8, help="Operating hours each machine runs."),
                  out: Path | None = typer.Option(None, help="Write the figures and counts here (JSON)."),
                  serve: int = typer.Option(-1, help="Then serve /observe/twins on 127.0.0.1:PORT (0: any port)."),
                  serve_for: float = typer.Option(0.0, help="Stop serving after this many seconds (0: Ctrl-C).")
                  ) -> None:
    """Run the plant in the simulator: train the predictor, run the machines under attack, measure."""
    from edgeledger.twins.experiment import run_plant
    from edgeledger.twins.factory import FactoryConfig

    report, factory = run_plant(FactoryConfig(seed=seed, edges=edges, machines_per_edge=machines, hours=hours))
    figures = report.figures()
    table = new_table(title=f"simulated plant seed={seed}: {edges} edges x {machines} machines, {hours} h each")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for k, v in figures.items():
        table.add_row(k, f"{v:.4g}")
    console.print(table)
    console.print(f"commands {report.command_status}; refused readings {report.refused}; orders {report.orders_on_chain}")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"figures": figures, "commands": report.command_status, "refused": report.refused,
                                   "orders": report.orders_on_chain, **report.extra}, indent=1) + "\n")
    if serve >= 0:
        _serve_simulation(factory, serve, serve_for)


def _serve_simulation(factory: Any, port: int, duration: float) -> None:
    import asyncio

    from aiohttp import web

    from edgeledger.deploy.bootstrap import serve_app
    from edgeledger.web.twin_api import TwinSource, install_twin_api
    from edgeledger.web.twin_page import install_twin_page

    node = factory.nodes[factory.observer]
    source = TwinSource(node=lambda: node, fetch=factory.store.fetch, now_ms=lambda: int(factory.sim.now * 1000),
                        live=False)
    web_app = web.Application()
    install_twin_api(web_app, source)
    install_twin_page(web_app, source)

    async def run() -> None:
        stop = asyncio.Event()
        try:
            await serve_app(web_app, "127.0.0.1", port, stop, duration_s=duration,
                            started=lambda u: console.print(f"serving the simulated plant at {u}/observe/twins"))
        except asyncio.CancelledError:
            pass

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass


@twin_app.command("up")
def twin_up(root: Path = typer.Option(Path("runs/twin-up"), "--dir", help="Data directories, logs, plan, keys."),
            edges: int = typer.Option(3, min=1, help="Edges (each an oracle member and a gateway)."),
            machines: int = typer.Option(1, min=1, help="Machines (device processes) per edge."),
            period: float = typer.Option(2.0, min=0.1, help="Seconds per sensor batch (8 operating hours)."),
            lossy: bool = typer.Option(True, help="Make the first device drop and the second delay some commands."),
            risk_threshold: float = typer.Option(0.7, min=0.001, max=1.0,
                                                 help="Predicted failure risk that opens a maintenance order."),
            seed: int | None = typer.Option(None, min=0, max=2**32 - 1,
                                            help="Seed of the machines' wear (default: a random one, printed)."),
            detach: bool = typer.Option(False, help="Start and return; stop later with edgeledger down."),
            timeout: float = typer.Option(0.0, help="Stop by itself after this many seconds (0: until Ctrl-C).")
            ) -> None:
    """Start the plant as processes: validators, edges, an observation node and one device per machine."""
    from edgeledger.cli.oracle import hold_cluster
    from edgeledger.deploy.twin_cluster import (
        observer_url,
        start_twin_network,
        wait_twins_ready,
    )
    from edgeledger.deploy.twin_plan import plan_twin_network

    plan = plan_twin_network(edges, machines, period_s=period, lossy=lossy, seed=seed,
                             risk_threshold_milli=round(risk_threshold * 1000))
    console.print(f"plant seed {plan.seed} (--seed {plan.seed} reruns it); orders open at risk >= "
                  f"{plan.risk_threshold_milli / 1000:g}", soft_wrap=True)
    cluster = start_twin_network(plan, root)

    def ready() -> None:
        twins = wait_twins_ready(cluster)
        console.print(f"plant ready: {len(twins)} twins registered; open {observer_url(cluster)}/observe/twins")

    hold_cluster(cluster, root, ready, f"command a machine with: edgeledger twin command m0 set_speed 800 --dir {root}",
                 detach, timeout)


@twin_app.command("node")
def twin_node(node_id: str = typer.Option(..., "--id", help="This process's id in the plan (v0, e1, obs)."),
              plan: Path = typer.Option(..., help="The twin-plan.json written by edgeledger twin up."),
              center_url: str = typer.Option(..., "--center", help="URL of the communication center."),
              data_dir: Path = typer.Option(..., help="Identity, keys, shares, chain (SQLite), blobs; reuse to resume."),
              listen: str = typer.Option("127.0.0.1:0", help="HOST:PORT to serve on (port 0: one the OS picks)."),
              admin_token: str | None = typer.Option(None, envvar="EDGELEDGER_ADMIN_TOKEN",
                                                        help="Token for admin actions (POST /v1/admin/shutdown).")
              ) -> None:
    """Run one chain member of the plant (validator, edge or observation node)."""
    from edgeledger.deploy.bootstrap import (
        PlanProcessOptions,
        parse_listen,
        run_until_signal,
    )
    from edgeledger.deploy.twin_process import run_twin_node

    host, port = parse_listen(listen)
    opts = PlanProcessOptions(node_id=node_id, plan_file=plan, center=center_url.rstrip("/"), data_dir=data_dir,
                              host=host, port=port, admin_token=admin_token)
    run_until_signal(lambda stop: run_twin_node(opts, stop))


@twin_app.command("device")
def twin_device(device_id: str = typer.Option(..., "--id", help="The device's id in the plan (dev-m0, ...)."),
                plan: Path = typer.Option(..., help="The twin-plan.json written by edgeledger twin up."),
                center_url: str = typer.Option(..., "--center", help="URL of the communication center."),
                data_dir: Path = typer.Option(..., help="The device's sensor and actuator seeds (from the dealer)."),
                listen: str = typer.Option("127.0.0.1:0", help="HOST:PORT to serve on (port 0: one the OS picks).")
                ) -> None:
    """Run one machine as a device process: signed sensor batches out, commands in."""
    from edgeledger.deploy.bootstrap import parse_listen, run_until_signal
    from edgeledger.deploy.machine_process import DeviceOptions, run_device

    host, port = parse_listen(listen)
    opts = DeviceOptions(device_id=device_id, plan_file=plan, center=center_url.rstrip("/"), data_dir=data_dir,
                         host=host, port=port)
    run_until_signal(lambda stop: run_device(opts, stop))
