"""Scenarios: the schema of a run, the simulated network built from it, the runner, the
results folder, the experiments of the papers, figures, and the Python API's run
(:mod:`edgeledger.scenario.session`)."""
