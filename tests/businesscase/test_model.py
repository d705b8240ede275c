"""The business case against examples computed by hand (every step written out below)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from pipeline.businesscase import (
    KnobError,
    business_case,
    irr,
    load_key_figures,
    npv,
    resolve_knobs,
    site_business_case,
)

KF = load_key_figures()

#: Every knob that adds money set to zero: each example switches on only what it checks.
ZERO = {
    "unit_cost_eur": 30000,  # the knob's minimum; each example sets its own
    "preparation_eur_home": 0,
    "connections_eur_home": 0,
    "land_option": "huur",
    "land_rent_eur_m2_year": 0,
    "subsidy_eur_home": 0,
    "rent_increase": 0,
    "vacancy_loss": 0,
    "management_eur_home_year": 0,
    "maintenance_eur_home_year": 0,
    "taxes_eur_home_year": 0,
    "cost_increase": 0,
    "scenario": "restwaarde",
    "relocation_eur_home": 0,
    "relocation_vacancy_months": 0,
    "site_restoration_eur_home": 0,
    "sale_value_factor": 0,
    "guarantee": "false",
    "start_year": 2024,
}


def knobs(**changes: object):
    """The zero knobs with ``changes`` (set directly: the examples use values below the api's
    ranges, e.g. a € 10.000 home, to stay computable on paper)."""
    return resolve_knobs(KF, ZERO).replace(**changes)


def test_example_1_npv_irr_break_even_by_hand() -> None:
    # One home costing € 10.000, rent € 500 a month = € 6.000 a year, management € 1.000 a
    # year, two years, nothing left at the end, 10 % discount rate.
    #   t=0: −10.000;  t=1: 6.000 − 1.000 = 5.000;  t=2: 5.000
    #   NPV = −10.000 + 5.000/1,1 + 5.000/1,21 = −10.000 + 4.545,4545 + 4.132,2314 = −1.322,3140
    #   IRR: 5.000/(1+i) + 5.000/(1+i)² = 10.000  →  i = 0 (two times 5.000 repay 10.000 exactly)
    #   Break-even rent R: (12R − 1.000)(1/1,1 + 1/1,21) = 10.000
    #       1/1,1 + 1/1,21 = 2,1/1,21 = 1,7355372  →  12R − 1.000 = 5.761,9048  →  R = 563,4921
    #   Break-even term: NPV(3 years) = −10.000 + 5.000 × (1/1,1 + 1/1,21 + 1/1,331)
    #       = −10.000 + 5.000 × 2,4868520 = +2.434,26 ≥ 0, and NPV(2) < 0  →  3 years
    k = knobs(
        unit_cost_eur=10_000,
        rent_eur_month=500,
        management_eur_home_year=1000,
        first_term_years=2,
        discount_rate=0.10,
    )
    case = business_case(1, 15, 0.0, knobs=k)
    assert case.net[0].tolist() == pytest.approx([-10_000, 5_000, 5_000])
    assert case.npv[0] == pytest.approx(-1_322.3140, abs=1e-3)
    assert case.irr[0] == pytest.approx(0.0, abs=1e-9)
    assert case.break_even_rent[0] == pytest.approx(563.4921, abs=1e-3)
    assert case.break_even_term[0] == 3
    assert case.investment[0] == 10_000


def test_example_2_irr_by_hand() -> None:
    # € 10.000 in, € 6.000 back in each of two years (rent € 500 a month, no costs), 5 %:
    #   NPV = −10.000 + 6.000/1,05 + 6.000/1,1025 = −10.000 + 5.714,2857 + 5.442,1769 = 1.156,4626
    #   IRR: with x = 1/(1+i): 6.000x² + 6.000x − 10.000 = 0
    #        x = (−1 + √(1 + 4 × 10/6)) / 2 = (−1 + 2,7688746) / 2 = 0,8844373  →  i = 13,0662 %
    k = knobs(unit_cost_eur=10_000, rent_eur_month=500, first_term_years=2, discount_rate=0.05)
    case = business_case(1, 15, 0.0, knobs=k)
    assert case.npv[0] == pytest.approx(1_156.4626, abs=1e-3)
    assert case.irr[0] == pytest.approx(0.130662, abs=1e-6)
    assert npv(case.net, case.irr)[0] == pytest.approx(0.0, abs=1e-6)
    assert case.break_even_term[0] == 2  # NPV(1) = −10.000 + 6.000/1,05 < 0


def test_example_3_one_relocation_grondabonnement_and_guarantee_by_hand() -> None:
    # Two homes of € 10.000, preparation € 1.000 and connections € 500 each, RTHF fee € 100:
    #   t=0: −2 × (10.000 + 1.000 + 500 + 100) = −23.200
    # Rent € 100 a month: 2 × 12 × 100 = 2.400 a year; the first year at the new site loses
    # 6 months: 1.200. Costs € 200 and grondabonnement € 100 per home: −400 and −200 a year.
    # Relocation at the end of year 2: −2 × (2.000 + 1.000 + 500 + 300 restoration) = −7.600.
    # End of year 4 (2 + 2): book value 10.000 × (1 − 4/8) = 5.000, sale 0,5 × 5.000 = 2.500,
    # restoration −300, RTHF 0,85 × (5.000 − 2.500) = 2.125: 2 × 4.325 = +8.650.
    #   net: t0 −23.200 | t1 1.800 | t2 1.800 − 7.600 = −5.800 | t3 600 | t4 1.800 + 8.650 = 10.450
    #   NPV at 0 %: −23.200 + 1.800 − 5.800 + 600 + 10.450 = −16.150
    #   Break-even rent: rent counts 24 + 24 + 12 + 24 = 84 times  →  100 + 16.150/84 = 292,2619
    #   Break-even term T (end T + 2): each extra year adds 1.800 but takes 2 × 0,925 × 1.250 =
    #   2.312,5 of end value until the book value is 0 (T ≥ 6); from then on
    #   NPV = −23.200 + 1.800T − 7.600 + 600 + 1.800 − 600 = 1.800T − 29.000 ≥ 0  →  T = 17
    k = knobs(
        unit_cost_eur=10_000,
        preparation_eur_home=1000,
        connections_eur_home=500,
        land_option="grondabonnement",
        grondabonnement_basis="woning",
        grondabonnement_eur_year=100,
        rent_eur_month=100,
        management_eur_home_year=200,
        first_term_years=2,
        scenario="verplaatsing_1",
        second_term_years=2,
        relocation_eur_home=2000,
        relocation_vacancy_months=6,
        site_restoration_eur_home=300,
        economic_life_years=8,
        sale_value_factor=0.5,
        guarantee=True,
        guarantee_fee_eur_home=100,
        guarantee_cover=0.85,
        discount_rate=0.0,
    )
    case = business_case(2, 15, 1000.0, knobs=k)
    assert case.net[0].tolist() == pytest.approx([-23_200, 1_800, -5_800, 600, 10_450])
    assert case.flows["rent"][0].tolist() == pytest.approx([0, 2_400, 2_400, 1_200, 2_400])
    assert case.flows["relocation"][0].tolist() == pytest.approx([0, 0, -7_600, 0, 0])
    assert case.flows["residual"][0].tolist() == pytest.approx([0, 0, 0, 0, 8_650])
    assert case.npv[0] == pytest.approx(-16_150)
    assert case.break_even_rent[0] == pytest.approx(292.2619, abs=1e-3)
    assert case.break_even_term[0] == 17
    assert case.end_year[0] == 4
    # several sign changes: whatever root bisection finds has NPV 0
    assert npv(case.net, case.irr)[0] == pytest.approx(0.0, abs=1e-6)


def test_example_4_land_bought_and_sold_with_indexation() -> None:
    # 100 m² at € 50 = € 5.000 bought at the start; costs rise 10 % a year. One relocation after
    # 3 years: the land is sold for what was paid (+5.000) and the next plot of 100 m² is bought
    # at 5.000 × 1,1³ = 6.655; after 2 more years it is sold again (+6.655).
    k = knobs(
        land_option="koop",
        land_price_eur_m2=50,
        land_resale_share=1.0,
        cost_increase=0.10,
        rent_eur_month=100,
        first_term_years=3,
        scenario="verplaatsing_1",
        second_term_years=2,
        discount_rate=0.0,
    )
    case = business_case(1, 15, 100.0, knobs=k)
    assert case.flows["land"][0].tolist() == pytest.approx([-5_000, 0, 0, 5_000 - 6_655, 0, 6_655])
    # land rent instead: 100 m² × € 4 × 1,1^(t−1): 400, 440, 484, …
    case = business_case(1, 15, 100.0, knobs=k.replace(land_option="huur", land_rent_eur_m2_year=4))
    assert case.flows["land"][0][:4].tolist() == pytest.approx([0, -400, -440, -484])


def test_first_term_is_the_availability_window_unless_overridden() -> None:
    k = knobs(unit_cost_eur=10_000, rent_eur_month=500).replace(first_term_years=None)
    case = business_case([1, 1], [8, 15], [0.0, 0.0], knobs=k)
    assert case.first_term.tolist() == [8, 15]
    assert case.end_year.tolist() == [8, 15]
    assert case.net[0, 9:].tolist() == [0.0] * 7  # nothing after its end


def test_vectorised_equals_one_site_at_a_time() -> None:
    k = resolve_knobs(KF, {"start_year": 2025, "scenario": "verplaatsing_2", "guarantee": "ja"})
    homes, windows, areas = [12, 40, 75], [6, 15, 11], [3000.0, 10_000.0, 22_000.0]
    together = business_case(homes, windows, areas, knobs=k)
    for i in range(3):
        alone = business_case(homes[i], windows[i], areas[i], knobs=k)
        assert together.npv[i] == pytest.approx(alone.npv[0])
        assert together.irr[i] == pytest.approx(alone.irr[0], nan_ok=True)
        assert together.break_even_rent[i] == pytest.approx(alone.break_even_rent[0])
        assert together.break_even_term[i] == pytest.approx(alone.break_even_term[0], nan_ok=True)


def test_break_even_rent_gives_npv_zero() -> None:
    k = resolve_knobs(KF, {"start_year": 2025})
    case = business_case([40], [12], [10_000.0], knobs=k)
    again = business_case(
        [40], [12], [10_000.0], knobs=k.replace(rent_eur_month=float(case.break_even_rent[0]))
    )
    assert again.npv[0] == pytest.approx(0.0, abs=1e-4)


def test_irr_without_sign_change_is_nan() -> None:
    assert np.isnan(irr(np.array([[-100.0, -1.0, -1.0]]))[0])
    assert irr(np.array([[-100.0, 110.0]]))[0] == pytest.approx(0.10, abs=1e-9)


def test_knob_errors_are_all_listed_in_dutch() -> None:
    with pytest.raises(KnobError) as err:
        resolve_knobs(
            KF,
            {"huur": 500, "rent_eur_month": "veel", "discount_rate": 0.9, "land_option": "kopen"},
        )
    problems = err.value.problems
    assert len(problems) == 4
    assert any("onbekende draaiknop 'huur'" in p for p in problems)
    assert any(p.startswith("rent_eur_month: 'veel' is geen getal") for p in problems)
    assert any(p.startswith("discount_rate: 0.9 ligt buiten 0–0.15") for p in problems)
    assert any("'kopen' is geen keuze (bedoelt u 'koop'?)" in p for p in problems)


def test_defaults_resolve_from_other_tables() -> None:
    k = resolve_knobs(KF, {}, today=dt.date(2025, 3, 1))
    assert k.start_year == 2025
    assert k.rent_eur_month == 477.20  # the 2025 kwaliteitskortingsgrens
    assert k.unit_cost_eur == KF.unit_types["grondgebonden"].unit_cost_eur
    k = resolve_knobs(KF, {"unit_type": "gestapeld", "start_year": "2024"})
    assert k.unit_cost_eur == KF.unit_types["gestapeld"].unit_cost_eur
    assert k.rent_eur_month == 454.47
    office = resolve_knobs(KF, {}, opportunity_type="kantoortransformatie")
    assert office.scenario == "restwaarde" and office.land_option == "koop"


def test_every_knob_has_a_source_and_assumptions_say_so() -> None:
    for name, spec in KF.knobs.items():
        assert spec.source.strip(), name
        if spec.assumption:
            assert "Aanname" in spec.source or "aanname" in spec.source, name
    for year, limits in KF.huurtoeslag.items():
        assert limits.source and limits.kwaliteitskortingsgrens < limits.maximale_huurgrens, year


@pytest.mark.parametrize(
    ("rent", "status"),
    [(454.47, "doelgroep"), (600, "huurtoeslag"), (880, "boven_huurtoeslaggrens")],
)
def test_rent_checked_against_the_years_huurtoeslag_limits(rent: float, status: str) -> None:
    answer = site_business_case(
        {"capacity_units": 10},
        opportunity_type="tijdelijke_locatie",
        overrides={"rent_eur_month": rent, "start_year": 2024},
    )
    assert answer["rent_check"]["status"] == status
    assert answer["rent_check"]["year"] == 2024
    assert "454,47" in answer["rent_check"]["text"] or "879,66" in answer["rent_check"]["text"]


def test_a_year_without_limits_uses_the_latest_earlier_year_and_says_so() -> None:
    answer = site_business_case(
        {"capacity_units": 10},
        opportunity_type="tijdelijke_locatie",
        overrides={"start_year": 2031, "rent_eur_month": 400},
    )
    assert answer["rent_check"]["year"] == max(KF.huurtoeslag)
    assert "Voor 2031 staan geen grenzen" in answer["rent_check"]["text"]


def test_site_inputs_window_from_the_scan_else_the_permit_term() -> None:
    base = {"capacity_units": 40, "capacity_low": 30, "capacity_high": 60, "net_area_m2": 10_000}
    with_plan = site_business_case(
        {**base, "beschikbaar_jaren": 8, "beschikbaar_tot": 2033},
        opportunity_type="tijdelijke_locatie",
        overrides={"capacity": "laag", "start_year": 2025},
    )
    assert with_plan["inputs"]["window_years"] == 8
    assert with_plan["inputs"]["window_source"] == "beschikbaar_jaren"
    assert with_plan["result"]["first_term_years"] == 8
    assert with_plan["result"]["homes"] == 30
    assert any("tot de start van een woningbouwplan in 2033" in n for n in with_plan["notes"])
    no_column = site_business_case(base, opportunity_type="tijdelijke_locatie")
    assert no_column["inputs"]["window_years"] == KF.permit_term_years == 15
    assert no_column["inputs"]["window_source"] == "vergunningstermijn"
    null_window = site_business_case(
        {**base, "beschikbaar_jaren": None}, opportunity_type="tijdelijke_locatie"
    )
    assert null_window["inputs"]["window_years"] == 15


def test_grondabonnement_suggested_only_for_public_owners() -> None:
    site = {"capacity_units": 40, "net_area_m2": 10_000, "beschikbaar_jaren": 15}
    public = site_business_case(
        {**site, "owner_class": "gemeente"}, opportunity_type="tijdelijke_locatie"
    )
    private = site_business_case(
        {**site, "owner_class": "overig"}, opportunity_type="tijdelijke_locatie"
    )
    suggestion = [s for s in public["suggestions"] if s["knob"] == "land_option"]
    assert suggestion and suggestion[0]["value"] == "grondabonnement"
    assert "de gemeente" in suggestion[0]["text"]
    applied = site_business_case(
        {**site, "owner_class": "gemeente"},
        opportunity_type="tijdelijke_locatie",
        overrides={"land_option": "grondabonnement"},
    )
    assert applied["result"]["npv"] == pytest.approx(suggestion[0]["npv"])
    assert not [s for s in private["suggestions"] if s["knob"] == "land_option"]
    assert not [s for s in applied["suggestions"] if s["knob"] == "land_option"]


def test_scenario_comparison_holds_the_three_endings() -> None:
    answer = site_business_case(
        {"capacity_units": 20, "beschikbaar_jaren": 10}, opportunity_type="tijdelijke_locatie"
    )
    rows = {r["scenario"]: r for r in answer["scenarios"]}
    assert set(rows) == {"restwaarde", "verplaatsing_1", "verplaatsing_2"}
    assert rows["restwaarde"]["end_year"] == 10
    assert rows["verplaatsing_1"]["end_year"] == 10 + 15
    assert rows["verplaatsing_2"]["end_year"] == 10 + 15 + 10
    selected = [r for r in answer["scenarios"] if r["selected"]]
    assert len(selected) == 1 and selected[0]["npv"] == answer["result"]["npv"]


def test_shared_figures_agree_with_the_scan_config() -> None:
    # The permit term and the kwaliteitskortingsgrens are the scan's too (contracts §E.3, §E.6):
    # the two configs must not drift apart.
    from pipeline.scoring import load_config

    scan = load_config(None)
    assert KF.permit_term_years == scan.features.availability.permit_term_years
    for limit in scan.rent_check.limits:
        if limit.year in KF.huurtoeslag:
            assert (
                KF.huurtoeslag[limit.year].kwaliteitskortingsgrens
                == limit.kwaliteitskortingsgrens_eur
            )
