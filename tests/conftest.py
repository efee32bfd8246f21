import os

import jax

# Tests run on the CPU; cache compilations across test processes and CI runs.
jax.config.update("jax_compilation_cache_dir", os.path.expanduser("~/.cache/mtrl_jax/xla"))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
