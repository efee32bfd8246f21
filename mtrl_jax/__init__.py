"""mtrl_jax: multi-task reinforcement learning on Meta-World in pure functional JAX."""

__version__ = "0.1.0"
