"""A real QGIS (PyQGIS, headless) doing what a GIS engineer does with Kansenkaart Flexwonen.

Run with the *system* Python that has QGIS (Debian: python3-qgis, qgis-providers), not the
project's venv, with ``QT_QPA_PLATFORM=offscreen`` and a private profile (tests/qgis/conftest.py
does this):

    python3 qgis_client.py TASK.json RESULT.json

TASK.json holds ``{"task": "gpkg" | "oapif" | "vectortile", ...}``; the answers (what QGIS saw)
are written to RESULT.json for the test to check. Tasks:

- ``gpkg``: open each layer of a result/export GeoPackage as QGIS does (its default style from the
  ``layer_styles`` table) and report the renderer, categories or ranges and their colours; render
  the overview above the tier-A sites and report the colours at those sites.
- ``oapif``: store a Basic authentication configuration (e-mail + API token) in a fresh auth
  database with a master password, add a "WFS / OGC API - Features" connection with it, list the
  collections through QGIS's browser, load each one and read every feature.
- ``vectortile``: fetch the style document with the same authentication configuration, load it for
  an XYZ vector tile layer of the api's tiles (as Layer Properties → Style → Load Style does) and
  render the layer to a PNG.

This file uses only QGIS and the standard library.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from qgis.core import (
    Qgis,
    QgsApplication,
    QgsAuthMethodConfig,
    QgsBlockingNetworkRequest,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsDataSourceUri,
    QgsFeatureRequest,
    QgsMapBoxGlStyleConversionContext,
    QgsMapBoxGlStyleConverter,
    QgsMapRendererSequentialJob,
    QgsMapSettings,
    QgsProject,
    QgsRectangle,
    QgsSettings,
    QgsUnitTypes,
    QgsVectorLayer,
    QgsVectorTileLayer,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QSize, QUrl
from qgis.PyQt.QtGui import QColor
from qgis.PyQt.QtNetwork import QNetworkRequest

WGS84 = QgsCoordinateReferenceSystem("EPSG:4326")
RD = QgsCoordinateReferenceSystem("EPSG:28992")
MERCATOR = QgsCoordinateReferenceSystem("EPSG:3857")
CONNECTION = "Kansenkaart"
#: The id column of each collection (candidate layers: site_id).
IDS = {
    "gemeenten": "gemeentecode",
    "uitgesloten_percelen": "parcel_id",
    "uitgesloten_panden": "pand_id",
}


def _color(c: QColor) -> dict[str, Any]:
    return {"hex": c.name(), "alpha": c.alpha()}


def _symbol_colors(symbol: Any) -> dict[str, Any]:
    layer = symbol.symbolLayer(0)
    out = {"fill": _color(symbol.color()), "opacity": symbol.opacity()}
    stroke = getattr(layer, "strokeColor", None)
    if stroke is not None:
        out["stroke"] = _color(stroke())
    return out


def _basic_authcfg(email: str, token: str) -> str:
    """A Basic authentication configuration in this profile's (new) auth database."""
    manager = QgsApplication.authManager()
    if manager.isDisabled():
        raise RuntimeError(f"QGIS authentication is disabled: {manager.disabledMessage()}")
    if not manager.setMasterPassword("kansenkaart-test-master", True):
        raise RuntimeError("could not set the master password of the auth database")
    config = QgsAuthMethodConfig()
    config.setName("Kansenkaart Flexwonen")
    config.setMethod("Basic")
    config.setConfig("username", email)
    config.setConfig("password", token)
    stored = manager.storeAuthenticationConfig(config)
    if not (stored[0] if isinstance(stored, tuple) else stored) or not config.id():
        raise RuntimeError("could not store the authentication configuration")
    return config.id()


def _get(url: str, authcfg: str) -> bytes:
    request = QgsBlockingNetworkRequest()
    request.setAuthCfg(authcfg)
    error = request.get(QNetworkRequest(QUrl(url)))
    if error != QgsBlockingNetworkRequest.NoError:
        raise RuntimeError(f"GET {url} failed: {request.errorMessage()}")
    return bytes(request.reply().content())


