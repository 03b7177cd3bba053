"""The three-way reconciliation on the synced demo: payroll (our mapping), Nmbrs's journal and the ERP.

The sandbox's deliberate disagreements (pipelines/sandbox/ledger.py, pipelines/sandbox/erp.py):
Nmbrs books component 4200 of company 101 in period 9 of the first year on 1510 where our CSV says
1500; the ERP differs from the journal once (NL01 4000 in June, +100.00), misses one movement
(NL02 4100 in March) and holds one the payroll does not explain (NL03 4200 in December, 250.00).
"""

from __future__ import annotations

from decimal import Decimal

from pipelines.sandbox import erp, ledger

ZERO = Decimal("0.00")


def _first_year(dbt_demo) -> int:
    return min(d.year for d in dbt_demo.truth.erp_differences)


def _component_total(dbt_demo, company_id: int, year: int, period: int, code: str) -> Decimal:
    return sum(
        (
            line.value
            for line in dbt_demo.truth.wage_component_lines
            if (line.company_id, line.year, line.period, line.code) == (company_id, year, period, code)
        ),
        ZERO,
    )


def test_each_demo_disagreement_is_named_with_the_side_that_disagrees(dbt_demo):
    year = _first_year(dbt_demo)
    diff = ledger.NMBRS_DIFFERENCE
    social = _component_total(dbt_demo, diff.company_id, year, diff.period, diff.code)
    assert social > 0
    rows = dbt_demo.query(
        "select erp_entity, year, month, gl_account, status, mapping_difference, erp_difference, "
        "payroll_amount, journal_amount, erp_amount, journal_loaded "
        "from marts.payroll_three_way_reconciliation where status <> 'matched'"
    )
    found = {(e, y, m, a): (s, md, ed) for e, y, m, a, s, md, ed, *_ in rows}
    ledger_month = (diff.period,)  # company 101 is monthly: period 9 is booked in September
    change = erp.DELIBERATE_DIFFERENCES[0].erp_change
    extra = erp.DELIBERATE_DIFFERENCES[2].erp_change
    assert found == {
        # Our CSV credits 4200 on 1500; Nmbrs's journal credits it on 1510; the demo ERP was booked
        # from our mapping, so it sides with the payroll against the journal.
        ("NL01", year, *ledger_month, diff.mapping_account): ("mapping_differs_from_nmbrs", -social, -social),
        ("NL01", year, *ledger_month, diff.nmbrs_account): ("mapping_differs_from_nmbrs", social, social),
        ("NL01", year, 6, "4000"): ("erp_differs_from_journal", ZERO, change),
        ("NL02", year, 3, "4100"): ("missing_in_erp", ZERO, found[("NL02", year, 3, "4100")][2]),
        ("NL03", year, 12, "4200"): ("missing_in_payroll", ZERO, extra),
    }
    by_key = {(e, y, m, a): rest for e, y, m, a, *rest in rows}
    _, _, _, payroll, journal, booked, loaded = by_key[("NL02", year, 3, "4100")]
    assert loaded and payroll == journal and payroll > 0 and booked == ZERO
    assert by_key[("NL02", year, 3, "4100")][2] == -payroll  # erp_difference: nothing booked
    # Every other entity × month × account agrees on all three sides.
    (matched, loaded_everywhere) = dbt_demo.query(
        "select count(*), bool_and(journal_loaded) from marts.payroll_three_way_reconciliation "
        "where status = 'matched'"
    )[0]
    assert matched > 100 and loaded_everywhere


def test_the_explaining_lines_add_up_to_each_difference_to_the_cent(dbt_demo):
    year = _first_year(dbt_demo)
    diff = ledger.NMBRS_DIFFERENCE
    lines = dbt_demo.query(
        "select gl_account, company_id, employee_id, payroll_year, period, wage_component_code, "
        "mapped_gl_accounts, nmbrs_gl_accounts, payroll_amount, journal_amount, difference "
        "from marts.payroll_reconciliation_explained "
        "where status = 'mapping_differs_from_nmbrs' order by gl_account, employee_id"
    )
    expected = {
        line.employee_id: line.value
        for line in dbt_demo.truth.wage_component_lines
        if (line.company_id, line.year, line.period, line.code)
        == (diff.company_id, year, diff.period, diff.code)
    }
    assert {row[0] for row in lines} == {diff.mapping_account, diff.nmbrs_account}
    for account in (diff.mapping_account, diff.nmbrs_account):
        mine = [row for row in lines if row[0] == account]
        # One line per employee paid in the period, component 4200 only, to the cent.
        assert {row[2]: abs(row[10]) for row in mine} == expected
        assert {(row[1], row[3], row[4], row[5]) for row in mine} == {
            (diff.company_id, year, diff.period, diff.code)
        }
        assert {(row[6], row[7]) for row in mine} == {(diff.mapping_account, diff.nmbrs_account)}
        (mapping_difference,) = dbt_demo.query(
            "select mapping_difference from marts.payroll_three_way_reconciliation "
            "where erp_entity = 'NL01' and year = %s and month = %s and gl_account = %s",
            (year, diff.period, account),
        )[0]
        assert sum((row[10] for row in mine), ZERO) == mapping_difference
    on_1500 = [row for row in lines if row[0] == diff.mapping_account]
    assert all(row[8] < 0 and row[9] == ZERO for row in on_1500)  # our mapping credits it there
    on_1510 = [row for row in lines if row[0] == diff.nmbrs_account]
    assert all(row[8] == ZERO and row[9] < 0 for row in on_1510)  # Nmbrs credits it here

    # An ERP difference is explained by the lines the journal holds on that account and month.
    (journal_amount, erp_amount) = dbt_demo.query(
        "select journal_amount, erp_amount from marts.payroll_three_way_reconciliation "
        "where erp_entity = 'NL01' and year = %s and month = 6 and gl_account = '4000'",
        (year,),
    )[0]
    (explained, codes) = dbt_demo.query(
        "select sum(journal_amount), array_agg(distinct wage_component_code) "
        "from marts.payroll_reconciliation_explained "
        "where erp_entity = 'NL01' and year = %s and month = 6 and gl_account = '4000'",
        (year,),
    )[0]
    assert explained == journal_amount and codes == ["1000"]
    assert erp_amount - journal_amount == erp.DELIBERATE_DIFFERENCES[0].erp_change


