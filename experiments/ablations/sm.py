"""Soft Modularization depth ablation: shallow (2 layers x 2 modules, width 256) vs deep
(4 layers x 4 modules, width 128), as in the SM paper's MT10 comparison.

    python experiments/ablations/sm.py              # MT10, 20M steps, 5 seeds
    python experiments/ablations/sm.py --quick      # point-mt, tiny budget, one seed
"""

from __future__ import annotations

from mtrl_jax.ablations import Cell, cell_text, markdown_table, run_ablation

NAME = "sm"
SEEDS = 5
DEPTHS = {"shallow": (2, 2), "deep": (4, 4)}


def grid() -> list[Cell]:
    """Shallow first, then deep; module widths follow the config (256 / 128 on Meta-World)."""
    return [Cell(name, dict(algo="sm", sm_layers=layers, sm_modules=modules))
            for name, (layers, modules) in DEPTHS.items()]


def tables(results: dict) -> str:
    """One row per depth: layers x modules and the success rate."""
    rows = [[name, f"{layers} x {modules}", cell_text(results, name)]
            for name, (layers, modules) in DEPTHS.items()]
    return markdown_table(["network", "layers x modules", "success (%)"], rows)


def main(argv=None) -> str:
    """Run the grid and print the tables; returns the printed text."""
    return run_ablation(__doc__, SEEDS, grid(), tables, NAME, "Soft Modularization: shallow vs deep", argv)


if __name__ == "__main__":
    main()
