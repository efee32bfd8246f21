"""The method registry: every ``--algo`` is one entry here, mapping its name to its config
defaults and to ``build(cfg, spec) -> Method`` (networks plus SAC hooks).

An entry's defaults are the paper's MT10 settings; ``env_defaults`` holds what differs on an
environment (point-mt's small sizes) and ``derived`` what follows from other resolved fields.
``config.resolve`` applies them once, so config.json holds every value a run used. Network
modules are imported when a method is built, so one method's optional dependencies cost the
others nothing.

Adding a method: write its networks (``nets/<name>.py`` with ``make_networks``), then add an
entry below (README, "Adding a method").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, NamedTuple

from mtrl_jax.agents.sac import SAC, SACHooks, make_sac
from mtrl_jax.nets.base import Network, Networks

if TYPE_CHECKING:
    from mtrl_jax.config import Config
    from mtrl_jax.envs.base import EnvSpec


class Method(NamedTuple):
    """A built method: its networks and how it changes SAC (none of the hooks for most)."""

    networks: Networks
    hooks: SACHooks = SACHooks()


@dataclass(frozen=True)
class MethodEntry:
    """One ``--algo``."""

    build: Callable[["Config", "EnvSpec"], Method]
    defaults: dict
    """Config fields on Meta-World MT10: the paper's values."""
    env_defaults: dict = field(default_factory=dict)
    """env name -> Config fields that differ there (override ``config.ENV_DEFAULTS``)."""
    derived: Callable[["Config"], dict] | None = None
    """Fields computed from the otherwise resolved config."""


# ------------------------------------------------------------------------------------------------
# build functions: Config -> the networks' explicit arguments
# ------------------------------------------------------------------------------------------------

def critic_outputs(cfg: Config) -> int:
    """Outputs of a critic: one Q value, or the categorical critic's bins."""
    return cfg.critic_bins if cfg.critic_loss == "categorical" else 1


def build_mtsac(cfg: Config, spec: EnvSpec) -> Method:
    from mtrl_jax.nets import mlp
    return Method(mlp.make_networks(spec.obs_dim, spec.act_dim, spec.num_tasks, cfg.hidden,
                                    critic_out=critic_outputs(cfg)))


def build_mhsac(cfg: Config, spec: EnvSpec) -> Method:
    from mtrl_jax.nets import multihead
    return Method(multihead.make_networks(spec.obs_dim, spec.act_dim, spec.num_tasks,
                                          cfg.hidden, critic_out=critic_outputs(cfg)))


def build_sm(cfg: Config, spec: EnvSpec) -> Method:
    from mtrl_jax.nets import soft_modules
    return Method(soft_modules.make_networks(
        spec.obs_dim, spec.act_dim, spec.num_tasks, embed_dim=cfg.sm_embed_dim,
        gate_width=cfg.sm_gate_width, num_layers=cfg.sm_layers, num_modules=cfg.sm_modules,
        module_width=cfg.sm_module_width, critic_out=critic_outputs(cfg)))


