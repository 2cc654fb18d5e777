"""artgenre: adversarial attacks and defenses on music genre classifiers, through IBM ART."""

from artgenre.errors import ArtGenreError, CheckpointError, DataError, ParameterError

__version__ = "0.1.0"

__all__ = ["ArtGenreError", "CheckpointError", "DataError", "ParameterError", "__version__"]
