"""The paper venue: a harsh, deterministic, persistent simulator (seed 004)."""
from adapters.paper.catalogue import Catalogue
from adapters.paper.config import PaperConfig
from adapters.paper.venue import PaperVenue

__all__ = ["Catalogue", "PaperConfig", "PaperVenue"]
