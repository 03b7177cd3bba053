"""A BI user's data dictionary in the Dagster UI, in a real headless Chromium.

The asset page of the reconciliation mart lists its columns with their types and descriptions: the
same columns, types and comments that `psql \\d+ marts.payroll_gl_reconciliation` shows, in the
table's own order. A screenshot of the column view is kept in tests/artifacts/.
"""

from __future__ import annotations

import psycopg2
import pytest
from playwright.sync_api import Page, expect

from tests.support.env import ARTIFACTS

pytestmark = pytest.mark.browser

MART = "payroll_gl_reconciliation"
# What `psql \d+` shows for each column: its name, type and comment.
TABLE_COLUMNS = """
    select a.attname, format_type(a.atttypid, a.atttypmod), col_description(a.attrelid, a.attnum)
    from pg_attribute as a
    where a.attrelid = 'marts.payroll_gl_reconciliation'::regclass and a.attnum > 0 and not a.attisdropped
    order by a.attnum
"""


def one_line(text: str | None) -> str:
    return " ".join((text or "").split())


@pytest.fixture(scope="module")
def table_columns(demo_env) -> list[tuple[str, str, str]]:
    conn = psycopg2.connect(demo_env["PAYROLL_DATABASE_URL"])
    try:
        with conn.cursor() as cur:
            cur.execute(TABLE_COLUMNS)
            return [(name, column_type, one_line(comment)) for name, column_type, comment in cur.fetchall()]
    finally:
        conn.close()


def test_the_reconciliation_mart_page_lists_every_column_with_its_type_and_description(
    page: Page, table_columns
):
    assert len(table_columns) >= 10 and all(comment for _, _, comment in table_columns)

    page.goto(f"/assets/{MART}")
    expect(page.get_by_text("Columns", exact=True).first).to_be_visible()
    schema = page.locator("table").filter(has=page.get_by_text("Column name", exact=True))
    rows = schema.locator("tbody tr")
    expect(rows).to_have_count(len(table_columns))

    shown = [
        tuple(one_line(cell.inner_text()) for cell in rows.nth(index).locator("td").all())
        for index in range(rows.count())
    ]
    assert shown == table_columns

    schema.scroll_into_view_if_needed()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    schema.screenshot(path=str(ARTIFACTS / f"{MART}-columns.png"))