def _render(layers: list[Any], extent: QgsRectangle, crs: QgsCoordinateReferenceSystem, size: int):
    settings = QgsMapSettings()
    settings.setLayers(layers)  # first = top
    settings.setDestinationCrs(crs)
    settings.setOutputSize(QSize(size, size))
    settings.setExtent(extent)
    settings.setBackgroundColor(QColor(255, 255, 255))
    job = QgsMapRendererSequentialJob(settings)
    job.start()
    job.waitForFinished()
    return job.renderedImage(), settings


def _pixel_at(image: Any, settings: QgsMapSettings, x: float, y: float) -> str:
    point = settings.mapToPixel().transform(x, y)
    return QColor(image.pixel(int(point.x()), int(point.y()))).name()


# -- tasks ----------------------------------------------------------------------------------------
def task_gpkg(task: dict[str, Any]) -> dict[str, Any]:
    path = task["path"]
    layers: dict[str, Any] = {}
    loaded: dict[str, QgsVectorLayer] = {}
    for name in task["layers"]:
        layer = QgsVectorLayer(f"{path}|layername={name}", name, "ogr")
        loaded[name] = layer
        info: dict[str, Any] = {
            "valid": layer.isValid(),
            "crs": layer.crs().authid(),
            "features": layer.featureCount(),
            "fields": {f.name(): f.typeName() for f in layer.fields()},
        }
        renderer = layer.renderer()
        info["renderer"] = renderer.type() if renderer else None
        if renderer and renderer.type() == "categorizedSymbol":
            info["attribute"] = renderer.classAttribute()
            info["categories"] = [
                {"value": c.value(), "label": c.label(), **_symbol_colors(c.symbol())}
                for c in renderer.categories()
            ]
        if renderer and renderer.type() == "graduatedSymbol":
            info["attribute"] = renderer.classAttribute()
            info["ranges"] = [
                {
                    "lower": r.lowerValue(),
                    "upper": r.upperValue(),
                    "label": r.label(),
                    **_symbol_colors(r.symbol()),
                }
                for r in renderer.ranges()
            ]
            info["values"] = [f["capacity_ab"] for f in layer.getFeatures()]
        layers[name] = info
    out: dict[str, Any] = {"layers": layers}
    # The overview drawn *above* the sites: what colour does a tier-A site show?
    sites, overview = loaded.get("tijdelijke_locaties"), loaded.get("gemeenten")
    if sites is not None and overview is not None:
        request = QgsFeatureRequest().setFilterExpression("\"tier\" = 'A'")
        samples = []
        for feature in sites.getFeatures(request):
            centre = feature.geometry().pointOnSurface().asPoint()
            box = QgsRectangle(
                centre.x() - 150, centre.y() - 150, centre.x() + 150, centre.y() + 150
            )
            both, ms = _render([overview, sites], box, RD, 300)
            alone, _ = _render([overview], box, RD, 300)
            samples.append(
                {
                    "site": _pixel_at(both, ms, centre.x(), centre.y()),
                    "overview_only": _pixel_at(alone, ms, centre.x(), centre.y()),
                }
            )
            if len(samples) == 3:
                break
        out["tier_a_under_overview"] = samples
    return out


def _connection(base: str, authcfg: str, page_size: int) -> None:
    """A "WFS / OGC API - Features" connection, as the New Connection dialog stores it."""
    settings = QgsSettings()
    key = f"qgis/connections-wfs/{CONNECTION}"
    settings.setValue(f"{key}/url", base.rstrip("/") + "/api/ogc")
    settings.setValue(f"{key}/version", "OGC_API_FEATURES")
    settings.setValue(f"{key}/pagingenabled", "true")
    settings.setValue(f"{key}/pagesize", str(page_size))
    settings.setValue(f"qgis/WFS/{CONNECTION}/authcfg", authcfg)


