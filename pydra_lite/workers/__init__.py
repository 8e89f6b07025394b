"""Where jobs run: the worker contract, its registry, and the built-in workers."""
