"""revenium-flow generator."""

from generator import cpus as _cpus  # noqa: F401  (first CPU sample: the default worker count measures from here)
