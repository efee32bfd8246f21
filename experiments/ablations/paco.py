"""PaCo ablations (PaCo paper, Tables 2 and 3): parameter-set size K in {3, 5, 8}, and the
stabilisation by loss mask-out and w-reset switched on and off.

    python experiments/ablations/paco.py            # MT10, 20M steps, 10 seeds (the paper's)
    python experiments/ablations/paco.py --quick    # point-mt, tiny budget, one seed

Prints Table 2 (K) and Table 3 (stabilisation) as mean +- std of the final success rate across
seeds, beside the paper's MT10-rand numbers. The full-method cell (K = 5, both on) is shared by
the two tables and run once.
"""

from __future__ import annotations

from mtrl_jax.ablations import Cell, cell_text, markdown_table, run_ablation

NAME = "paco"
SEEDS = 10
PAPER_K = {3: "74.4", 5: "85.4 +- 4.5", 8: "81.0"}
# (mask-out, w-reset) -> (row label, the paper's success on MT10-rand)
STABILISATION = {(True, True): ("PaCo (mask-out + w-reset)", "85.4 +- 4.5"),
                 (True, False): ("w/o w-reset", "76.0"),
                 (False, False): ("w/o mask-out and w-reset", "71.6")}


def cell_name(k: int, maskout: bool, reset: bool) -> str:
    """A cell's run-folder prefix, e.g. k5-mask1-reset1."""
    return f"k{k}-mask{int(maskout)}-reset{int(reset)}"


def grid() -> list[Cell]:
    """The full method first, then the other K, then the stabilisation switches off."""
    def cell(k, maskout, reset):
        return Cell(cell_name(k, maskout, reset),
                    dict(algo="paco", paco_k=k, paco_maskout=maskout, paco_reset=reset))
    return ([cell(5, True, True), cell(3, True, True), cell(8, True, True)]
            + [cell(5, m, r) for (m, r) in STABILISATION if (m, r) != (True, True)])


def tables(results: dict) -> str:
    """Table 2 (K) and Table 3 (mask-out / w-reset) in markdown."""
    k_rows = [[f"K = {k}", cell_text(results, cell_name(k, True, True)), PAPER_K[k]]
              for k in (3, 5, 8)]
    s_rows = [[label, cell_text(results, cell_name(5, m, r)), paper]
              for (m, r), (label, paper) in STABILISATION.items()]
    return ("Table 2: size of the parameter set K\n\n"
            + markdown_table(["K", "success (%)", "paper, MT10-rand"], k_rows)
            + "\n\nTable 3: training stabilisation (K = 5)\n\n"
            + markdown_table(["variant", "success (%)", "paper, MT10-rand"], s_rows))


def main(argv=None) -> str:
    """Run the grid and print the tables; returns the printed text."""
    return run_ablation(__doc__, SEEDS, grid(), tables, NAME, "PaCo ablations", argv)


if __name__ == "__main__":
    main()
