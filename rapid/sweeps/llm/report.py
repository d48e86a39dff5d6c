"""The weak-to-strong sweeps' report (the `report` of the `w2s` trainable): accuracies over seeds,
PGR per (weak, strong) pair, a PGR heat map per task and loss, and PGR against the weak-strong gap.

A pair's PGR is called only where its gap (ceiling minus weak accuracy, averaged over seeds)
exceeds twice the gap's standard deviation over seeds; others are reported as too close to call
(their PGR divides by a gap that is mostly noise).
"""

import math
import statistics
from collections import defaultdict
from typing import Any

from rapid.platform.plots import figure_png, plt
from rapid.platform.run_dir import PLOTS, RunDir
from rapid.sweeps.llm.config import SIZES, ModelRef


def spread(values: list[float]) -> dict[str, float]:
    """Mean and standard deviation over seeds (0 for one seed), and how many."""
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return {"mean": math.nan, "std": math.nan, "seeds": 0}
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0, "seeds": len(values)}


def _name(ref: Any) -> str:
    return ModelRef.model_validate(ref).name


def _order(names: set[str]) -> list[str]:
    """Ladder sizes smallest first, then model folders by name."""
    return sorted(names, key=lambda n: (SIZES.index(n) if n in SIZES else len(SIZES), n))


def w2s_report(trials: list[tuple[dict[str, Any], dict[str, Any]]], run: RunDir) -> dict[str, Any]:
    """Figures for summary.json (and plots in <run>/plots/) from each trial's (config, last result)."""
    models: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    pairs: dict[tuple[str, str, str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for config, result in trials:
        if config.get("model") is not None:
            key = (config["task"], _name(config["model"]))
            for figure in ("weak_accuracy", "ceiling_accuracy"):
                models[key][figure].append(result.get(figure, math.nan))
        elif config.get("pair") is not None:
            weak, strong = (_name(ref) for ref in config["pair"])
            key = (config["task"], config.get("loss", "xent"), weak, strong)
            for figure in ("weak_accuracy", "ceiling_accuracy", "student_accuracy", "pgr"):
                pairs[key][figure].append(result.get(figure, math.nan))
            pairs[key]["gap"].append(result.get("ceiling_accuracy", math.nan) - result.get("weak_accuracy", math.nan))
    report: dict[str, Any] = {}
    if models:
        report["models"] = [{"task": task, "model": model, **{k: spread(v) for k, v in figures.items()}}
                            for (task, model), figures in sorted(models.items())]
    if pairs:
        rows = []
        for (task, loss, weak, strong), figures in sorted(pairs.items()):
            gap = spread(figures["gap"])
            called = gap["seeds"] > 1 and gap["mean"] > 2 * gap["std"]
            rows.append({"task": task, "loss": loss, "weak": weak, "strong": strong, "called": called,
                         **{k: spread(v) for k, v in figures.items()}})
        report["pairs"] = rows
        for name, png in _plots(rows).items():
            run.write_bytes(f"{PLOTS}/{name}", png)
    return report


def _plots(rows: list[dict[str, Any]]) -> dict[str, bytes]:
    """pgr_<task>.png: a heat map per loss (weak rows, strong columns; blank where too close to
    call); pgr_vs_gap.png: every pair's PGR against its gap, by loss."""
    plots = {}
    for task in sorted({r["task"] for r in rows}):
        of_task = [r for r in rows if r["task"] == task]
        losses = sorted({r["loss"] for r in of_task})
        weak = _order({r["weak"] for r in of_task})
        strong = _order({r["strong"] for r in of_task})
        fig, axes = plt.subplots(1, len(losses), figsize=(4 * len(losses), 3.5), squeeze=False)
        for ax, loss in zip(axes[0], losses, strict=True):
            grid = [[math.nan] * len(strong) for _ in weak]
            for r in of_task:
                if r["loss"] == loss:
                    value = r["pgr"]["mean"]
                    grid[weak.index(r["weak"])][strong.index(r["strong"])] = value if r["called"] else math.nan
                    ax.text(strong.index(r["strong"]), weak.index(r["weak"]), f"{value:.2f}" if r["called"] else "~",
                            ha="center", va="center", fontsize=9)
            image = ax.imshow(grid, cmap="viridis", vmin=0, vmax=1)
            ax.set(xticks=range(len(strong)), xticklabels=strong, yticks=range(len(weak)), yticklabels=weak,
                   xlabel="strong", ylabel="weak", title=f"{task}: PGR, {loss}")
        fig.colorbar(image, ax=axes[0].tolist())
        plots[f"pgr_{task}.png"] = figure_png(fig)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for loss in sorted({r["loss"] for r in rows}):
        chosen = [r for r in rows if r["loss"] == loss and r["called"]]
        ax.scatter([r["gap"]["mean"] for r in chosen], [r["pgr"]["mean"] for r in chosen], label=loss)
    ax.axhline(0, color="grey", lw=0.5)
    ax.set(xlabel="gap: ceiling - weak accuracy", ylabel="PGR", title="PGR against the weak-strong gap (called pairs)")
    ax.legend()
    plots["pgr_vs_gap.png"] = figure_png(fig)
    return plots
