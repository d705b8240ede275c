"""Mapbox Vector Tiles: WebMercatorQuad tile maths, geometry preparation and a vectorised encoder.

The encoder writes the MVT 2.1 protobuf directly with numpy (command streams, zigzag deltas and
varints are computed for all features of a layer at once), several times faster than encoding
feature by feature with ``mapbox_vector_tile.encode``; ``mapbox_vector_tile.decode`` reads what it writes (see the tests).

Geometry preparation (:func:`prepare_polygons`, :func:`prepare_points`): clip to the tile plus a
buffer, map to integer tile coordinates (y down, extent 4096), simplify below the maximum zoom,
snap to the integer grid with valid output, orient rings as the spec requires (exterior positive
area in tile coordinates), and keep polygons that collapse to nothing visible as a small square.
"""

from __future__ import annotations

import gzip
import math
import struct
from collections import OrderedDict
from collections.abc import Mapping
from threading import Lock

import numpy as np
import pandas as pd
import shapely

EXTENT = 4096
BUFFER = 64  # tile units of context around each tile
WORLD = 2 * math.pi * 6378137.0
ORIGIN = WORLD / 2

_MOVE_TO, _LINE_TO, _CLOSE = 1, 2, 7
GEOM_POINT, GEOM_POLYGON = 1, 3


