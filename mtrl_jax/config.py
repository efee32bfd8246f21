"""Typed, frozen run configuration; the CLI (``mtrl_jax.cli.run``) is generated from it with tyro.

Fields left at ``None`` mean "the default of this method on this environment" and are filled in
by :func:`resolve`, so that ``--algo paco`` alone reproduces the PaCo paper's MT10 settings while
any field can still be overridden on the command line. The resolved config is what a run saves.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from mtrl_jax.envs import PER_SCENE_ENVS
from mtrl_jax.errors import ConfigError
from mtrl_jax.methods import (BRONET_POINT_MT_SIZES, BRONET_SIZES, METHODS, QMP_NETWORKS,
                              defaults_entry)
from mtrl_jax.xla_cache import DEFAULT_CACHE

ENVS = ("mt10", "mt50", "mt1", "point-mt", "mt10-mjx", "mt50-mjx", "mt1-mjx", "mt10-mjx-scenes",
        "mt50-mjx-scenes")
DEVICE_ENVS = ("point-mt", "mt10-mjx", "mt50-mjx", "mt1-mjx")
"""Environments whose reset and step are jittable (the device training loop)."""


def recipe_env(env: str) -> str:
    """The env name whose defaults (``ENV_DEFAULTS``, methods' ``env_defaults``) ``env`` uses."""
    return PER_SCENE_ENVS.get(env, env)


# Fields that say where and how a run reports, never what it computes.
OUTPUT_FIELDS = ("run_name", "out_dir", "resume", "progress", "progress_every", "compile_cache",
                 "compile_workers", "wandb")
# Fields that say when a run evaluates, checkpoints and ends.
SCHEDULE_FIELDS = ("total_steps", "eval_every", "checkpoint_every", "early_stop_success",
                   "early_stop_min_steps")
# A resumed run may change these; everything else must match the saved config.
RESUMABLE_CHANGES = OUTPUT_FIELDS + SCHEDULE_FIELDS
# Fields that leave the compiled training program unchanged (sweep points that differ only in
# these share one program).
NON_PROGRAM_FIELDS = OUTPUT_FIELDS + ("seed", "seeds")
# Fields that do not make two runs different methods (report groups runs by the rest).
NON_METHOD_FIELDS = NON_PROGRAM_FIELDS + SCHEDULE_FIELDS[1:]


@dataclass(frozen=True)
class Config:
    """One training run (or several seeds of it, see ``seeds``)."""

    algo: str = "mtsac"
    """Method: a name in ``mtrl_jax.methods.METHODS`` (mtsac, mhsac, sm, paco, d2r, care, moore,
    film, qmp)."""
    env: str = "mt10"
    """Environment: mt10, mt50, mt1 (one task, see --mt1-task), point-mt (pure JAX), mt10-mjx,
    mt50-mjx, mt1-mjx (one task of the MJX port); mt10-mjx-scenes, mt50-mjx-scenes: the MJX
    port compiled as one program per scene and stepped from the host (one seed per process;
    MT50's one-program step does not compile in 24 GiB)."""
    mt1_task: str = "reach-v3"
    """Task of the mt1 and mt1-mjx environments."""
    seed: int = 0
    seeds: tuple[int, ...] | None = None
    """Several seeds trained in one vmapped program (device envs only), e.g. --seeds 0 1 2 3."""

    # --- budget and data ---------------------------------------------------------------------
    total_steps: int | None = None
    """Environment transitions over all tasks (MT10: 20M = 2M per task)."""
    batch_size: int | None = None
    """Transitions per update over all tasks, stratified: batch_size / num_tasks per task."""
    buffer_size: int | None = None
    """Replay capacity over all tasks, split evenly into one ring per task."""
    warmup_steps: int | None = None
    """Transitions collected with uniform random actions before the first update."""
    updates_per_step: int | None = None
    """Gradient steps per vector-env step (one step of every env) (None: 1; the brc preset: 2)."""
    envs_per_task: int | None = None
    """Parallel envs per task (device envs; the CPU Meta-World env has one per task)."""
    steps_per_call: int | None = None
    """Vector-env steps per jitted call of the device training loop (logging granularity)."""

    # --- SAC ---------------------------------------------------------------------------------
    hidden: tuple[int, ...] | None = None
    """Hidden widths of MLP-style networks (MT-SAC/MH-SAC: 400 400 400)."""
    lr: float | None = None
    """Adam learning rate of actor and critics (papers: 3e-4)."""
    weight_decay: float | None = None
    """Decoupled weight decay of the actor's, critics' and shared parameters' optimiser (AdamW)
    (None: 0, plain Adam; the brc preset: 1e-4)."""
    alpha_lr: float | None = None
    """Temperature learning rate (3e-4; PaCo and D2R 1e-4)."""
    gamma: float = 0.99
    tau: float = 0.005
    init_alpha: float | None = None
    """Initial temperature (None: 1; the brc preset: 0.1)."""
    target_entropy: float | None = None
    """Per-task target entropy; None = -target_entropy_scale |A|."""
    target_entropy_scale: float | None = None
    """The default target entropy is -target_entropy_scale |A| (None: 1; the brc preset: 0.5)."""
    shared_temperature: bool | None = None
    """One temperature for all tasks, trained on the sum of the tasks' temperature losses
    (None: off, one per task; the brc preset: on)."""
    alpha_b1: float | None = None
    """Adam beta1 of the temperature optimiser (None: 0.9; the brc preset: 0.5)."""
    grad_clip: float | None = None
    """Global-norm gradient clipping per parameter group; None = off (method default)."""
    task_weighting: bool | None = None
    """Reweight task losses by softmax(-log_alpha) * T (SM and D2R: on)."""
    log_std_min: float | None = None
    """Lower clip of the actor's log std (None: -20; the brc preset: -10, BRC's range)."""
    log_std_max: float = 2.0

    # --- gradient combiners and the 2025 recipe (DESIGN.md section 12) -----------------------
    grad_combiner: Literal["none", "pcgrad", "gradnorm"] = "none"
    """Combine the per-task gradients of the actor and critic losses (before clipping and Adam):
    PCGrad (Yu et al. 2020) or GradNorm (Chen et al. 2018)."""
    gradnorm_alpha: float = 0.12
    """GradNorm's asymmetry alpha."""
    gradnorm_lr: float = 3e-4
    """Adam learning rate of GradNorm's task weights."""
    reward_scaling: Literal["none", "ars", "brc"] | None = None
    """Per-task reward scales in the critic target: ARS (Cho et al. 2025), c_k = max_j |mean_j| /
    max(|mean_k|, 0.01) over each task's buffer rewards (ARS's formula for Meta-World's
    non-negative rewards), set at the first update after the warm-up and after each reset; or
    BRC (Nauman et al. 2025), rewards divided by (max(G_max, |G_min|) - alpha H_target / (2 (1 -
    gamma))) / v_max from the running range of each task's discounted episode returns, updated
    at every episode end (None: none; the ars preset: ars; the brc preset: brc)."""
    resets: int | None = None
    """Resets of actor, critics, targets, temperatures and every optimiser state (the buffer is
    kept), evenly spaced over the run as ARS spaces them: every ceil(B / (1000 (N + 1))) x 1000
    transitions per task for a per-task budget B (None: 0; the ars preset: 4 on MT10, 6 on
    MT50, 1 on point-mt)."""
    reset_updates: int = 1000
    """Gradient steps on the buffer right after a reset, before collecting resumes."""
    critic_loss: Literal["mse", "categorical"] | None = None
    """The squared TD error, or BRC's cross-entropy against the target distribution projected
    on a fixed support (the actor then maximises the critics' mean expected value) (None: mse;
    the brc preset: categorical)."""
    critic_bins: int = 101
    """Atoms of the categorical critic's support."""
    v_max: float = 10.0
    """The categorical support is [-v_max, v_max]."""
    critic_torso: Literal["method", "mlp", "bronet"] | None = None
    """The critic's network: --algo's own, an MLP on (obs, action, task one-hot) of
    --critic-blocks layers of --critic-width (PyTorch init; with --layernorm ARS's LayerNorm MLP,
    Xavier-normal init), or a BroNet (BRC) of --critic-blocks residual blocks of --critic-width
    (None: method; the ars preset: mlp)."""
    critic_width: int | None = None
    """Width of an mlp or bronet critic, and of the brc preset's (None: bronet 4096, mlp
    hidden[-1]; point-mt bronet 256)."""
    critic_blocks: int | None = None
    """Residual blocks of a bronet critic (None: 2), layers of an mlp critic (None: len(hidden))."""
    actor_torso: Literal["method", "mlp", "bronet"] | None = None
    """The actor's network, as --critic-torso (None: method)."""
    actor_width: int | None = None
    """Width of an mlp or bronet actor (None: bronet 256, mlp hidden[-1]; point-mt bronet 128)."""
    actor_blocks: int | None = None
    """Residual blocks of a bronet actor (None: 1), layers of an mlp actor (None: len(hidden))."""
    torso_activation: Literal["relu", "tanh"] | None = None
    """Hidden activation of mlp torsos (None: relu; the ars preset: tanh, ARS's critic)."""
    layernorm: bool | None = None
    """LayerNorm on the input and after every hidden layer of the mlp torsos (None: off; the ars
    preset: on, ARS's critic)."""

    # --- evaluation, logging, checkpoints ----------------------------------------------------
    eval_every: int | None = None
    """Evaluate every this many transitions (0 = only at the end)."""
    eval_episodes: int | None = None
    """Episodes per task per evaluation (Meta-World+: 50, one per pre-sampled goal)."""
    checkpoint_every: int | None = None
    """Checkpoint every this many transitions (0 = only at the end)."""
    out_dir: str = "runs"
    """Parent folder of run folders."""
    run_name: str | None = None
    """Run folder name; default algo-env-seed-timestamp."""
    resume: str | None = None
    """Run folder to continue from its latest checkpoint."""
    progress: bool = True
    """Show a progress bar."""
    progress_every: float = 10.0
    """Seconds between progress-bar updates (wall time; also while compiling)."""
    early_stop_success: float | None = None
    """Stop once two evaluations in a row reach this mean success on every seed (None = off)."""
    early_stop_min_steps: int = 0
    """The early stop applies only from this many transitions on."""
    video: bool = False
    """After training, render one evaluation clip per task to RUN_DIR/videos (Meta-World envs;
    needs an offscreen GL backend, see README)."""
    compile_cache: str | None = DEFAULT_CACHE
    """XLA compilation cache folder (None = off)."""
    compile_workers: int = 2
    """Scene programs compiled at once by the per-scene MJX envs (mt10-mjx-scenes,
    mt50-mjx-scenes). On XLA:CPU two MT50 scene compiles at once peaked at 3.3 GiB, and each
    compiled scene step holds ~0.4 GiB (docs/mjx_port.md section 7)."""
    wandb: str | None = None
    """Also log to Weights & Biases, in this project (needs ``pip install wandb``)."""

    # --- Soft Modularization -----------------------------------------------------------------
    sm_layers: int = 2
    """Routed layers (shallow 2, deep 4)."""
    sm_modules: int = 2
    """Modules per layer (shallow 2, deep 4)."""
    sm_module_width: int | None = None
    """Module width (shallow 256, deep 128)."""
    sm_embed_dim: int = 400
    sm_gate_width: int = 256
    sm_widths_from_hidden: bool | None = None
    """Scale the paper's SM widths by hidden[-1] / 512 instead of using the sm_* widths
    (None = on for point-mt, whose networks are small for every method)."""

    # --- PaCo ----------------------------------------------------------------------------------
    paco_k: int = 5
    paco_maskout: bool = True
    paco_reset: bool = True
    paco_epsilon: float = 3e3

    # --- D2R -----------------------------------------------------------------------------------
    d2r_modules: int | None = None
    """Base modules n (None: 16 as in the paper's MT10 setup; point-mt 6)."""
    d2r_module_width: int | None = None
    """Module width (None: 128; point-mt 64)."""
    d2r_k: int = 2
    d2r_gate_width: int | None = None
    """Hidden width of the 2-layer routing gate MLP (None: 256; point-mt 64)."""
    d2r_embed_dim: int | None = None
    """Width of the state representation F(s) and task representation H(task) (None: 400;
    point-mt 64)."""
    d2r_routing: Literal["topk", "samplek", "hard", "soft"] = "samplek"
    d2r_resrouting: Literal["on", "off", "target"] = "on"
    d2r_balance: Literal["on", "off"] = "on"
    d2r_level: Literal["module", "layer", "model"] = "module"
    """Routing type (D2R paper, Fig. 2 and 7(d)): module = D2R's DAG over all earlier modules;
    layer = modules 2..n in layers of --d2r-level-width, each choosing among the previous layer;
    model = --d2r-level-width separate chains, the output routing among their ends (MoE)."""
    d2r_level_width: int = 4
    """Modules per layer (layer level) or number of chains (model level); must divide
    --d2r-modules minus 1 (module 1 is the stem reading F(s))."""

    # --- CARE / MOORE --------------------------------------------------------------------------
    care_encoders: int = 6
    care_metadata: bool = False
    care_encoder_hidden: tuple[int, ...] = (50, 50)
    """Widths of each CARE encoder MLP on the observation (its last width is the encoding)."""
    care_context_dim: int = 50
    """Width of CARE's task encoding (learned embedding or projected text embedding)."""
    moore_experts: int = 4

    # --- FiLM ----------------------------------------------------------------------------------
    film_embed_dim: int = 50
    """Width of FiLM's learned task embedding."""
    film_encoder_hidden: tuple[int, ...] = (50, 50, 50)
    """Widths of the FiLM-modulated observation encoder's layers."""
    film_generator_hidden: tuple[int, ...] = (50, 50)
    """Hidden widths of the MLP that maps the task embedding to gamma and beta."""
    film_per_layer: bool = False
    """One scalar gamma and beta per encoder layer (metaworld-algorithms) instead of one per unit
    (Perez et al. 2018)."""

    # --- BRC -----------------------------------------------------------------------------------
    brc_embed_dim: int = 32
    """Size of BRC's unit-norm task embedding."""

    # --- QMP -----------------------------------------------------------------------------------
    qmp_with: str | None = None
    """Network shared by the QMP policies (mhsac, sm, paco, d2r); None = separate networks."""
    qmp_gate: Literal["qswitch", "uniform", "own"] = "qswitch"
    qmp_warmup: int = 0
    """Transitions before the mixture is used (own policy before that)."""
    qmp_activation: Literal["tanh", "relu"] = "tanh"
    """Hidden activation of the separate per-task networks (QMP paper, Table 1: tanh)."""

    def replace(self, **changes) -> "Config":
        return dataclasses.replace(self, **changes)


# Per-environment defaults (MT10/MT50: the papers' settings, DESIGN.md section 3).
ENV_DEFAULTS: dict[str, dict] = {
    "mt10": dict(total_steps=20_000_000, batch_size=1280, buffer_size=1_000_000,
                 warmup_steps=15_000, envs_per_task=1, eval_every=500_000, eval_episodes=50,
                 checkpoint_every=500_000, steps_per_call=1000),
    "mt50": dict(total_steps=100_000_000, batch_size=6400, buffer_size=5_000_000,
                 warmup_steps=75_000, envs_per_task=1, eval_every=2_500_000, eval_episodes=50,
                 checkpoint_every=2_500_000, steps_per_call=1000),
    "mt1": dict(total_steps=2_000_000, batch_size=128, buffer_size=1_000_000,
                warmup_steps=1_500, envs_per_task=1, eval_every=100_000, eval_episodes=50,
                checkpoint_every=100_000, steps_per_call=1000),
    # One task of the MJX port, with the mt1 budget and hyperparameters.
    "mt1-mjx": dict(total_steps=2_000_000, batch_size=128, buffer_size=1_000_000,
                    warmup_steps=1_500, envs_per_task=1, eval_every=100_000, eval_episodes=50,
                    checkpoint_every=100_000, steps_per_call=1000),
    "mt10-mjx": dict(total_steps=20_000_000, batch_size=1280, buffer_size=1_000_000,
                     warmup_steps=15_000, envs_per_task=16, eval_every=500_000, eval_episodes=50,
                     checkpoint_every=500_000, steps_per_call=500),
    "mt50-mjx": dict(total_steps=100_000_000, batch_size=6400, buffer_size=5_000_000,
                     warmup_steps=75_000, envs_per_task=16, eval_every=2_500_000, eval_episodes=50,
                     checkpoint_every=2_500_000, steps_per_call=500),
    # The pure-JAX suite: small and fast, a quick demo and the learning tests' environment.
    "point-mt": dict(total_steps=60_000, batch_size=320, buffer_size=100_000,
                     warmup_steps=2_000, envs_per_task=1, eval_every=10_000, eval_episodes=32,
                     checkpoint_every=0, steps_per_call=400, hidden=(128, 128), lr=1e-3,
                     alpha_lr=3e-4),
}

# The fields a preset (ars, brc) changes, when neither the method nor the command line sets them.
RECIPE_DEFAULTS = dict(reward_scaling="none", resets=0, critic_torso="method",
                       actor_torso="method", torso_activation="relu", layernorm=False,
                       critic_loss="mse", updates_per_step=1, weight_decay=0.0, init_alpha=1.0,
                       target_entropy_scale=1.0, shared_temperature=False, alpha_b1=0.9,
                       log_std_min=-20.0)


def resolve(cfg: Config, num_tasks: int | None = None) -> Config:
    """Fill ``None`` fields from the method and environment defaults and validate.

    Precedence: the method's defaults on this env (``methods.METHODS[algo].env_defaults``), then
    the env's (``ENV_DEFAULTS``: the pure-JAX suite uses small networks whatever the method),
    then the method's, then ``RECIPE_DEFAULTS``; then the method's derived fields. The result
    holds every value the run uses. Raises ConfigError with the fix on bad input.
    """
    if cfg.algo not in METHODS:
        raise ConfigError(f"unknown --algo {cfg.algo!r}: choose one of {', '.join(METHODS)}")
    if cfg.env not in ENVS:
        raise ConfigError(f"unknown --env {cfg.env!r}: choose one of {', '.join(ENVS)}")
    if cfg.qmp_with is not None and cfg.qmp_with not in QMP_NETWORKS:
        raise ConfigError(f"unknown --qmp-with {cfg.qmp_with!r}: choose one of "
                          f"{', '.join(QMP_NETWORKS)}")
    entry = defaults_entry(cfg)
    env = recipe_env(cfg.env)
    merged = {**RECIPE_DEFAULTS, **entry.defaults, **ENV_DEFAULTS[env], **entry.env_defaults.get(env, {})}
    filled = {f.name: merged[f.name] for f in dataclasses.fields(cfg)
              if getattr(cfg, f.name) is None and f.name in merged}
    out = dataclasses.replace(cfg, **filled)
    if entry.derived is not None:
        out = dataclasses.replace(out, **entry.derived(out))
    out = dataclasses.replace(out, **torso_sizes(out))
    validate(out, num_tasks)
    return out




def torso_sizes(cfg: Config) -> dict:
    """The unset --critic-width/--critic-blocks/--actor-width/--actor-blocks of mlp and bronet
    torsos (a method's own torso leaves them None)."""
    out = {}
    for role in ("critic", "actor"):
        torso = getattr(cfg, f"{role}_torso")
        if torso == "bronet":
            width, blocks = (BRONET_POINT_MT_SIZES if cfg.env == "point-mt"
                             else BRONET_SIZES)[role]
        elif torso == "mlp":
            width, blocks = cfg.hidden[-1], len(cfg.hidden)
        else:
            continue
        for name, value in (("width", width), ("blocks", blocks)):
            if getattr(cfg, f"{role}_{name}") is None:
                out[f"{role}_{name}"] = value
    return out


def validate(cfg: Config, num_tasks: int | None) -> None:
    """Checks that need no environment; ``num_tasks`` enables the divisibility checks."""
    positive = ("total_steps", "batch_size", "buffer_size", "envs_per_task", "steps_per_call",
                "updates_per_step", "compile_workers")
    for name in positive:
        value = getattr(cfg, name)
        if value is not None and value <= 0:
            raise ConfigError(f"--{name.replace('_', '-')} must be positive, got {value}")
    if cfg.warmup_steps is not None and cfg.warmup_steps < 0:
        raise ConfigError(f"--warmup-steps must be >= 0, got {cfg.warmup_steps}")
    if cfg.progress_every <= 0:
        raise ConfigError(f"--progress-every must be positive seconds, got {cfg.progress_every}")
    if cfg.early_stop_success is not None and not 0 < cfg.early_stop_success <= 1:
        raise ConfigError(f"--early-stop-success must be in (0, 1], got {cfg.early_stop_success}")
    if cfg.seeds is not None and len(cfg.seeds) == 0:
        raise ConfigError("--seeds needs at least one seed")
    if cfg.resets < 0 or cfg.reset_updates < 0:
        raise ConfigError(f"--resets and --reset-updates must be >= 0, got {cfg.resets} and "
                          f"{cfg.reset_updates}")
    if cfg.critic_loss == "categorical" and (cfg.critic_bins < 2 or cfg.v_max <= 0):
        raise ConfigError(f"--critic-loss categorical needs --critic-bins >= 2 and --v-max > 0, "
                          f"got {cfg.critic_bins} and {cfg.v_max}")
    if cfg.layernorm and "mlp" not in (cfg.critic_torso, cfg.actor_torso):
        raise ConfigError("--layernorm applies to mlp torsos: add --critic-torso mlp and/or "
                          "--actor-torso mlp")
    for role in ("critic", "actor"):
        for name in ("width", "blocks"):
            value = getattr(cfg, f"{role}_{name}")
            if value is not None and value <= 0:
                raise ConfigError(f"--{role}-{name} must be positive, got {value}")
    if num_tasks is None:
        return
    if cfg.batch_size % num_tasks:
        raise ConfigError(
            f"--batch-size {cfg.batch_size} is not divisible by the {num_tasks} tasks: use a "
            f"multiple of {num_tasks}, e.g. {num_tasks * max(1, round(cfg.batch_size / num_tasks))}")
    per_task_capacity = cfg.buffer_size // num_tasks
    per_task_warmup = -(-cfg.warmup_steps // num_tasks)
    if per_task_capacity < max(per_task_warmup, cfg.batch_size // num_tasks, 1):
        raise ConfigError(
            f"--buffer-size {cfg.buffer_size} gives {per_task_capacity} slots per task, fewer than "
            f"the warm-up ({per_task_warmup} per task) or the per-task batch "
            f"({cfg.batch_size // num_tasks}): raise --buffer-size to at least "
            f"{num_tasks * max(per_task_warmup, cfg.batch_size // num_tasks, 1)}")
