"""Storage of the service: the user database (:mod:`api.store.users`) and the scan data behind
one interface (:mod:`api.store.data`, implemented for the result GeoPackage in
:mod:`api.store.gpkg`)."""
