"""D2R ablations (D2R paper, Fig. 7): routing function (top-2 sampled = D2R, top-1 hard, soft),
SampleK on/off, ResRouting / target routing / none, route balancing on/off, and routing level.

    python experiments/ablations/d2r.py             # MT10, 20M steps, 5 seeds
    python experiments/ablations/d2r.py --quick     # point-mt, tiny budget, one seed

Prints one row per variant (mean +- std of final success across seeds) and the mean number of
modules the final policy uses (from the runs' training logs).

Routing level (Fig. 7(d)): the layer- and model-level rows keep every other D2R component
(SampleK top-2, ResRouting, route balancing) and only restrict the DAG's candidate sets
(``--d2r-level``). They use SM's 4 layers x 4 modules, the layout the paper matches its 16 modules
to, plus D2R's stem module that maps F(s) to the module width: 17 modules of the module-level
row's width (one module more than its 16, about 1% more parameters). Layer level: each module
routes among the previous layer's 4; model level: 4 chains of depth 4 and an MoE-like output
gate over their ends. The same 17 modules are used under --quick (point-mt width 64).
"""

from __future__ import annotations


import numpy as np

from mtrl_jax.ablations import Cell, cell_text, markdown_table, run_ablation
from mtrl_jax.run_folder import RunFolder

NAME = "d2r"
SEEDS = 5
# name -> (row label, Config overrides relative to D2R's defaults)
VARIANTS = {
    "d2r": ("D2R (SampleK top-2, ResRouting, balancing)", {}),
    "top1-hard": ("Top-1 hard routing", dict(d2r_routing="hard")),
    "soft": ("soft routing (all sources)", dict(d2r_routing="soft")),
    "no-samplek": ("w/o SampleK (top-k in training)", dict(d2r_routing="topk")),
    "no-resrouting": ("w/o ResRouting", dict(d2r_resrouting="off")),
    "target-routing": ("w/ target routing", dict(d2r_resrouting="target")),
    "no-balance": ("w/o route balancing", dict(d2r_balance="off")),
    "layer-level": ("layer-level routing (4 x 4 + stem)",
                    dict(d2r_level="layer", d2r_modules=17, d2r_level_width=4)),
    "model-level": ("model-level routing (4 chains x 4 + stem)",
                    dict(d2r_level="model", d2r_modules=17, d2r_level_width=4)),
}


def grid() -> list[Cell]:
    """The full method first, then one switch changed per cell."""
    return [Cell(name, dict(algo="d2r", **overrides))
            for name, (_, overrides) in VARIANTS.items()]


def modules_used(run_dirs) -> str:
    """Mean modules used per routed row in the last logged training chunk of each run."""
    values = []
    for run_dir in run_dirs:
        last = None
        for row in RunFolder(run_dir).read_metrics():
            stats = row.get("collect", {})
            if "d2r_modules_used_sum" in stats:
                last = stats
        if last is not None:
            rows = np.sum(last["d2r_route_rows"])
            if rows > 0:
                values.append(np.sum(last["d2r_modules_used_sum"]) / rows)
    return f"{np.mean(values):.1f}" if values else "n/a"


def tables(results: dict) -> str:
    """One row per variant (the module-level D2R first, the routing levels last)."""
    rows = [[label, cell_text(results, name),
             modules_used(results[name].run_dirs) if name in results else "not run"]
            for name, (label, _) in VARIANTS.items()]
    return markdown_table(["variant", "success (%)", "modules used"], rows)


def main(argv=None) -> str:
    """Run the grid and print the tables; returns the printed text."""
    return run_ablation(__doc__, SEEDS, grid(), tables, NAME, "D2R ablations", argv)


if __name__ == "__main__":
    main()
