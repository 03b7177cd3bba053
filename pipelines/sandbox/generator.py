"""Deterministic generation of companies and employees from (scenario, seed, as_of).

Each company's employees come from their own random stream (seeded by seed and company id), so a
company can be generated on its own, on demand, with the same result every time.
"""

from __future__ import annotations

import datetime as dt
import random
import re
import unicodedata
from decimal import Decimal

from pipelines.sandbox.calendars import period_end, period_start, periods_in_year
from pipelines.sandbox.model import Company, Employee
from pipelines.sandbox.scenarios import ScenarioConfig

DEMO_COMPANIES = (
    # id, name, period type, ERP entity, pension, employees
    (101, "Bakkerij de Vries B.V.", "Month", "NL01", True, 8),
    (102, "Fietsenmakerij Jansen & Zn.", "Week4", "NL02", True, 6),
    (103, "Studio O'Brien; Design", "Month", "NL03", False, 4),
)
MALE_NAMES = (
    "Jan",
    "Pieter",
    "Daan",
    "Sem",
    "Lucas",
    "Bram",
    "Thijs",
    "Ruben",
    "Joris",
    "Mohamed",
    "Kees",
    "Willem",
)
FEMALE_NAMES = (
    "Anna",
    "Sophie",
    "Emma",
    "Julia",
    "Lotte",
    "Fleur",
    "Noor",
    "Sanne",
    "Fatima",
    "Ingrid",
    "Marieke",
    "Eva",
)
PREFIXES = ("", "", "", "de", "van", "van der", "van den", "ter")
LAST_NAMES = (
    "Vries",
    "Jansen",
    "Bakker",
    "Visser",
    "Smit",
    "Meijer",
    "Mulder",
    "Bos",
    "Vos",
    "Peters",
    "Hendriks",
    "Dekker",
    "Brouwer",
    "Dijk",
    "Kok",
    "Berg",
    "Yılmaz",
    "O'Neill",
    "Çelik",
    "Haan",
)
TRADES = (
    "Bakkerij",
    "Installatiebedrijf",
    "Adviesbureau",
    "Transport",
    "Kinderopvang",
    "Drukkerij",
    "Zorggroep",
)


def companies(config: ScenarioConfig) -> list[Company]:
    if config.is_demo_world:
        return [
            _company(cid, name, ptype, entity, pension, index, number=cid)
            for index, (cid, name, ptype, entity, pension, _) in enumerate(DEMO_COMPANIES, start=1)
        ]
    result = []
    for index in range(1, config.companies + 1):
        rng = random.Random(f"{config.seed}:company:{index}")
        name = f"{rng.choice(TRADES)} {rng.choice(LAST_NAMES)} {index} B.V."
        period_type = "Week4" if index % 3 == 2 else "Month"
        result.append(_company(100 + index, name, period_type, f"NL{index:02d}", index % 3 != 0, index))
    return result


def _company(
    company_id: int,
    name: str,
    period_type: str,
    entity: str,
    pension: bool,
    index: int,
    number: int | None = None,
) -> Company:
    """A company; its Nmbrs number is `number` (the demo world: equal to its SOAP id, so 101..103 mean
    the same company in every id space) or else its index (generated worlds: number != SOAP id 100+index,
    which keeps the id spaces visibly apart; docs/nmbrs-api.md)."""
    slug = _ascii_slug(name.split(" B.V.")[0]) or f"company{company_id}"
    return Company(
        id=company_id,
        number=index if number is None else number,
        name=name,
        period_type=period_type,
        erp_entity=entity,
        has_pension=pension,
        kvk_number=f"{(company_id * 7919) % 100_000_000:08d}",
        phone_number=f"+31 20 {company_id:03d} {index:04d}",
        fax_number="",
        email=f"salarisadministratie@{slug}.example",
        website=f"https://www.{slug}.example",
    )


