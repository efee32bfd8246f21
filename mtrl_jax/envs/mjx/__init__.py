"""Meta-World MT10 on MJX: scenes derived from metaworld's XML (``scene``), the batched env
(``env.MJXMultiTaskEnv``), and the port's scenes on CPU MuJoCo for checks (``cpu_port``)."""

from .env import MJXMultiTaskEnv, TaskState  # noqa: F401
from .scene import PORT_PAIRS, build_port_spec, original_model, port_model  # noqa: F401
