"""The package's layering, read from the source: what each layer may import, walked through
every ``mtrl_jax`` import (module level or inside functions) to the end."""

from __future__ import annotations

import ast
import os

import mtrl_jax

ROOT = os.path.dirname(mtrl_jax.__file__)
NOT_FOR_NETS = ("mtrl_jax.envs", "mtrl_jax.agents", "mtrl_jax.train", "mtrl_jax.host_loop",
                "mtrl_jax.engine", "mtrl_jax.experiment", "mtrl_jax.sweep", "mtrl_jax.cli",
                "mtrl_jax.run_folder", "mtrl_jax.methods", "mtrl_jax.config",
                "mtrl_jax.ablations", "mtrl_jax.report", "mtrl_jax.figures")


def module_file(name: str) -> str | None:
    path = os.path.join(os.path.dirname(ROOT), *name.split("."))
    if os.path.isdir(path):
        return os.path.join(path, "__init__.py")
    return path + ".py" if os.path.exists(path + ".py") else None


def imports_of(name: str) -> set[str]:
    """The mtrl_jax modules ``name`` imports anywhere in its source (relative ones resolved)."""
    path = module_file(name)
    tree = ast.parse(open(path).read())
    package = name if path.endswith("__init__.py") else name.rsplit(".", 1)[0]
    typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                   and getattr(block.test, "id", None) == "TYPE_CHECKING"
                   for n in ast.walk(block)}                  # never run: annotations only
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names}   # `from pkg import module`
    found = {m for m in found if m.startswith("mtrl_jax") and module_file(m)}
    # importing a module runs its packages' __init__ first
    return found | {m.rsplit(".", i)[0] for m in found for i in range(1, m.count(".") + 1)}


def reachable(start: str) -> dict[str, str]:
    """Every mtrl_jax module reachable from ``start`` -> the module that imports it."""
    seen, todo = {start: ""}, [start]
    while todo:
        name = todo.pop()
        for dep in imports_of(name):
            if dep not in seen:
                seen[dep] = name
                todo.append(dep)
    return seen


def chain(seen: dict[str, str], name: str) -> str:
    steps = [name]
    while seen[steps[-1]]:
        steps.append(seen[steps[-1]])
    return " <- ".join(steps)


def test_the_walk_finds_imports_inside_functions_relative_ones_and_packages():
    assert "mtrl_jax.nets.mlp" in imports_of("mtrl_jax.methods")          # inside a function
    assert "mtrl_jax.envs.mjx.env" in imports_of("mtrl_jax.envs.mjx")      # `from .env import`
    assert "mtrl_jax.envs" in imports_of("mtrl_jax.train")                 # the package's init
    assert "mtrl_jax.agents.sac" in reachable("mtrl_jax.config")
    assert "mtrl_jax.config" not in imports_of("mtrl_jax.methods")         # TYPE_CHECKING only


def test_nets_import_nothing_of_envs_agents_the_loop_or_the_run_code():
    nets = sorted(f[:-3] for f in os.listdir(os.path.join(ROOT, "nets")) if f.endswith(".py"))
    assert {"base", "mlp", "paco", "d2r", "care"} <= set(nets)
    for module in nets:
        start = "mtrl_jax.nets" + ("" if module == "__init__" else f".{module}")
        seen = reachable(start)
        bad = [m for m in seen if m.startswith(NOT_FOR_NETS)]
        assert not bad, [chain(seen, m) for m in bad]


def test_the_loop_and_the_agents_import_no_run_code():
    for start in ("mtrl_jax.train", "mtrl_jax.agents.sac", "mtrl_jax.buffer"):
        seen = reachable(start)
        bad = [m for m in seen if m.startswith(("mtrl_jax.engine", "mtrl_jax.experiment",
                                                 "mtrl_jax.sweep", "mtrl_jax.cli",
                                                 "mtrl_jax.methods", "mtrl_jax.config"))]
        assert not bad, [chain(seen, m) for m in bad]