def _ascii_slug(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", plain.lower()).strip("-")


def employee_count(config: ScenarioConfig, company_id: int) -> int:
    if config.is_demo_world:
        return next(row[5] for row in DEMO_COMPANIES if row[0] == company_id)
    return config.employees_per_company


def run_periods(config: ScenarioConfig, company: Company) -> list[tuple[int, int]]:
    """(year, period) of every regular run the scenario generates: periods ended before as_of."""
    return [
        (year, period)
        for year in range(config.first_year, config.as_of.year + 1)
        for period in range(1, periods_in_year(company.period_type) + 1)
        if period_end(company.period_type, year, period) < config.as_of
    ]


def employees(config: ScenarioConfig, company: Company) -> list[Employee]:
    rng = random.Random(f"{config.seed}:{company.id}:employees")
    count = employee_count(config, company.id)
    periods = run_periods(config, company)
    result = []
    for index in range(count):
        start, end = _employment(rng, config, company, periods, index, count)
        result.append(_employee(rng, config, company, index, start, end))
    return result


def _employment(rng, config, company, periods, index, count):
    """Start and (optional) end (year, period). The last employee joins and the one before leaves."""
    before = (
        rng.randrange(2008, config.first_year),
        rng.randrange(1, periods_in_year(company.period_type) + 1),
    )
    if not periods or count < 3:
        return before, None
    joins = index == count - 1 or (index >= 3 and rng.random() < 0.12)
    leaves = index == count - 2 or (not joins and index >= 3 and rng.random() < 0.10)
    start = periods[rng.randrange(0, max(1, len(periods) * 2 // 3))] if joins else before
    if index == count - 1:
        start = periods[min(len(periods) - 1, periods_in_year(company.period_type) // 3)]
    if not leaves:
        return start, None
    later = [p for p in periods if p > start]
    if index == count - 2:
        end = periods[min(len(periods) - 1, 8)]
    else:
        end = later[rng.randrange(len(later))] if later else None
    return start, end


def _employee(rng, config, company, index, start, end) -> Employee:
    gender = rng.choice(("male", "female"))
    first = rng.choice(MALE_NAMES if gender == "male" else FEMALE_NAMES)
    prefix = rng.choice(PREFIXES)
    last = rng.choice(LAST_NAMES)
    start_date = period_start(company.period_type, *start)
    created = min(
        dt.datetime.combine(start_date - dt.timedelta(days=14), dt.time(9, 0)),
        dt.datetime.combine(config.as_of - dt.timedelta(days=1), dt.time(9, 0)),
    )
    domain = company.email.split("@", 1)[1]
    return Employee(
        id=company.id * 1000 + index + 1,
        company_id=company.id,
        number=index + 1,
        first_name=first,
        initials=f"{first[0]}.",
        prefix=prefix,
        last_name=last,
        gender=gender,
        bsn=_bsn(rng),
        birth_date=dt.date(rng.randrange(1960, 2004), rng.randrange(1, 13), rng.randrange(1, 29)),
        email_work=f"{_ascii_slug(first)}.{_ascii_slug(last)}{index + 1}@{domain}",
        start_year=start[0],
        start_period=start[1],
        end_year=end[0] if end else None,
        end_period=end[1] if end else None,
        monthly_salary=(Decimal(rng.randrange(240_000, 650_000)) / 100).quantize(Decimal("0.01")),
        tax_rate=Decimal(rng.randrange(300, 371)) / 1000,
        created_at=created,
    )


def earlier_personal_info(employee: Employee) -> tuple[str, dt.datetime] | None:
    """The personal-info history: every third employee changed their last name two years before the
    current version was made. Returns the earlier version's last name and creation date (no random
    draw, so the generated world stays the same)."""
    if employee.number % 3:
        return None
    earlier = LAST_NAMES[(LAST_NAMES.index(employee.last_name) + 1) % len(LAST_NAMES)]
    return earlier, employee.created_at - dt.timedelta(days=730)


def _bsn(rng: random.Random) -> str:
    """A nine-digit number that passes the Dutch eleven-test (fake, but shaped like a BSN)."""
    while True:
        digits = [rng.randrange(1, 10)] + [rng.randrange(0, 10) for _ in range(7)]
        check = sum(d * w for d, w in zip(digits, range(9, 1, -1), strict=True)) % 11
        if check < 10:
            return "".join(map(str, digits)) + str(check)
