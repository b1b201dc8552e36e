"""The design documents in docs/ stay true to the code: the packages they draw, the layer
order they state, and the links between them."""

import re

from tests.test_layers import PKG, RANK

DOCS = PKG.parent / "docs"


def _packages() -> set[str]:
    return {p.name for p in PKG.iterdir() if p.is_dir() and any(p.glob("*.py"))}


def test_the_architecture_diagram_draws_every_package_and_no_other():
    text = (DOCS / "architecture.md").read_text()
    diagram = re.search(r"```mermaid\n(.*?)```", text, re.S).group(1)
    drawn = set(re.findall(r'\w+\["<b>(\w+)</b>', diagram))
    assert drawn == _packages()


def test_the_layer_order_in_the_docs_is_the_one_the_import_test_enforces():
    stated = re.search(r"`(crypto/codec ← .*? ← cli)`", (DOCS / "design.md").read_text()).group(1)
    ranks = [[name.strip("()") for name in rank.strip().split(", ")] for rank in stated.split(" ← ")]
    ranks[0] = ["crypto", "codec"]  # "crypto/codec": the base rank
    assert [sorted({RANK[n] for n in rank}) for rank in ranks] == [[r] for r in range(len(ranks))]
    assert {n for rank in ranks for n in rank} - {"codec"} == _packages()


def test_links_between_the_documents_resolve():
    for doc in [*DOCS.glob("*.md"), PKG.parent / "README.md"]:
        for target in re.findall(r"\]\(((?:docs/)?[\w-]+\.md)(?:#[\w-]+)?\)", doc.read_text()):
            assert (doc.parent / target).exists(), f"{doc.name} links {target}"


def test_the_readme_architecture_section_points_to_the_document():
    readme = (PKG.parent / "README.md").read_text()
    section = readme.split("## Architecture", 1)[1].split("\n## ", 1)[0]
    assert "docs/architecture.md" in section
    for package in _packages():
        assert f"{package}/" in section, package
