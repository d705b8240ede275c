"""The search index's addresses from a real LVBAG extract (issue 12): postcode and house number
through the unit's nummeraanduiding (NUM), the street through the openbare ruimte (OPR)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from pipeline import catalog
from pipeline.search_index import address_rows

from .conftest import REAL_DATA


@pytest.mark.real
def test_lvbag_addresses_reach_the_search_index(tmp_path: Path) -> None:
    bag_dir = REAL_DATA / "bag_doesburg_0221"
    if not bag_dir.exists():
        pytest.skip("real data not available")
    folder = tmp_path / "extract"
    folder.mkdir()
    shutil.copy(bag_dir / "0221PND15092020.zip", folder)
    for kind in ("VBO", "NUM", "OPR"):
        shutil.copy(bag_dir / "lvbag_sample_small" / f"0221{kind}15092020-000001.xml", folder)
    loaded = catalog.load_source(catalog.SourceSpec(key="buildings", path=folder, format="bag"))
    units = loaded.layers["units"]
    num_xml = (bag_dir / "lvbag_sample_small" / "0221NUM15092020-000001.xml").read_text("utf-8")
    postcodes = set(re.findall(r"<Objecten:postcode>([^<]+)<", num_xml))
    with_pc = units[units["postcode"].notna()]
    assert len(with_pc) >= 1 and set(with_pc["postcode"]) <= postcodes
    assert units["huisnummer"].notna().all()
    rows = address_rows(units.assign(gemeentecode="GM0221"))
    assert len(rows) == len(units)
    row = rows[rows["postcode"] == with_pc["postcode"].iloc[0]].iloc[0]
    assert row["naam"].startswith(str(with_pc["straatnaam"].iloc[0]))
    pc = str(row["postcode"])
    assert f"{pc[:4]} {pc[4:]}" in row["naam"]
