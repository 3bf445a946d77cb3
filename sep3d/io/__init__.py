"""Reading and writing volumes (:mod:`~sep3d.io.ct`) and rasters (:mod:`~sep3d.io.raster`)."""
from . import ct, raster
from .raster import open_raster, write_raster

__all__ = ["ct", "raster", "open_raster", "write_raster"]
