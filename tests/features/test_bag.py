"""BAG unit and building features: uses, vacancy, office share, shops, streets."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from pipeline.features import bag as fbag
from pipeline.schemas import GEBRUIKSDOELEN

from .conftest import b, frame, p

REF = dt.date(2025, 1, 1)


@pytest.fixture
def buildings():
    return frame(
        [b(0, 0, 20, 10), b(100, 0, 110, 10), b(200, 0, 210, 10), b(300, 0, 310, 10)],
        index=pd.Index(["B1", "B2", "B3", "B4"], name="pand_id"),
        bouwlagen=[3, 1, np.nan, 4],
    )


@pytest.fixture
def units():
    return frame(
        [p(5, 5), p(6, 5), p(7, 5), p(105, 5), p(205, 5), p(206, 5), p(305, 5), p(900, 900)],
        index=pd.Index(["U1", "U2", "U3", "U4", "U5", "U6", "U7", "U8"], name="vbo_id"),
        pand_id=["B1", "B1", "B1", "B2", "B3", "B3", "B4", None],
        gebruiksdoel=[
            ["kantoorfunctie"],
            ["kantoorfunctie", "winkelfunctie"],
            ["woonfunctie"],
            ["winkelfunctie"],
            ["winkelfunctie"],
            ["winkelfunctie"],
            ["winkelfunctie"],
            ["winkelfunctie"],
        ],
        oppervlakte_m2=[300.0, 100.0, 100.0, 50.0, 60.0, 60.0, 400.0, 80.0],
        gemeentecode=["GM1"] * 8,
        straatnaam=[
            "Laan",
            "Laan",
            "Laan",
            "Dorpsstraat",
            "Dorpsstraat",
            "Dorpsstraat",
            "Markt",
            None,
        ],
        energielabel=["C", None, "A", None, None, None, "G", None],
    )


@pytest.fixture
def vacancy():
    return pd.DataFrame(
        {
            "vbo_id": ["U1", "U4", "U5", "X9", "U6"],
            "vacant_since": pd.to_datetime(
                ["2021-01-01", "2024-01-01", "2022-01-01", "2020-01-01", "2026-01-01"]
            ),
            "source": ["t"] * 5,
        }
    )


def test_use_flags_from_lists_and_comma_strings(units):
    flags = fbag.use_flags(units, GEBRUIKSDOELEN)
    assert flags.loc["U2", "kantoorfunctie"] and flags.loc["U2", "winkelfunctie"]
    assert flags["n_uses"].tolist() == [1, 2, 1, 1, 1, 1, 1, 1]
    as_text = units.assign(gebruiksdoel=units["gebruiksdoel"].map(",".join))
    pd.testing.assert_frame_equal(fbag.use_flags(as_text, GEBRUIKSDOELEN), flags)


def test_vacancy_years_against_the_reference_date(units, vacancy):
    years = fbag.unit_vacant_years(units, vacancy, reference_date=REF)
    assert years.name == "vacant_years"
    assert years["U1"] == pytest.approx(1461 / 365.25)  # 2021-01-01 .. 2025-01-01
    assert years["U4"] == pytest.approx(366 / 365.25)
    assert years["U6"] == 0.0  # registered vacant only after the reference date
    assert years["U2"] == 0.0
    vac = fbag.unit_is_vacant(units, vacancy, reference_date=REF)
    assert vac[vac].index.tolist() == ["U1", "U4", "U5"]


def test_building_floor_office_and_vacancy(buildings, units, vacancy):
    flags = fbag.use_flags(units, GEBRUIKSDOELEN)
    floor = fbag.floor_area(buildings, units)
    office = fbag.office_floor_area(buildings, units, flags)
    assert floor.tolist() == [500.0, 50.0, 120.0, 400.0]
    assert office.tolist() == [350.0, 0.0, 0.0, 0.0]  # U2 counts half: two uses
    assert fbag.office_share(office, floor).tolist() == [0.7, 0.0, 0.0, 0.0]
    vac = fbag.unit_is_vacant(units, vacancy, reference_date=REF)
    share = fbag.building_vacant_share(buildings, units, vac)
    assert share.tolist() == pytest.approx([300 / 500, 1.0, 0.5, 0.0])
    years = fbag.unit_vacant_years(units, vacancy, reference_date=REF)
    by = fbag.building_vacant_years(buildings, units, years, vac)
    assert by["B1"] == pytest.approx(1461 / 365.25)
    assert by["B3"] == pytest.approx(1096 / 365.25)
    assert by["B4"] == 0.0
    # only the vacant office floor counts for homes: U1 (300 m², vacant); U2 is in use
    vacant_office = fbag.building_vacant_office_floor(buildings, units, flags, vac)
    assert vacant_office.tolist() == [300.0, 0.0, 0.0, 0.0]


def test_vacant_years_is_the_floor_weighted_mean_not_the_longest():
    buildings = frame([b(0, 0, 10, 10)], index=["B"])
    units = frame(
        [p(1, 1), p(2, 2), p(3, 3)],
        index=["a", "b", "c"],
        pand_id=["B", "B", "B"],
        gebruiksdoel=[["kantoorfunctie"]] * 3,
        oppervlakte_m2=[100.0, 300.0, 600.0],
    )
    years = pd.Series([6.0, 2.0, 0.0], index=units.index)
    vacant = pd.Series([True, True, False], index=units.index)
    got = fbag.building_vacant_years(buildings, units, years, vacant)
    assert got["B"] == pytest.approx((100 * 6 + 300 * 2) / 400)  # 3.0, not the longest 6


def test_energielabel_of_the_largest_labelled_unit(buildings, units):
    lab = fbag.building_energielabel(buildings, units)
    assert lab.tolist() == ["C", "onbekend", "onbekend", "G"]


def test_storeys_given_or_estimated(buildings, units):
    floor = fbag.floor_area(buildings, units)
    s = fbag.storeys(buildings, floor)
    # B3 has no bouwlagen: 120 m² floor on a 100 m² footprint -> 1
    assert s.tolist() == [3.0, 1.0, 1.0, 4.0]


def test_ground_floor_shop_rules(buildings, units):
    flags = fbag.use_flags(units, GEBRUIKSDOELEN)
    floor = fbag.floor_area(buildings, units)
    g = fbag.is_ground_floor_shop(units, buildings, flags, bouwlagen=fbag.storeys(buildings, floor))
    assert g.to_dict() == {
        "U1": False,  # not a shop
        "U2": True,  # shop in a building with homes (U3)
        "U3": False,
        "U4": True,  # single-storey building
        # 2 × 60 m² exceeds 1.1 × the 100 m² footprint, but B3 has no bouwlagen and its
        # estimate round(120 / 100) = 1 storey makes them ground-floor shops
        "U5": True,
        "U6": True,
        "U7": False,  # 400 m² of shop in a 4-storey building with a 100 m² footprint
        "U8": False,  # no building
    }


def test_ground_floor_when_shops_fit_on_the_footprint():
    buildings = frame([b(0, 0, 10, 10)], index=["B"], bouwlagen=[5])
    units = frame(
        [p(1, 1), p(2, 2)],
        index=["a", "b"],
        pand_id=["B", "B"],
        gebruiksdoel=[["winkelfunctie"], ["winkelfunctie"]],
        oppervlakte_m2=[50.0, 60.0],
    )
    flags = fbag.use_flags(units, GEBRUIKSDOELEN)
    assert fbag.is_ground_floor_shop(
        units, buildings, flags, bouwlagen=buildings["bouwlagen"].astype(float)
    ).all()
    units["oppervlakte_m2"] = [50.0, 61.0]  # 111 > 1.1 × 100
    assert not fbag.is_ground_floor_shop(
        units, buildings, flags, bouwlagen=buildings["bouwlagen"].astype(float)
    ).any()


def test_own_entrance_when_the_building_has_more_units(buildings, units):
    e = fbag.own_entrance(units, buildings)
    assert e.to_dict() == {
        "U1": "gedeeld_pand",
        "U2": "gedeeld_pand",
        "U3": "gedeeld_pand",
        "U4": "eigen_pand",  # the building's only address: its door is the unit's own door
        "U5": "gedeeld_pand",
        "U6": "gedeeld_pand",
        "U7": "eigen_pand",
        "U8": "onbekend",  # no building
    }


def test_street_shop_units_vacancy_and_winkelligging(units, vacancy):
    shops = units.iloc[[1, 3, 4, 5, 6, 7]]
    vac = fbag.unit_is_vacant(shops, vacancy, reference_date=REF)
    n = fbag.street_shop_units(shops)
    # U8 has no street: missing, never counted as a street of its own
    assert n.iloc[:5].to_dict() == {"U2": 1, "U4": 3, "U5": 3, "U6": 3, "U7": 1}
    assert np.isnan(n["U8"])
    v = fbag.street_shop_vacancy(shops, vac)
    assert v.iloc[:5].to_dict() == pytest.approx(
        {"U2": 0.0, "U4": 2 / 3, "U5": 2 / 3, "U6": 2 / 3, "U7": 0.0}
    )
    assert np.isnan(v["U8"])
    core = pd.Series([False, False, False, True, False, False], index=shops.index)
    lig = fbag.winkelligging(n, v, core, min_shops=3, min_vacancy=0.5)
    assert lig.to_dict() == {
        "U2": "verspreid",
        "U4": "aanloopstraat",  # 3 shops, 2 of 3 vacant, outside the core
        "U5": "aanloopstraat",
        "U6": "winkelstraat",  # in the core
        "U7": "verspreid",
        "U8": "onbekend",
    }
    # at the thresholds: 3 shops and exactly 50 % vacant is an aanloopstraat; less is not
    edge = fbag.winkelligging(
        pd.Series([3.0, 3.0, 2.0]),
        pd.Series([0.5, 0.49, 1.0]),
        pd.Series([False, False, False]),
        min_shops=3,
        min_vacancy=0.5,
    )
    assert edge.tolist() == ["aanloopstraat", "winkelstraat", "verspreid"]


def test_street_key_is_per_municipality():
    shops = pd.DataFrame(
        {"gemeentecode": ["GM1", "GM2", "GM1"], "straatnaam": ["Markt", "Markt", " markt "]},
        index=["a", "b", "c"],
    )
    assert fbag.street_shop_units(shops).tolist() == [2.0, 1.0, 2.0]