def task_oapif(task: dict[str, Any]) -> dict[str, Any]:
    authcfg = _basic_authcfg(task["email"], task["token"])
    _connection(task["base"], authcfg, task["page_size"])
    provider = QgsApplication.dataItemProviderRegistry().provider("WFS")
    root = provider.createDataItem("", None)
    connections = root.createChildren()
    listed: list[dict[str, str]] = []
    for connection in connections:
        if connection.name() != CONNECTION:
            continue
        for item in connection.createChildren():
            for mime in item.mimeUris():
                listed.append({"title": item.name(), "provider": mime.providerKey, "uri": mime.uri})
    layers: dict[str, Any] = {}
    for entry in listed:
        uri = QgsDataSourceUri(entry["uri"])
        name = uri.param("typename")
        layer = QgsVectorLayer(entry["uri"], name, entry["provider"])
        info: dict[str, Any] = {"valid": layer.isValid(), "crs": layer.crs().authid()}
        if layer.isValid():
            key = IDS.get(name, "site_id")
            rows = [(f[key], f["gemeentecode"]) for f in layer.getFeatures()]
            info.update(
                geometry=QgsWkbTypes.displayString(layer.wkbType()),
                fields=[f.name() for f in layer.fields()],
                ids=[r[0] for r in rows],
                codes=sorted({r[1] for r in rows}),
            )
        else:
            info["error"] = layer.error().message()
        layers[name] = info
    return {"collections": listed, "layers": layers}


def task_vectortile(task: dict[str, Any]) -> dict[str, Any]:
    authcfg = _basic_authcfg(task["email"], task["token"])
    base, name = task["base"].rstrip("/"), task["layer"]
    # The style document, fetched with the same credentials and kept as a file (what a user does
    # in QGIS 3.22, whose "Style URL" request carries no credentials).
    style_path = os.path.join(task["workdir"], f"{name}.json")
    with open(style_path, "wb") as fh:
        fh.write(_get(f"{base}/api/styles/{name}.json", authcfg))
    with open(style_path, encoding="utf-8") as fh:
        style = json.load(fh)
    source = style["sources"][name]
    uri = QgsDataSourceUri()
    uri.setParam("type", "xyz")
    uri.setParam("url", source["tiles"][0])
    uri.setParam("zmin", str(source["minzoom"]))
    uri.setParam("zmax", str(source["maxzoom"]))
    uri.setAuthConfigId(authcfg)
    layer = QgsVectorTileLayer(bytes(uri.encodedUri()).decode(), name)
    context = QgsMapBoxGlStyleConversionContext()
    context.setTargetUnit(QgsUnitTypes.RenderMillimeters)
    context.setPixelSizeConversionFactor(25.4 / 96.0)
    converter = QgsMapBoxGlStyleConverter()
    with open(style_path, encoding="utf-8") as fh:
        status = converter.convert(fh.read(), context)
    if status != QgsMapBoxGlStyleConverter.Success:
        raise RuntimeError(f"style conversion failed: {converter.errorMessage()}")
    layer.setRenderer(converter.renderer())
    rules = [
        {
            "name": s.styleName(),
            "layer": s.layerName(),
            "filter": s.filterExpression(),
            **_symbol_colors(s.symbol()),
        }
        for s in layer.renderer().styles()
    ]
    west, south, east, north = task.get("extent") or source["bounds"]
    extent = QgsCoordinateTransform(WGS84, MERCATOR, QgsProject.instance()).transformBoundingBox(
        QgsRectangle(west, south, east, north)
    )
    image, settings = _render([layer], extent, MERCATOR, task.get("size", 800))
    image.save(task["png"])
    counts: dict[str, int] = {}
    for y in range(image.height()):
        for x in range(image.width()):
            hex_ = QColor(image.pixel(x, y)).name()
            counts[hex_] = counts.get(hex_, 0) + 1
    return {
        "valid": layer.isValid(),
        "warnings": converter.warnings(),
        "rules": rules,
        "scale": settings.scale(),
        "colors": counts,
        "pixels": image.width() * image.height(),
    }


TASKS = {"gpkg": task_gpkg, "oapif": task_oapif, "vectortile": task_vectortile}


def main() -> int:
    task_path, result_path = sys.argv[1], sys.argv[2]
    with open(task_path, encoding="utf-8") as fh:
        task = json.load(fh)
    app = QgsApplication([], False, os.environ["KANSENKAART_QGIS_PROFILE"])
    app.initQgis()
    try:
        result = TASKS[task["task"]](task)
        result["qgis_version"] = Qgis.QGIS_VERSION
    finally:
        app.exitQgis()
    with open(result_path, "w", encoding="utf-8") as fh:
        json.dump(result, fh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
