"""Reading and writing volumes (ct) and, later, rasters."""
from . import ct

__all__ = ["ct"]
