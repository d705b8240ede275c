"""One reader per published format (BAG, BRK, IMRO, CBS, vacancy, ownership, stops, rasters,
zones). Readers are pure: they get what :mod:`pipeline.catalog` read from disk and return the
canonical layer of :mod:`pipeline.schemas`, recording problems and warnings in an ``Issues``."""