# -- tile maths ---------------------------------------------------------------------------------
def tile_bounds_3857(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """(minx, miny, maxx, maxy) of a WebMercatorQuad tile in EPSG:3857 metres."""
    size = WORLD / (1 << z)
    minx = -ORIGIN + x * size
    maxy = ORIGIN - y * size
    return minx, maxy - size, minx + size, maxy


def lonlat_to_3857(
    lon: np.ndarray | float, lat: np.ndarray | float
) -> tuple[np.ndarray, np.ndarray]:
    """Spherical Mercator forward projection (exact for EPSG:3857)."""
    lon_a = np.asarray(lon, dtype=float)
    lat_a = np.clip(np.asarray(lat, dtype=float), -85.05112878, 85.05112878)
    x = np.radians(lon_a) * 6378137.0
    y = np.log(np.tan(np.pi / 4 + np.radians(lat_a) / 2)) * 6378137.0
    return x, y


def _to_tile_coords(geoms: np.ndarray, bounds: tuple[float, float, float, float]) -> np.ndarray:
    minx, _miny, maxx, maxy = bounds
    scale = EXTENT / (maxx - minx)

    def fn(c: np.ndarray) -> np.ndarray:
        out = np.empty_like(c)
        out[:, 0] = (c[:, 0] - minx) * scale
        out[:, 1] = (maxy - c[:, 1]) * scale
        return out

    return shapely.transform(geoms, fn)


def prepare_polygons(
    geoms: np.ndarray, bounds: tuple[float, float, float, float], *, simplify: float
) -> tuple[np.ndarray, np.ndarray]:
    """Clip, project to tile coordinates, simplify and snap polygons.

    Returns the prepared geometries and the positions (into ``geoms``) that survived.
    ``simplify`` is the Douglas-Peucker tolerance in tile units (0 = none).
    """
    if len(geoms) == 0:
        return geoms, np.zeros(0, dtype=np.int64)
    minx, miny, maxx, maxy = bounds
    pad = (maxx - minx) * BUFFER / EXTENT
    clipped = shapely.clip_by_rect(geoms, minx - pad, miny - pad, maxx + pad, maxy + pad)
    tiled = _to_tile_coords(clipped, bounds)
    if simplify > 0:
        tiled = shapely.simplify(tiled, simplify, preserve_topology=False)
    # Snap to the integer grid (rounding + dropping repeated vertices: ~5x cheaper than
    # set_precision; the rare self-touching ring this can leave is harmless to renderers).
    try:
        snapped = shapely.remove_repeated_points(shapely.transform(tiled, np.rint))
    except shapely.errors.GEOSException:
        # A ring collapsed to fewer than three points (a tiny hole or a thin part of an irregular
        # parcel; 4 of 8,718 candidate tiles of the province at z10-16): snap this tile's
        # polygons with GEOS's precision model, which drops collapsed rings and keeps the output
        # valid.
        snapped = shapely.set_precision(tiled, 1.0)
    snapped = shapely.orient_polygons(snapped, exterior_cw=False)
    # Polygons that collapsed at this zoom stay visible as a 4×4 unit square at their centre.
    gone = ~np.isin(shapely.get_type_id(snapped), (3, 6)) | (shapely.area(snapped) == 0)
    if gone.any():
        centres = shapely.centroid(_to_tile_coords(geoms[gone], bounds))
        cx, cy = shapely.get_x(centres), shapely.get_y(centres)
        inside = (
            (cx >= -BUFFER) & (cx <= EXTENT + BUFFER) & (cy >= -BUFFER) & (cy <= EXTENT + BUFFER)
        )
        inside &= ~shapely.is_empty(clipped[gone])
        cx, cy = np.round(cx), np.round(cy)
        squares = shapely.box(cx - 2, cy - 2, cx + 2, cy + 2, ccw=True)
        squares[~inside] = None
        fixed = snapped.copy()
        fixed[gone] = squares
        snapped = fixed
    keep = ~shapely.is_missing(snapped) & ~shapely.is_empty(snapped)
    return snapped[keep], np.flatnonzero(keep)


def prepare_points(
    geoms: np.ndarray, bounds: tuple[float, float, float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Project points to integer tile coordinates; keeps those inside the buffered tile."""
    if len(geoms) == 0:
        return geoms, np.zeros(0, dtype=np.int64)
    tiled = shapely.set_precision(_to_tile_coords(geoms, bounds), 1.0)
    x, y = shapely.get_x(tiled), shapely.get_y(tiled)
    keep = (x >= -BUFFER) & (x <= EXTENT + BUFFER) & (y >= -BUFFER) & (y <= EXTENT + BUFFER)
    return tiled[keep], np.flatnonzero(keep)


# -- protobuf helpers ---------------------------------------------------------------------------
def _varint_slow(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


_SMALL_VARINTS = [_varint_slow(i) for i in range(1 << 14)]


def _varint(value: int) -> bytes:
    return _SMALL_VARINTS[value] if value < 16384 else _varint_slow(value)


#: 2**7, 2**14, …, 2**63: a value needs one byte more than the number of these it reaches.
_VARINT_LIMITS = np.array([1 << (7 * k) for k in range(1, 10)], dtype=np.uint64)


def _varints(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Varint-encode non-negative integers; returns the bytes and each value's byte count."""
    v = np.ascontiguousarray(values, dtype=np.uint64)
    if v.size == 0:
        return np.zeros(0, np.uint8), np.zeros(0, np.int64)
    top = int(v.max())
    if top < 0x80:  # one byte each (most streams of a small tile)
        return v.astype(np.uint8), np.ones(v.size, dtype=np.int64)
    nbytes = np.searchsorted(_VARINT_LIMITS, v, side="right").astype(np.int64) + 1
    width = int(nbytes.max())
    out = np.empty((v.size, width), dtype=np.uint8)
    for k in range(width):
        byte = ((v >> np.uint64(7 * k)) & np.uint64(0x7F)).astype(np.uint8)
        out[:, k] = byte | ((nbytes > k + 1).astype(np.uint8) << 7)
    mask = np.arange(width)[None, :] < nbytes[:, None]
    return out[mask], nbytes


def _zigzag(values: np.ndarray) -> np.ndarray:
    v = values.astype(np.int64)
    return ((v << 1) ^ (v >> 63)).astype(np.uint64)


def _field(tag: int, payload: bytes) -> bytes:
    return bytes((tag,)) + _varint(len(payload)) + payload


def _value(v: object) -> bytes:
    if isinstance(v, bool | np.bool_):
        return b"\x38" + (b"\x01" if v else b"\x00")
    if isinstance(v, int | np.integer):
        iv = int(v)
        return b"\x30" + _varint((iv << 1) ^ (iv >> 63))
    if isinstance(v, float | np.floating):
        return b"\x19" + struct.pack("<d", float(v))
    return _field(0x0A, str(v).encode())


# -- geometry command streams -------------------------------------------------------------------
def _ragged_varints(
    stream: np.ndarray, feat_of_value: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Varint-encode a stream; returns the bytes and the byte count per feature."""
    data, nbytes = _varints(stream)
    per_feature = np.bincount(feat_of_value, weights=nbytes, minlength=n).astype(np.int64)
    return data, per_feature


def _polygon_streams(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = len(geoms)
    parts, feat_of_part = shapely.get_parts(geoms, return_index=True)
    rings, part_of_ring = shapely.get_rings(parts, return_index=True)
    feat_of_ring = feat_of_part[part_of_ring]
    coords, ring_of_coord = shapely.get_coordinates(rings, return_index=True)
    counts = np.bincount(ring_of_coord, minlength=len(rings))
    keep = np.ones(len(coords), dtype=bool)
    keep[np.cumsum(counts) - 1] = False  # the closing coordinate is implied by ClosePath
    coords = np.rint(coords[keep]).astype(np.int64)
    ring_of_coord = ring_of_coord[keep]
    npts = counts - 1
    feat_of_coord = feat_of_ring[ring_of_coord]
    prev = np.zeros_like(coords)
    prev[1:] = coords[:-1]
    first_of_feat = np.ones(len(coords), dtype=bool)
    first_of_feat[1:] = feat_of_coord[1:] != feat_of_coord[:-1]
    prev[first_of_feat] = 0
    zz = _zigzag(coords - prev)
    ring_len = 2 * npts + 3
    ring_start = np.concatenate([[0], np.cumsum(ring_len)[:-1]])
    stream = np.empty(int(ring_len.sum()), dtype=np.uint64)
    stream[ring_start] = _MOVE_TO | (1 << 3)
    stream[ring_start + 3] = (_LINE_TO | ((npts - 1) << 3)).astype(np.uint64)
    stream[ring_start + ring_len - 1] = _CLOSE | (1 << 3)
    first_coord = np.concatenate([[0], np.cumsum(npts)[:-1]])
    j = np.arange(len(coords)) - first_coord[ring_of_coord]
    pos = ring_start[ring_of_coord] + np.where(j == 0, 1, 4 + 2 * (j - 1))
    stream[pos] = zz[:, 0]
    stream[pos + 1] = zz[:, 1]
    return _ragged_varints(stream, np.repeat(feat_of_ring, ring_len), n)


def _point_streams(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = len(geoms)
    coords, feat_of_coord = shapely.get_coordinates(geoms, return_index=True)
    coords = np.rint(coords).astype(np.int64)
    prev = np.zeros_like(coords)
    prev[1:] = coords[:-1]
    first = np.ones(len(coords), dtype=bool)
    first[1:] = feat_of_coord[1:] != feat_of_coord[:-1]
    prev[first] = 0
    zz = _zigzag(coords - prev)
    npts = np.bincount(feat_of_coord, minlength=n)
    feat_len = 1 + 2 * npts
    feat_start = np.concatenate([[0], np.cumsum(feat_len)[:-1]])
    stream = np.empty(int(feat_len.sum()), dtype=np.uint64)
    stream[feat_start] = (_MOVE_TO | (npts << 3)).astype(np.uint64)
    j = np.arange(len(coords)) - np.concatenate([[0], np.cumsum(npts)[:-1]])[feat_of_coord]
    pos = feat_start[feat_of_coord] + 1 + 2 * j
    stream[pos] = zz[:, 0]
    stream[pos + 1] = zz[:, 1]
    return _ragged_varints(stream, np.repeat(np.arange(n), feat_len), n)


def _interleave(segments: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Concatenate, feature by feature, several ragged byte arrays (data, length per feature)."""
    lengths = np.stack([lens for _, lens in segments], axis=1)  # (n, k)
    total = lengths.sum(axis=1)
    starts = np.concatenate([[0], np.cumsum(total)[:-1]])
    offsets = starts[:, None] + np.concatenate(
        [np.zeros((len(total), 1), dtype=np.int64), np.cumsum(lengths, axis=1)[:, :-1]], axis=1
    )
    out = np.empty(int(total.sum()), dtype=np.uint8)
    for k, (data, lens) in enumerate(segments):
        if len(data) == 0:
            continue
        seg_start = np.repeat(offsets[:, k], lens)
        within = np.arange(len(data)) - np.repeat(np.concatenate([[0], np.cumsum(lens)[:-1]]), lens)
        out[seg_start + within] = data
    return out


def encode_values(values: np.ndarray) -> np.ndarray:
    """Pre-encode property values as the layer's ``values`` fields (``None``/NaN stay ``None``).

    Stores call this once at load, so tiles only join bytes (see ``encode_layer(pre_encoded=…)``).
    Each distinct value is encoded once.
    """
    codes, uniques = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
    encoded = np.empty(len(uniques) + 1, dtype=object)
    encoded[-1] = None
    for i, v in enumerate(uniques.tolist()):
        msg = _value(v)
        encoded[i] = b"\x22" + _varint(len(msg)) + msg
    return encoded[codes]


#: Below this many features a layer's distinct values are found with a dict: most tiles hold a
#: few features, where pandas' per-call overhead (~25 µs a column) outweighs the hashing.
_SMALL_LAYER = 256


def _distinct_messages(column: np.ndarray) -> tuple[np.ndarray, list[bytes]]:
    """Codes into the distinct encoded values (``None`` → -1) and those values in order of first
    appearance, as ``pd.factorize(…, use_na_sentinel=True)`` gives them (the values are bytes)."""
    if len(column) >= _SMALL_LAYER:
        codes, uniques = pd.factorize(pd.Series(column, dtype=object), use_na_sentinel=True)
        return codes, uniques.tolist()
    seen: dict[bytes, int] = {}
    out = [-1 if v is None else seen.setdefault(v, len(seen)) for v in column.tolist()]
    return np.array(out, dtype=np.int64), list(seen)


# -- layers and tiles ---------------------------------------------------------------------------
def encode_layer(
    name: str,
    geoms: np.ndarray,
    properties: Mapping[str, np.ndarray],
    *,
    geom_type: int,
    pre_encoded: bool = False,
) -> bytes:
    """Encode one MVT layer (geometries already in integer tile coordinates).

    ``properties`` maps a key to an array aligned with ``geoms``; ``None``/NaN values are left out.
    With ``pre_encoded`` the arrays hold the output of :func:`encode_values` instead of values.
    Everything is computed for all features at once; only the distinct property values are
    visited one by one.
    """
    n = len(geoms)
    head = b"\x78\x02" + _field(0x0A, name.encode())  # version 2, name
    tail = b"\x28" + _varint(EXTENT)
    if n == 0:
        return head + tail
    geom_bytes, geom_lens = (
        _polygon_streams(geoms) if geom_type == GEOM_POLYGON else _point_streams(geoms)
    )
    keys = list(properties)
    values: list[bytes] = []
    tag_matrix = np.empty((n, 2 * len(keys)), dtype=np.int64)
    for k, key in enumerate(keys):
        column = (
            properties[key]
            if pre_encoded
            else encode_values(np.asarray(properties[key], dtype=object))
        )
        codes, uniques = _distinct_messages(column)
        tag_matrix[:, 2 * k] = k
        tag_matrix[:, 2 * k + 1] = np.where(codes >= 0, codes + len(values), -1)
        values.extend(uniques)
    present = np.repeat(tag_matrix[:, 1::2] >= 0, 2, axis=1)
    row = np.broadcast_to(np.arange(n)[:, None], tag_matrix.shape)[present]
    tag_bytes, tag_lens = _ragged_varints(tag_matrix[present].astype(np.uint64), row, n)
    tag_len_bytes, tag_len_n = _varints(tag_lens)
    geom_len_bytes, geom_len_n = _varints(geom_lens)
    fixed = np.frombuffer(bytes((0x18, geom_type, 0x22)), dtype=np.uint8)
    # Feature message: 0x12 len tags | 0x18 type | 0x22 len geometry
    feature_len = 1 + tag_len_n + tag_lens + 3 + geom_len_n + geom_lens
    feat_len_bytes, feat_len_n = _varints(feature_len)
    ones = np.ones(n, dtype=np.int64)
    features = _interleave(
        [
            (np.full(n, 0x12, dtype=np.uint8), ones),  # layer.features field
            (feat_len_bytes, feat_len_n),
            (np.full(n, 0x12, dtype=np.uint8), ones),  # feature.tags field
            (tag_len_bytes, tag_len_n),
            (tag_bytes, tag_lens),
            (np.tile(fixed, n), 3 * ones),
            (geom_len_bytes, geom_len_n),
            (geom_bytes, geom_lens),
        ]
    )
    keys_bytes = b"".join(_field(0x1A, key.encode()) for key in keys)
    return head + features.tobytes() + keys_bytes + b"".join(values) + tail


def encode_tile(layers: list[bytes]) -> bytes:
    """Concatenate encoded layers into a tile."""
    return b"".join(_field(0x1A, layer) for layer in layers)


def gzip_tile(data: bytes) -> bytes:
    """Gzip a tile (deterministic: no timestamp)."""
    return gzip.compress(data, compresslevel=6, mtime=0)


class TileCache:
    """A thread-safe LRU cache of gzipped tiles, bounded in bytes.

    Keys always include the data version, the tile, the caller's scope and the filters, so a tile
    rendered for one municipality can never be served to another.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple[object, ...], bytes] = OrderedDict()
        self._size = 0
        self._lock = Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple[object, ...]) -> bytes | None:
        with self._lock:
            value = self._items.get(key)
            if value is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key: tuple[object, ...], value: bytes) -> None:
        if len(value) > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._size -= len(old)
            self._items[key] = value
            self._size += len(value)
            while self._size > self.max_bytes and self._items:
                _, evicted = self._items.popitem(last=False)
                self._size -= len(evicted)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._size = 0
