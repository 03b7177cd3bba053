"""`suggest` appends and never rewrites: the existing bytes stay identical whatever the file's style."""

from __future__ import annotations

import csv
import io

import pytest

from pipelines.lib.erp import Account
from pipelines.lib.mapping import checks, csvfile, files, sources, suggest

HEADER = "company_id,wage_component_code,description,statement,gl_account,hidden,sign"
SEEN = [
    sources.SeenComponent(101, "Bakkerij de Vries B.V.", "1000", "Salaris", 2024, 1),
    sources.SeenComponent(101, "Bakkerij de Vries B.V.", "7300", "Reiskosten, woon-werk", 2024, 3),
    sources.SeenComponent(102, "Fietsenmakerij Jansen & Zn.", "7300", "Reiskosten, woon-werk", 2024, 2),
    sources.SeenComponent(103, "Studio O'Brien; Design", "1000", "Salaris", 2024, 1),
    sources.SeenComponent(103, "Studio O'Brien; Design", "8100", 'Bonus "Q1"', 2024, 4),
]


def _write(tmp_path, text: str):
    (tmp_path / files.MAPPING_FILE).write_bytes(text.encode("utf-8"))
    return tmp_path / files.MAPPING_FILE


@pytest.mark.parametrize(
    "original",
    [
        f"{HEADER}\n,1000,Salaris,PL,4000,false,1\n102,8100,Bonus,PL,4000,FALSE,1\n",
        f"{HEADER}\r\n,1000,Salaris,PL,4000,false,1\r\n102,8100,Bonus,PL,4000,false,1\r\n",
        f"{HEADER}\n,1000,Salaris,PL,4000,false,1\n102,8100,Bonus,PL,4000,false,1",
        '"' + HEADER.replace(",", '","') + '"\n"","1000","Salaris","PL","4000","false","1"\n'
        '"102","8100","Bonus","PL","4000","false","1"\n',
    ],
    ids=["lf", "crlf", "no-final-newline", "quote-all"],
)
def test_suggest_appends_without_touching_existing_bytes(tmp_path, original):
    path = _write(tmp_path, original)
    file, added, lines = suggest.suggest(tmp_path, SEEN)
    content = path.read_bytes()
    assert content.startswith(original.encode("utf-8"))
    assert [(s.company_id, s.code) for s in added] == [(None, "7300"), (103, "8100")]
    newline = "\r\n" if "\r\n" in original else "\n"
    appended = content[len(original.encode("utf-8")) :].decode("utf-8")
    assert appended.endswith(newline)
    assert appended.count(newline) == appended.count("\n")  # the file's own line ending throughout
    rows = list(csv.DictReader(io.StringIO(content.decode("utf-8"), newline="")))
    assert rows[-2]["description"] == "Reiskosten, woon-werk" and rows[-2]["company_id"] == ""
    assert rows[-1] == {
        "company_id": "103",
        "wage_component_code": "8100",
        "description": 'Bonus "Q1"',
        "statement": "",
        "gl_account": "",
        "hidden": "false",
        "sign": "",
    }
    assert lines == [len(rows), len(rows) + 1]
    if original.startswith('"'):
        assert appended.startswith('"",')  # the file's quote-everything style is kept
    # A second run finds the rows it added (to be filled in) and appends nothing.
    assert suggest.suggest(tmp_path, SEEN)[1] == []
    assert path.read_bytes() == content


def test_suggest_refuses_a_file_it_cannot_read_exactly(tmp_path):
    path = _write(tmp_path, HEADER.replace(",", ";") + "\n;1000;Salaris;PL;4000;false;1\n")
    before = path.read_bytes()
    with pytest.raises(csvfile.MappingFileError, match=r"line 1: the file uses ';' as delimiter"):
        suggest.suggest(tmp_path, SEEN)
    assert path.read_bytes() == before


def test_suggested_rows_fail_the_check_until_filled_in(tmp_path):
    _write(tmp_path, f"{HEADER}\n,1000,Salaris,PL,4000,false,1\n,8100,Bonus,PL,4000,false,1\n")
    (tmp_path / files.ENTITY_FILE).write_text("company_id,erp_entity\n101,NL01\n102,NL02\n103,NL03\n")
    _, added, lines = suggest.suggest(tmp_path, SEEN)
    chart = {
        "4000": Account("4000", "Salarissen", "PL"),
        "4100": Account("4100", "Reis", "PL"),
    }
    reference = sources.Reference(chart, "chart", SEEN, "data")
    result = checks.check(tmp_path, reference)
    incomplete = result.by_kind()[csvfile.INCOMPLETE]
    assert {(p.line, p.column) for p in incomplete} == {
        (lines[0], column) for column in ("statement", "gl_account", "sign")
    }
    assert result.unmapped == []
