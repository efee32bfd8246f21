"""CPU Meta-World (v3 tasks, v2 reward, 500-step horizon, random goals) behind the env interface.

A gymnasium sync vector env with one env per task (``envs_per_task`` = 1). Physics runs on the
host, so ``on_device`` is False: the training loop steps it from Python and keeps the replay
buffer and the updates on the device. Evaluation follows Meta-World+ (DESIGN.md section 3):
per task, one episode per pre-sampled goal (50), deterministic actions, success if the task
succeeds at any step (the eval env ends an episode at its first success).
"""

from __future__ import annotations

import warnings

import numpy as np

from mtrl_jax.envs.base import EnvSpec, StepOut, spec_of
from mtrl_jax.envs.mw_tasks.tasks import MT10_TASKS  # noqa: F401  (the benchmark's task order)

OBS_DIM = 39
ACT_DIM = 4


def make_vector_env(benchmark: str, seed: int, mt1_task: str | None = None,
                    evaluation: bool = False):
    """The gymnasium vector env: obs (T, 39 + T) with the one-hot task id appended.

    ``benchmark`` is "MT10", "MT50" or "MT1" (with ``mt1_task``). ``evaluation`` cycles through
    the pre-sampled goals (pseudorandom task selection) as Meta-World+'s evaluation does.
    """
    import gymnasium as gym
    import metaworld  # noqa: F401  (registers the Meta-World/* ids)

    warnings.filterwarnings("ignore", message=".*precision lowered.*")
    kwargs = dict(seed=seed, use_one_hot=True)
    if evaluation:
        kwargs["task_select"] = "pseudorandom"
    if benchmark == "MT1":
        from metaworld import make_mt_envs
        return gym.vector.SyncVectorEnv(
            [lambda: make_mt_envs(mt1_task, env_id=0, num_tasks=1, **kwargs)],
            autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    return gym.make_vec(f"Meta-World/{benchmark}", vector_strategy="sync", **kwargs)


def _task_names(vec) -> tuple[str, ...]:
    from metaworld.env_dict import ALL_V3_ENVIRONMENTS
    by_class = {cls.__name__: name for name, cls in ALL_V3_ENVIRONMENTS.items()}
    return tuple(by_class[type(e).__name__] for e in vec.get_attr("unwrapped"))


def _success(info: dict, num_envs: int) -> np.ndarray:
    """info["success"] of every env, taken from final_info where the episode just ended."""
    success = np.zeros(num_envs, bool)
    if "success" in info:
        success |= np.asarray(info["success"], float) > 0
    if "final_info" in info:
        done = np.asarray(info["_final_info"], bool)
        success[done] = np.asarray(info["final_info"]["success"], float)[done] > 0
    return success


class MetaWorldEnv:
    """MT10 / MT50 / MT1 on CPU MuJoCo; arrays are numpy, shaped (T, 1, ...)."""

    act_dim = ACT_DIM
    obs_dim = OBS_DIM
    envs_per_task = 1
    max_episode_steps = 500
    on_device = False

    def __init__(self, benchmark: str = "MT10", seed: int = 0, mt1_task: str = "reach-v3"):
        self.benchmark, self.seed, self.mt1_task = benchmark, seed, mt1_task
        self.vec = make_vector_env(benchmark, seed, mt1_task)
        self.num_tasks = self.vec.num_envs
        self.task_names = _task_names(self.vec)
        self._seeded = False

    def _split(self, obs):
        return np.asarray(obs, np.float32)[:, None, :OBS_DIM]

    def reset(self, key=None, goal_index=None):
        obs, _ = self.vec.reset(seed=None if self._seeded else self.seed)
        self._seeded = True
        return None, self._split(obs)

    def step(self, state, action, key=None):
        action = np.asarray(action, np.float64).reshape(self.num_tasks, ACT_DIM)
        obs, reward, terminated, truncated, info = self.vec.step(action)
        next_obs = np.array(obs, copy=True)
        if "final_obs" in info:
            for i in np.flatnonzero(info["_final_obs"]):
                next_obs[i] = info["final_obs"][i]
        col = lambda x, dt: np.asarray(x, dt)[:, None]  # noqa: E731
        return None, StepOut(self._split(obs), self._split(next_obs), col(reward, np.float32),
                             col(terminated, bool), col(truncated, bool),
                             col(_success(info, self.num_tasks), bool))

    def evaluate(self, policy, episodes: int = 50) -> np.ndarray:
        """Meta-World+ evaluation of ``policy(obs (T, 1, 39)) -> action (T, 1, 4)``: (T,) success."""
        from metaworld.evaluation import evaluation

        num_tasks = self.num_tasks

        class Agent:
            def eval_action(self, obs):
                obs = np.asarray(obs, np.float32)[:, None, :OBS_DIM]
                return np.asarray(policy(obs), np.float64).reshape(num_tasks, ACT_DIM)

            def reset(self, env_mask):
                pass

        if not hasattr(self, "_eval_vec"):
            # The benchmark's own pre-sampled goals (the seed draws them), as the MJX port's
            # evaluation uses.
            self._eval_vec = make_vector_env(self.benchmark, self.seed, self.mt1_task,
                                             evaluation=True)
            self._eval_vec.call("toggle_sample_tasks_on_reset", True)
        _, _, per_task, _ = evaluation(Agent(), self._eval_vec, num_episodes=episodes)
        names = _task_names(self._eval_vec)
        return np.array([per_task[name] for name in names if name in per_task][:num_tasks])

    @property
    def spec(self) -> EnvSpec:
        return spec_of(self)

    def with_envs(self, envs_per_task: int) -> "MetaWorldEnv":
        """Itself: Meta-World's vector env steps one env per task."""
        if envs_per_task != 1:
            raise ValueError(f"the CPU Meta-World env steps one env per task, not {envs_per_task}")
        return self

    def close(self):
        self.vec.close()
        if hasattr(self, "_eval_vec"):
            self._eval_vec.close()
