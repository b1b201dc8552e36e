"""The documentation site builds with `mkdocs build --strict` (every page in the nav, no broken
link), its scenario reference is generated from the schema, and the plug-in tutorial's code runs."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    pytest.importorskip("mkdocs", reason="pip install -e '.[docs]' (the test extras include it)")
    out = tmp_path_factory.mktemp("site")
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"),
                          "-d", str(out)], capture_output=True, text=True, cwd=ROOT, timeout=300,
                         env={**__import__("os").environ, "NO_MKDOCS_2_WARNING": "1"})
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return out


def test_every_markdown_page_is_in_the_nav(site):
    nav = (ROOT / "mkdocs.yml").read_text()
    pages = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")}
    assert pages == set(re.findall(r":\s+([\w/-]+\.md)\s*$", nav, re.M))
    for page in pages:
        assert (site / page.removesuffix(".md").removesuffix("index") / "index.html").exists() or page == "index.md", page


def test_the_scenario_reference_is_generated_from_the_schema(site):
    from edgeledger.scenario.reference import leaf_keys

    page = (site / "reference" / "scenario" / "index.html").read_text()
    keys = leaf_keys()
    assert len(keys) > 80 and "fl.rounds" in keys and "consensus.pow_zero_bits" in keys
    for key in keys:
        assert f"<code>{key}</code>" in page, key
    assert "registered now:" in page and "<code>trimmed_mean</code>" in page


def test_the_api_reference_comes_from_the_docstrings(site):
    page = (site / "reference" / "api" / "index.html").read_text()
    for name in ("with_overrides", "register_aggregator", "load_results", "check_scenario"):
        assert name in page, name
    assert "Simulate" in page  # the docstring of edgeledger.run


def test_the_plugin_tutorial_code_runs(tmp_path, monkeypatch):
    text = (DOCS / "tutorials" / "plugin.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) >= 4
    code = "\n".join(blocks).replace('el.run(s)', 'el.run(s.with_overrides({"fl.rounds": 1}))')
    namespace: dict = {}
    exec(compile(code, "plugin.md", "exec"), namespace)  # noqa: S102 - our own documentation
    import edgeledger as el

    r = el.run(el.Scenario.demo().with_overrides({"fl.rounds": 1, "fl.model": "tiny_linear", "attacks": [
        {"kind": "zero_update", "fraction": 0.25}], "fl.aggregator": "coordinate_mean", "fl.aggregator_params": {}}))
    assert r.summary["rounds_completed"] == 1
