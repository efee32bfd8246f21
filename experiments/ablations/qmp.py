"""QMP ablations (QMP paper, Fig. 5 and its QMP-Uniform / parameter-sharing comparisons): the
mixture's gate (Q-switch, uniform, own policy only) with separate task networks and with a
shared multi-head network (``--qmp-with mhsac``).

    python experiments/ablations/qmp.py             # MT10, 20M steps, 5 seeds
    python experiments/ablations/qmp.py --quick     # point-mt, tiny budget, one seed

Prints a gate x sharing table (mean +- std of final success across seeds). "own" is the
no-behaviour-sharing baseline: separate networks = independent SAC per task, multi-head =
MH-SAC. After the table, the mean fraction of steps a task's data came from another task's
policy (off-diagonal of the selection matrix, paper Fig. 5) for each Q-switch cell.
"""

from __future__ import annotations

import numpy as np

from mtrl_jax.ablations import Cell, cell_text, markdown_table, run_ablation

NAME = "qmp"
SEEDS = 5
GATES = {"qswitch": "QMP (Q-switch)", "uniform": "QMP-Uniform", "own": "own policy (no sharing)"}
SHARING = {"separate": None, "multihead": "mhsac"}


def cell_name(gate: str, sharing: str) -> str:
    """A cell's run-folder prefix, e.g. qswitch-separate."""
    return f"{gate}-{sharing}"


def grid() -> list[Cell]:
    """Separate networks with every gate, then the multi-head network with every gate."""
    return [Cell(cell_name(gate, sharing), dict(algo="qmp", qmp_gate=gate, qmp_with=net))
            for sharing, net in SHARING.items() for gate in GATES]


def shared_fraction(run_dirs) -> str:
    """Mean off-diagonal mass of the selection matrix over a cell's runs, in %."""
    from mtrl_jax.agents.qmp import selection_matrix
    fractions = []
    for run_dir in run_dirs:
        try:
            matrix = selection_matrix(run_dir)
        except (ValueError, OSError):
            continue
        fractions.append(1.0 - float(np.mean(np.diag(matrix))))
    return f"{100 * np.mean(fractions):.1f}" if fractions else "n/a"


def tables(results: dict) -> str:
    """Gate rows x sharing columns, then the Q-switch cells' share of other policies' actions."""
    rows = [[label] + [cell_text(results, cell_name(gate, sharing)) for sharing in SHARING]
            for gate, label in GATES.items()]
    text = markdown_table(["gate", "separate networks", "multi-head (shared)"], rows)
    share_rows = [[sharing, shared_fraction(results[cell_name("qswitch", sharing)].run_dirs)]
                  for sharing in SHARING if cell_name("qswitch", sharing) in results]
    if share_rows:
        text += ("\n\nQ-switch: steps collected by another task's policy (%)\n\n"
                 + markdown_table(["networks", "other policies"], share_rows))
    return text


def main(argv=None) -> str:
    """Run the grid and print the tables; returns the printed text."""
    return run_ablation(__doc__, SEEDS, grid(), tables, NAME, "QMP ablations: gate and parameter sharing", argv)


if __name__ == "__main__":
    main()
