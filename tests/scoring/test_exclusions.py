"""Every default exclusion: its reason code and its Dutch sentence; all reasons of a row kept."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.scoring import score_table
from pipeline.scoring.config import Exclusion
from pipeline.scoring.exclusions import evaluate_exclusions, group_reasons

from .conftest import make_table

TL, KT, PL = "tijdelijke_locatie", "kantoortransformatie", "plinttransformatie"
CASES = [
    # (type, column overrides, code, sentence)
    (
        TL,
        {"built_up_fraction": 0.25},
        "bebouwd",
        "Het perceel is voor 25 % bebouwd; een tijdelijke locatie moet vrijwel onbebouwd zijn "
        "(hooguit 10 %; PBL 2020: onbebouwd of braak).",
    ),
    (
        TL,
        {"area_m2": 1200.0},
        "te_klein",
        "Het perceel is 1.200 m² groot; voor een tijdelijke woonlocatie is minstens 1.500 m² nodig.",
    ),
    (
        TL,
        {"zone_natura2000_frac": 1.0},
        "natura2000",
        "Het perceel ligt voor 100 % in een Natura 2000-gebied (Wet natuurbescherming / Omgevingswet).",
    ),
    (
        TL,
        {"zone_nnn_frac": 0.6},
        "nnn",
        "Het perceel ligt voor 60 % in het Natuurnetwerk Nederland (NNN, Omgevingsverordening Zuid-Holland).",
    ),
    (
        TL,
        {"zone_externe_veiligheid_frac": 0.8},
        "externe_veiligheid",
        "Het perceel ligt voor 80 % binnen de plaatsgebonden-risicocontour 10⁻⁶ (Bkl: geen kwetsbare gebouwen).",
    ),
    (
        TL,
        {"zone_hoogspanning_frac": 0.55},
        "hoogspanning",
        "Het perceel ligt voor 55 % in een hoogspanningszone (rijksbeleid: geen nieuwe gevoelige bestemmingen).",
    ),
    (
        TL,
        {"geluid_boven_grenswaarde": "wegverkeer 66 dB (grenswaarde 63 dB)"},
        "geluid",
        "Geluid boven de grenswaarde voor nieuwe woningen: wegverkeer 66 dB (grenswaarde 63 dB).",
    ),
    (
        TL,
        {"zoning_wonen_realised": True},
        "wonen_gerealiseerd",
        "Het perceel heeft een woonbestemming die al is gerealiseerd (bebouwd).",
    ),
    (
        TL,
        {"zoning_hoofdgroep": "water"},
        "ongeschikte_bestemming",
        "Het perceel heeft de bestemming water: water, verkeer, natuur en bos zijn geen bouwlocatie.",
    ),
    (
        TL,
        {"dist_bsd_m": 1250.0},
        "buiten_bsd",
        "Het perceel ligt 1.250 m buiten het bestaand stads- en dorpsgebied (BSD); buiten het BSD "
        "kan alleen aansluitend (binnen 300 m).",
    ),
    (
        TL,
        {"plan_jaren_tot_start": 8.0},
        None,
        None,
    ),
    (
        TL,
        {"beschikbaar_jaren": 4.0},
        "termijn_te_kort",
        "De locatie is maar 4,0 jaar beschikbaar tot het woningbouwplan start; korter dan de "
        "economische minimumtermijn van 5,0 jaar.",
    ),
    (
        TL,
        {"dist_ov_m": 1100.0},
        "ov_te_ver",
        "De dichtstbijzijnde ov-halte ligt op 1.100 m; een tijdelijke woonlocatie moet een halte "
        "binnen 1.000 m hebben.",
    ),
    (
        TL,
        {"dist_winkel_m": 2000.0},
        "winkel_te_ver",
        "De dichtstbijzijnde winkel ligt op 2.000 m; dagelijkse boodschappen moeten binnen 1.500 m kunnen.",
    ),
    (
        TL,
        {"dist_gezondheidszorg_m": 2500.0},
        "huisarts_te_ver",
        "De dichtstbijzijnde huisarts of zorgpost ligt op 2.500 m; binnen 2.000 m is nodig.",
    ),
    (
        TL,
        {"net_area_m2": 1400.0},
        "netto_te_klein",
        "Na aftrek van zones en de afstand tot de perceelgrens blijft 1.400 m² over; minstens 1.500 m² is nodig.",
    ),
    (
        TL,
        {"fits_min_width": False},
        "te_smal",
        "Wat na aftrek van zones en de afstand tot de perceelgrens overblijft is te smal voor een "
        "rij woningen (minder dan 20 m breed).",
    ),
    (
        KT,
        {"office_share": 0.3},
        "geen_kantoor",
        "Het pand is voor 30 % kantoor; minstens 50 % van het vloeroppervlak moet kantoor zijn.",
    ),
    (
        KT,
        {"office_floor_m2": 450.0},
        "kantoor_te_klein",
        "Het pand heeft 450 m² kantoorvloer; voor transformatie is minstens 500 m² nodig.",
    ),
    (
        KT,
        {"vacant_share": 0.17},
        "niet_leeg",
        "Volgens de leegstandsregistratie staat 17 % van het vloeroppervlak leeg; voor "
        "transformatie moet minstens 50 % leeg staan.",
    ),
    (
        KT,
        {"zone_externe_veiligheid_frac": 1.0},
        "externe_veiligheid",
        "Het pand ligt voor 100 % binnen de plaatsgebonden-risicocontour 10⁻⁶ (Bkl: geen kwetsbare gebouwen).",
    ),
    (
        KT,
        {"dist_ov_m": 1500.0},
        "ov_te_ver",
        "De dichtstbijzijnde ov-halte ligt op 1.500 m; woningen hebben een halte binnen 1.000 m nodig.",
    ),
    (
        PL,
        {"in_kernwinkelgebied": True},
        "kernwinkelgebied",
        "De winkel ligt in het kernwinkelgebied, waar winkels behouden blijven.",
    ),
    (
        PL,
        {"oppervlakte_m2": 25.0},
        "unit_te_klein",
        "De winkelruimte is 25 m²; een woning vraagt minstens 33 m².",
    ),
    (
        PL,
        {"is_ground_floor_shop": False},
        "geen_plint",
        "Dit is geen winkel op de begane grond (plint).",
    ),
    (PL, {"is_vacant": False}, "niet_leeg", "De winkelruimte staat niet leeg."),
    (
        PL,
        {"vacant_years": 0.4},
        "frictieleegstand",
        "De winkel staat pas 0,4 jaar leeg: frictieleegstand (korter dan 1,0 jaar).",
    ),
]
# a plan starting in 8 years is no reason to exclude (a site "tot ontwikkeling"); verdringing:
CASES[10] = (
    TL,
    {"plan_jaren_tot_start": 2.0, "beschikbaar_jaren": 2.0},
    "verdringing,termijn_te_kort",
    "Het woningbouwplan op deze plek start over 2,0 jaar; tijdelijke woningen zouden de "
    "permanente bouw vertragen (verdringing, binnen 3,0 jaar).\nDe locatie is maar 2,0 jaar "
    "beschikbaar tot het woningbouwplan start; korter dan de economische minimumtermijn van 5,0 jaar.",
)


@pytest.mark.parametrize(
    ("type_name", "overrides", "code", "sentence"),
    CASES,
    ids=[c[2] + "-" + c[0][:4] for c in CASES],
)
def test_each_default_exclusion_gives_its_code_and_dutch_sentence(
    config, type_name, overrides, code, sentence
) -> None:
    table = make_table(
        type_name, 2, **{k: [v, make_table(type_name)[k].iloc[0]] for k, v in overrides.items()}
    )
    cand, excl = score_table(table, config.types[type_name], type_name=type_name)
    if code is None:  # not an exclusion
        assert len(excl) == 0
        return
    assert list(excl.index) == ["id000"]
    assert excl.loc["id000", "reason_codes"] == code
    assert excl.loc["id000", "reasons"] == sentence
    assert list(cand.index) == ["id001"]  # the untouched row stays a candidate


def test_just_below_a_threshold_is_not_excluded(config) -> None:
    table = make_table(
        "tijdelijke_locatie",
        4,
        area_m2=[1499.9, 1500.0, 1500.1, 1600.0],
        built_up_fraction=[0.1, 0.1, 0.1001, 0.0],
        dist_bsd_m=[0.0, 300.0, 0.0, 300.1],
        plan_jaren_tot_start=[np.nan, 3.0, np.nan, np.nan],
    )
    _, excl = score_table(table, config.types["tijdelijke_locatie"], type_name="tijdelijke_locatie")
    assert excl["reason_codes"].to_dict() == {
        "id000": "te_klein",
        "id002": "bebouwd",
        "id003": "buiten_bsd",
    }


def test_all_reasons_of_a_row_are_kept_in_config_order(config) -> None:
    table = make_table(
        "tijdelijke_locatie",
        1,
        built_up_fraction=0.5,
        area_m2=800.0,
        zone_natura2000_frac=1.0,
        geluid_boven_grenswaarde="spoor 70 dB (grenswaarde 68 dB)",
    )
    _, excl = score_table(table, config.types["tijdelijke_locatie"], type_name="tijdelijke_locatie")
    assert excl.loc["id000", "reason_codes"] == "bebouwd,te_klein,natura2000,geluid"
    sentences = excl.loc["id000", "reasons"].split("\n")
    assert len(sentences) == 4
    assert sentences[1].startswith("Het perceel is 800 m² groot")


def test_missing_value_keeps_the_row_unless_configured() -> None:
    table = pd.DataFrame({"noise_db": [np.nan, 75.0, 50.0]}, index=["a", "b", "c"])
    keep = Exclusion(
        code="geluid", column="noise_db", op=">", value=70, unit="dB", reason="{raw} > {value}"
    )
    drop = keep.model_copy(update={"when_missing": "exclude"})
    assert evaluate_exclusions(table, [keep])["excluded"].tolist() == [False, True, False]
    res = evaluate_exclusions(table, [drop])
    assert res["excluded"].tolist() == [True, True, False]
    assert res.loc["a", "reasons"] == "onbekend > 70 dB"


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [
        (">=", 2, [False, True, True]),
        ("<=", 2, [True, True, False]),
        ("==", 2, [False, True, False]),
        ("!=", 2, [True, False, True]),
    ],
)
def test_comparison_operators(op, value, expected) -> None:
    table = pd.DataFrame({"x": [1.0, 2.0, 3.0]})
    rule = Exclusion(code="x", column="x", op=op, value=value, reason="x")
    assert evaluate_exclusions(table, [rule])["excluded"].tolist() == expected


def test_in_and_not_in_on_text() -> None:
    table = pd.DataFrame({"zoning_hoofdgroep": ["water", "wonen", None]})
    rule_in = Exclusion(
        code="w",
        column="zoning_hoofdgroep",
        op="in",
        value=["water", "natuur"],
        reason="{raw} in {value}",
    )
    rule_out = Exclusion(
        code="w", column="zoning_hoofdgroep", op="not_in", value=["wonen"], reason="r"
    )
    res = evaluate_exclusions(table, [rule_in])
    assert res["excluded"].tolist() == [True, False, False]
    assert res.loc[0, "reasons"] == "water in water, natuur"
    assert evaluate_exclusions(table, [rule_out])["excluded"].tolist() == [True, False, False]


def test_group_reasons_merges_units_per_building_without_duplicates() -> None:
    excluded = pd.DataFrame(
        {
            "pand_id": ["P1", "P1", "P2"],
            "reason_codes": ["niet_leeg", "niet_leeg,unit_te_klein", "geen_plint"],
            "reasons": ["A.", "A.\nB.", "C."],
        },
        index=["v3", "v1", "v2"],
    )
    out = group_reasons(excluded, by="pand_id")
    assert out.loc["P1", "reason_codes"] == "niet_leeg,unit_te_klein"
    assert out.loc["P1", "reasons"] == "A.\nB."
    assert out.loc["P2", "reason_codes"] == "geen_plint"
    # row order does not matter
    pd.testing.assert_frame_equal(out, group_reasons(excluded.iloc[::-1], by="pand_id"))