def sm_widths(cfg: Config) -> dict:
    """The module width of the depth (shallow 256, deep 128) unless given; with
    ``sm_widths_from_hidden`` (point-mt) every width is the paper's scaled by hidden[-1] / 1024
    (see ``nets.soft_modules``)."""
    if not cfg.sm_widths_from_hidden:
        return {} if cfg.sm_module_width is not None else {
            "sm_module_width": 256 if cfg.sm_layers <= 2 else 128}
    units = max(cfg.hidden[-1] // 2, 1)
    return dict(sm_embed_dim=max(round(units * 400 / 512), 1), sm_gate_width=max(units // 2, 1),
                sm_module_width=max(units // cfg.sm_modules, 1))


def build_paco(cfg: Config, spec: EnvSpec) -> Method:
    from mtrl_jax.agents.paco import make_paco_hooks
    from mtrl_jax.nets import paco
    return Method(paco.make_networks(spec.obs_dim, spec.act_dim, spec.num_tasks, cfg.hidden,
                                     cfg.paco_k, critic_out=critic_outputs(cfg)),
                  make_paco_hooks(cfg.paco_epsilon, cfg.paco_maskout, cfg.paco_reset))


def build_d2r(cfg: Config, spec: EnvSpec) -> Method:
    from mtrl_jax.nets import d2r
    return Method(d2r.make_networks(
        spec.obs_dim, spec.act_dim, spec.num_tasks, modules=cfg.d2r_modules,
        width=cfg.d2r_module_width, gate=cfg.d2r_gate_width, embed=cfg.d2r_embed_dim,
        k=cfg.d2r_k, routing=cfg.d2r_routing, resrouting=cfg.d2r_resrouting,
        balance=cfg.d2r_balance == "on", level=cfg.d2r_level, level_width=cfg.d2r_level_width,
        critic_out=critic_outputs(cfg)))


def build_care(cfg: Config, spec: EnvSpec) -> Method:
    from mtrl_jax.nets import care
    descriptions = (tuple(care.describe(t) for t in spec.task_names) if cfg.care_metadata
                    else None)
    return Method(care.make_networks(spec.obs_dim, spec.act_dim, spec.num_tasks, cfg.hidden,
                                     cfg.care_encoders, cfg.care_encoder_hidden,
                                     cfg.care_context_dim, descriptions,
                                     critic_out=critic_outputs(cfg)))


def build_moore(cfg: Config, spec: EnvSpec) -> Method:
    from mtrl_jax.nets import moore
    return Method(moore.make_networks(spec.obs_dim, spec.act_dim, spec.num_tasks, cfg.hidden,
                                      cfg.moore_experts, critic_out=critic_outputs(cfg)))


def build_film(cfg: Config, spec: EnvSpec) -> Method:
    from mtrl_jax.nets import film
    return Method(film.make_networks(spec.obs_dim, spec.act_dim, spec.num_tasks, cfg.hidden,
                                     cfg.film_embed_dim, cfg.film_encoder_hidden,
                                     cfg.film_generator_hidden, cfg.film_per_layer,
                                     critic_out=critic_outputs(cfg)))


# Widths and blocks of a BroNet torso: BRC's (critic 4096 x 2 blocks, actor 256 x 1 block), on
# point-mt scaled down as the other methods' networks are.
BRONET_SIZES = {"critic": (4096, 2), "actor": (256, 1)}
BRONET_POINT_MT_SIZES = {"critic": (256, 1), "actor": (128, 1)}


def build_brc(cfg: Config, spec: EnvSpec) -> Method:
    """BRC's networks: BroNet critic and actor reading the critic's unit-norm task embedding
    (the shared module, trained by the critic loss only; no one-hot)."""
    from mtrl_jax.nets import bronet
    T, dim = spec.num_tasks, cfg.brc_embed_dim
    critic = bronet.make_bronet(spec.obs_dim + spec.act_dim, T, critic_outputs(cfg),
                                cfg.critic_width, cfg.critic_blocks, task_input="embedding",
                                embedding_dim=dim)
    actor = bronet.make_bronet(spec.obs_dim, T, 2 * spec.act_dim, cfg.actor_width,
                               cfg.actor_blocks, task_input="embedding",
                               embedding_trainable=False, embedding_dim=dim)
    return Method(Networks(actor, critic, bronet.task_embedding(T, dim)))


def brc_sizes(cfg: Config) -> dict:
    """The unset BroNet widths and blocks of the brc preset (point-mt: scaled down)."""
    sizes = BRONET_POINT_MT_SIZES if cfg.env == "point-mt" else BRONET_SIZES
    return {f"{role}_{name}": value for role in ("critic", "actor")
            for name, value in zip(("width", "blocks"), sizes[role])
            if getattr(cfg, f"{role}_{name}") is None}


def build_qmp(cfg: Config, spec: EnvSpec) -> Method:
    """Separate per-task networks (the paper's main runs), or ``--qmp-with``'s network and its
    hooks, with the mixture as the collect strategy."""
    from mtrl_jax.agents.qmp import make_qmp_hooks
    if cfg.qmp_with is None:
        from mtrl_jax.nets import separate
        base = Method(separate.make_networks(spec.obs_dim, spec.act_dim, spec.num_tasks,
                                             cfg.hidden, cfg.qmp_activation,
                                             critic_out=critic_outputs(cfg)))
    else:
        base = METHODS[cfg.qmp_with].build(cfg, spec)
    return Method(base.networks, make_qmp_hooks(cfg.qmp_gate, cfg.qmp_warmup, base.hooks))


# Shared by the MLP-style torsos (DESIGN.md sections 3-8).
MLP_MT10 = dict(lr=3e-4, hidden=(400, 400, 400), alpha_lr=3e-4, task_weighting=False)

METHODS: dict[str, MethodEntry] = {
    "mtsac": MethodEntry(build_mtsac, MLP_MT10),
    "mhsac": MethodEntry(build_mhsac, MLP_MT10),
    "sm": MethodEntry(build_sm, dict(lr=3e-4, alpha_lr=3e-4, task_weighting=True,
                                     sm_widths_from_hidden=False),
                      env_defaults={"point-mt": dict(sm_widths_from_hidden=True)},
                      derived=sm_widths),
    "paco": MethodEntry(build_paco, {**MLP_MT10, "alpha_lr": 1e-4}),
    "d2r": MethodEntry(build_d2r, dict(lr=3e-4, alpha_lr=1e-4, task_weighting=True,
                                       d2r_modules=16, d2r_module_width=128, d2r_gate_width=256,
                                       d2r_embed_dim=400),
                       env_defaults={"point-mt": dict(d2r_modules=6, d2r_module_width=64,
                                                      d2r_gate_width=64, d2r_embed_dim=64)}),
    "care": MethodEntry(build_care, MLP_MT10),
    "moore": MethodEntry(build_moore, MLP_MT10),
    "film": MethodEntry(build_film, MLP_MT10),
    # ARS (Cho et al. 2025): MT-SAC's one-hot MLPs, 4 x 400, with a LayerNorm tanh critic, ARS
    # reward scales and resets; batch 100 per task.
    "ars": MethodEntry(build_mtsac, {**MLP_MT10, "hidden": (400,) * 4, "critic_torso": "mlp",
                                     "torso_activation": "tanh", "layernorm": True,
                                     "reward_scaling": "ars", "resets": 4},
                       env_defaults={"mt1": dict(batch_size=100), "mt1-mjx": dict(batch_size=100),
                                     "mt10": dict(batch_size=1000),
                                     "mt10-mjx": dict(batch_size=1000),
                                     "mt50": dict(batch_size=5000, resets=6),
                                     "mt50-mjx": dict(batch_size=5000, resets=6),
                                     # one reset in point-mt's 12k steps per task
                                     "point-mt": dict(batch_size=500, resets=1)}),
    # BRC (Nauman et al. 2025): BroNet critic 4096 x 2 blocks and actor 256 x 1 on a 32-d task
    # embedding, categorical critic, BRC reward scaling, AdamW, one temperature, 2 updates per
    # step, batch 1024 (the nearest multiple of the task count), 5,000 random steps per task.
    "brc": MethodEntry(build_brc, dict(lr=3e-4, alpha_lr=3e-4, task_weighting=False,
                                       critic_loss="categorical", reward_scaling="brc",
                                       weight_decay=1e-4, updates_per_step=2, init_alpha=0.1,
                                       target_entropy_scale=0.5, shared_temperature=True,
                                       alpha_b1=0.5, log_std_min=-10.0),
                       env_defaults={"mt1": dict(batch_size=1024, warmup_steps=5_000),
                                     "mt1-mjx": dict(batch_size=1024, warmup_steps=5_000),
                                     "mt10": dict(batch_size=1020, warmup_steps=50_000),
                                     "mt10-mjx": dict(batch_size=1020, warmup_steps=50_000),
                                     "mt50": dict(batch_size=1000, warmup_steps=250_000),
                                     "mt50-mjx": dict(batch_size=1000, warmup_steps=250_000),
                                     # scaled down: the categorical critic's 101 outputs
                                     # double a small critic's cost
                                     "point-mt": dict(critic_width=128, actor_width=64)},
                       derived=brc_sizes),
    "qmp": MethodEntry(build_qmp, {**MLP_MT10, "hidden": (256, 256)}),   # QMP paper, Table 1
}

QMP_NETWORKS = ("mhsac", "sm", "paco", "d2r")
"""The shared networks ``--qmp-with`` accepts."""


def defaults_entry(cfg: Config) -> MethodEntry:
    """The entry whose defaults ``cfg`` takes: QMP over a shared network takes that network's
    (sizes, temperature lr, task weighting)."""
    return METHODS[cfg.qmp_with if cfg.algo == "qmp" and cfg.qmp_with else cfg.algo]


def torso(cfg: Config, spec: EnvSpec, role: str) -> Network | None:
    """The ``--critic-torso`` / ``--actor-torso`` network replacing the method's (``role`` is
    "critic" or "actor"), or None to keep it. Both read (obs[, action], task one-hot)."""
    kind = getattr(cfg, f"{role}_torso")
    if kind == "method":
        return None
    in_dim = spec.obs_dim + (spec.act_dim if role == "critic" else 0)
    out_dim = critic_outputs(cfg) if role == "critic" else 2 * spec.act_dim
    width, blocks = getattr(cfg, f"{role}_width"), getattr(cfg, f"{role}_blocks")
    if kind == "bronet":
        from mtrl_jax.nets import bronet
        return bronet.make_bronet(in_dim, spec.num_tasks, out_dim, width, blocks)
    from mtrl_jax.nets import layernorm_mlp
    return layernorm_mlp.make_layernorm_mlp(
        in_dim, spec.num_tasks, out_dim, (width,) * blocks, cfg.torso_activation,
        input_layernorm=cfg.layernorm, layernorm=cfg.layernorm,
        init_scheme="xavier" if cfg.layernorm else "torch")


def build_method(cfg: Config, spec: EnvSpec) -> Method:
    """The networks and hooks of ``cfg.algo`` (a resolved Config) on an env of ``spec``, with
    the critic and actor replaced where ``--critic-torso`` / ``--actor-torso`` say so (a
    replaced actor stores nothing per transition)."""
    method = METHODS[cfg.algo].build(cfg, spec)
    networks = method.networks
    critic, actor = torso(cfg, spec, "critic"), torso(cfg, spec, "actor")
    if critic is not None:
        networks = networks._replace(critic=critic)
    if actor is not None:
        networks = networks._replace(actor=actor, store_spec={})
    return method._replace(networks=networks)


def make_agent(cfg: Config, spec: EnvSpec) -> SAC:
    """Multi-task SAC with ``cfg.algo``'s networks and hooks."""
    method = build_method(cfg, spec)
    return make_sac(method.networks, cfg, spec.num_tasks, spec.act_dim, method.hooks)