def test_the_marts_are_described_for_bi_users(dbt_demo):
    for mart in ("payroll_three_way_reconciliation", "payroll_reconciliation_explained"):
        columns = dbt_demo.query(
            "select a.attname, format_type(a.atttypid, a.atttypmod), col_description(a.attrelid, a.attnum) "
            "from pg_attribute a where a.attrelid = %s::regclass and a.attnum > 0 and not a.attisdropped",
            (f"marts.{mart}",),
        )
        assert columns and all(description for _, _, description in columns), mart
        money = {name: kind for name, kind, _ in columns if name.endswith(("_amount", "difference"))}
        assert money and set(money.values()) == {"numeric(18,2)"}, money
        (table_comment,) = dbt_demo.query(
            "select obj_description(%s::regclass, 'pg_class')", (f"marts.{mart}",)
        )[0]
        assert table_comment


def test_two_companies_in_one_erp_entity_reconcile_together_with_their_breakdown(
    dbt_demo, make_database, tmp_path
):
    """A monthly (101) and a four-weekly company (102) booking into one ERP administration, NL01."""
    import json

    from tests.support import demo_raw
    from tests.support.dbt import Warehouse, copy_project, run_dbt

    url = make_database("payroll_shared_entity")
    demo_raw.clone_raw_tables(dbt_demo.url, url)
    shared = Warehouse(url=url, truth=dbt_demo.truth, env=dbt_demo.env)
    shared.execute("update erp.gl_movements set entity = 'NL01' where entity = 'NL02'")  # one ledger
    project = copy_project(tmp_path)
    (project.parent / "mappings" / "company_entity_mapping.csv").write_text(
        "company_id,erp_entity\n101,NL01\n102,NL01\n103,NL03\n"
    )
    result = run_dbt(project, url, "build", "--vars", json.dumps({}))
    assert result.returncode == 0, result.stdout[-3000:]

    rows = {
        (e, y, m, a): (companies, payroll, journal, erp_amount, status)
        for e, y, m, a, companies, payroll, journal, erp_amount, status in shared.query(
            "select erp_entity, year, month, gl_account, company_ids, payroll_amount, journal_amount, "
            "erp_amount, status from marts.payroll_three_way_reconciliation"
        )
    }
    assert {key[0] for key in rows} == {"NL01", "NL03"}
    expected: dict[tuple[str, int, int, str], Decimal] = {}
    for (company, year, month, account), amount in dbt_demo.truth.gl.items():
        if company in (101, 102):
            key = ("NL01", year, month, account)
            expected[key] = expected.get(key, ZERO) + amount
    assert {key: row[1] for key, row in rows.items() if key[0] == "NL01" and row[1] != 0} == {
        key: amount for key, amount in expected.items() if amount != 0
    }
    year = _first_year(dbt_demo)
    salaries = rows[("NL01", year, 6, "4000")]
    assert salaries[0] == "101, 102"  # the company breakdown is kept
    # Every difference is still named, now within the shared entity: the ERP that missed company
    # 102's March pension booking holds company 101's, so the entity's ERP differs from the journal.
    opened = {key: row[4] for key, row in rows.items() if row[4] != "matched"}
    diff = ledger.NMBRS_DIFFERENCE
    assert opened == {
        ("NL01", year, diff.period, diff.mapping_account): "mapping_differs_from_nmbrs",
        ("NL01", year, diff.period, diff.nmbrs_account): "mapping_differs_from_nmbrs",
        ("NL01", year, 6, "4000"): "erp_differs_from_journal",
        ("NL01", year, 3, "4100"): "erp_differs_from_journal",
        ("NL03", year, 12, "4200"): "missing_in_payroll",
    }
    march = rows[("NL01", year, 3, "4100")]
    missing_102 = dbt_demo.truth.gl[(102, year, 3, "4100")]
    assert march[2] - march[3] == missing_102  # journal − ERP = company 102's amount, to the cent
    (by_company,) = shared.query(
        "select sum(journal_amount) filter (where company_id = 102) from marts.payroll_reconciliation_explained "
        "where erp_entity = 'NL01' and year = %s and month = 3 and gl_account = '4100'",
        (year,),
    )[0]
    assert by_company == missing_102
