"""``edgeledger consensus``: replay one Byzantine test scenario, or run a campaign of them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from edgeledger.cli.base import app, console

consensus_app = typer.Typer(no_args_is_help=True, help="The PBFT Byzantine test engine: replay a scenario by its "
                                                         "id, run a campaign (Twins, scripted strategies, faults).")
app.add_typer(consensus_app, name="consensus")


@consensus_app.command("replay")
def replay(scenario_id: str = typer.Argument(..., help="A scenario id, e.g. twins:4:2:1234, strategy:equivocate:7, "
                                                        "random:large:728, mixed:42, twins-random:7:3."),
           trace: bool = typer.Option(False, "--trace", help="Print every delivery, timer, crash and commit."),
           last: int = typer.Option(0, "--last", min=0, help="With --trace: only the last N lines (0: all).")) -> None:
    """Run one scenario exactly as the campaign did; exit 1 if an invariant failed."""
    from edgeledger.consensus.testing import run_scenario, scenario_from_id

    scenario = scenario_from_id(scenario_id)
    console.print(scenario.describe(), highlight=False, soft_wrap=True)
    outcome = run_scenario(scenario, trace=trace)
    if trace:
        for line in outcome.trace[-last:] if last else outcome.trace:
            console.print(line, highlight=False, soft_wrap=True)
    console.print(f"events {outcome.events}, simulated {outcome.simulated_s:.2f} s, honest height "
                  f"{outcome.committed}", highlight=False)
    if outcome.violations:
        for v in outcome.violations:
            console.print(f"[red]VIOLATION[/red] {v}", highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    console.print("no violations", style="green")


@consensus_app.command("campaign")
def campaign(plan: str = typer.Option("quick", "--plan", help="quick (about a minute on two cores), ci or full "
                                                              "(at least 10,000 Twins and 10,000 random schedules)."),
             workers: int = typer.Option(2, "--workers", min=1, help="Worker processes."),
             first_seed: int = typer.Option(0, "--first-seed", min=0, help="Seed of the first random scenario."),
             stop_on_first: bool = typer.Option(False, "--stop-on-first", help="Stop at the first violation."),
             corpus: Optional[Path] = typer.Option(None, "--corpus", help="Append failing scenario ids to this file "
                                                                         "(tests/consensus/corpus.txt is what CI "
                                                                         "replays).")) -> None:
    """Run a plan of scenarios and print its figures (last line: JSON); exit 1 on any violation."""
    from edgeledger.consensus.testing.campaign import PLANS, append_corpus, run_campaign, scenario_ids
    from edgeledger.errors import ConfigError

    if plan not in PLANS:
        raise ConfigError(f"--plan {plan!r} is not a plan; expected one of {sorted(PLANS)}")
    report = run_campaign(scenario_ids(PLANS[plan], first_seed), workers=workers, stop_on_first=stop_on_first)
    if corpus is not None and report.failures:
        added = append_corpus(corpus, report.failures)
        console.print(f"{added} new failing scenario(s) added to {corpus}")
    figures = report.figures()
    console.print(f"{figures['twins_scenarios']} Twins scenarios and {figures['schedules']} other schedules, "
                  f"{figures['violations']} violations, {figures['double_votes']} honest double votes, "
                  f"{figures['simulated_s']} simulated s in {figures['wall_s']} s", highlight=False)
    print(json.dumps(figures))
    if report.failures:
        raise typer.Exit(1)
