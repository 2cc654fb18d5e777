"""artgenre: adversarial attacks and defenses on music genre classifiers, through IBM ART."""

# First, before anything allocates large buffers: every entry point (CLI, API, tests) imports
# this package, and glibc's mallopt only governs allocations made after it (see _alloc).
from artgenre._alloc import configure_allocator as _configure_allocator

_configure_allocator()

from artgenre.errors import ArtGenreError, CheckpointError, DataError, ParameterError  # noqa: E402

__version__ = "0.1.0"

__all__ = ["ArtGenreError", "CheckpointError", "DataError", "ParameterError", "__version__"]
