from mtrl_jax.xla_cache import enable_compile_cache

# Tests run on the CPU; cache compilations across test processes and CI runs.
enable_compile_cache()
