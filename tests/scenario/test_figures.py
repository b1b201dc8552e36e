"""Figures for a paper: experiment grids as small multiples with shared axes and the legend below
the panels, log-scale traffic, paper sizes, and vector formats on request."""

import pytest

from edgeledger.scenario.experiment_run import ExperimentResult, SettingResult
from edgeledger.scenario.experiments import Experiment, Setting
from edgeledger.scenario.figures import grid_figures, small_multiples


def _grid(tmp_path):
    attacks, rules = ("none", "sign_flip", "label_flip"), ("fedavg", "median")
    exp = Experiment(name="grid", description="", path=tmp_path / "grid.toml", base=tmp_path / "base.toml",
                     axes=(tuple(Setting(a) for a in attacks), tuple(Setting(r) for r in rules)),
                     axis_names=("attack", "aggregator"))
    settings = [SettingResult(label=f"{a} / {r}", slug=f"{a}-{r}", status="done", rounds=[1, 2, 3],
                              accuracy=[0.2 + 0.1 * i + 0.05 * j for j in range(3)], loss=[2.0, 1.5, 1.2],
                              final_accuracy=0.3 + 0.1 * i)
                for i, (a, r) in enumerate((a, r) for a in attacks for r in rules)]
    return ExperimentResult(exp, True, tmp_path, settings)


def test_a_grid_is_one_panel_per_leading_value_with_shared_axes_and_one_legend_below():
    panels = {a: {r: ([1, 2, 3], [0.1, 0.5, 0.9]) for r in ("fedavg", "krum", "median")}
              for a in ("none", "sign_flip", "label_flip", "backdoor")}
    fig = small_multiples(panels, "round", "test accuracy", (0, 1))
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == ["none", "sign_flip", "label_flip", "backdoor"]
    assert all(ax.get_legend() is None for ax in axes) and len(fig.legends) == 1  # no legend over the data
    assert {ax.get_ylim() for ax in axes} == {(0.0, 1.0)} and len({ax.get_xlim() for ax in axes}) == 1
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["fedavg", "krum", "median"]
    assert fig.get_size_inches()[0] <= 7.2  # the text width of a two-column paper


def test_the_legend_below_one_narrow_panel_wraps_instead_of_being_cut_off():
    # One 2.3-inch panel with three settings: a single row of entries was wider than the figure,
    # and the saved PNG cut the first and last entries ("20 clier").
    lines = {f"{n} clients": ([1, 2, 3], [0.2, 0.5, 0.7]) for n in (5, 10, 20)}
    def rows(fig):  # the legend's rows of entries, as drawn
        fig.canvas.draw()
        return len({round(t.get_window_extent().y0) for t in fig.legends[0].get_texts()})

    fig = small_multiples({"fbfl-clients": lines}, "round", "test accuracy", (0, 1))
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == list(lines)
    assert rows(fig) == 2 and legend.get_window_extent().width <= fig.bbox.width
    wide = small_multiples({a: lines for a in ("none", "sign_flip", "label_flip")}, "round", "test accuracy")
    assert rows(wide) == 1  # where one row fits, it stays one row


@pytest.mark.parametrize("fmt, magic", [("svg", b"<?xml"), ("pdf", b"%PDF")])
def test_grid_figures_write_vector_files_on_request(tmp_path, fmt, magic):
    written = grid_figures(_grid(tmp_path), tmp_path / "plots", ("png", fmt))
    names = sorted(p.name for p in written)
    assert names == sorted(f"{m}.{f}" for m in ("accuracy", "loss", "final_accuracy") for f in ("png", fmt))
    assert (tmp_path / "plots" / f"accuracy.{fmt}").read_bytes().startswith(magic)


def test_a_runs_traffic_plot_uses_a_log_scale_and_honours_output_formats(tmp_path):
    import matplotlib.pyplot as plt

    import edgeledger as el
    from edgeledger.scenario import figures

    shown = []
    real_save = figures.save
    figures.save = lambda fig, path, formats=("png",): shown.append(fig) or real_save(fig, path, formats)
    try:
        el.run(el.Scenario.demo().with_overrides({"fl.rounds": 1, "output.formats": ["png", "pdf"]}), out=tmp_path / "r")
    finally:
        figures.save = real_save
    traffic = shown[-1]
    assert [ax.get_yscale() for ax in traffic.axes][0] == "log" and traffic.axes[1].get_xscale() == "log"
    assert sorted(p.name for p in (tmp_path / "r" / "plots").iterdir()) == [
        "accuracy.pdf", "accuracy.png", "traffic.pdf", "traffic.png"]
    plt.close("all")


def test_an_unknown_plot_format_is_one_line(capsys):
    from edgeledger.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["experiment", "run", "fbfl-attacks", "--quick", "--formats", "png,svgg"])
    assert exc.value.code == 2 and "did you mean 'svg'" in capsys.readouterr().err
