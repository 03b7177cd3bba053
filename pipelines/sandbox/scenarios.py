"""Scenarios and their knobs: what world the sandbox generates and how its API behaves.

`demo` (default) is small and stable; `scale` grows companies, employees and years; `faults` is the
demo world behind an unreliable API (slow tasks, comma decimals, preset injected faults).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field

SCENARIOS = ("demo", "scale", "faults")


@dataclass(frozen=True)
class ScenarioConfig:
    scenario: str = "demo"
    seed: int = 42
    as_of: dt.date = field(default_factory=dt.date.today)
    companies: int = 3  # scale: number of companies
    employees_per_company: int = 0  # scale: employees per company (0 = demo sizes 8 / 6 / 4)
    years: int = 2  # calendar years ending with as_of's year
    task_seconds: float = 0.2  # Enqueued -> Executing -> Success takes this long
    decimal_comma: bool = False  # report values as 1234,56
    debtors: int = 1  # debtors the REST consent spans; above 1, GET /api/companies answers 403 code 40306
    access_token_seconds: int = 3600
    throttle: float = 0.0  # fraction of API requests answered 429
    retry_after_seconds: int = 1
    preset_faults: bool = False  # faults scenario: inject its standard set of faults at start
    ledger_difference: bool = True  # demo world: Nmbrs books one component elsewhere than our CSV (ledger.py)

    @property
    def first_year(self) -> int:
        return self.as_of.year - self.years + 1

    @property
    def is_demo_world(self) -> bool:
        return self.scenario in ("demo", "faults")


SCENARIO_DEFAULTS: dict[str, dict[str, object]] = {
    "demo": {},
    "scale": {"companies": 200, "employees_per_company": 100, "years": 2},
    "faults": {"task_seconds": 1.5, "decimal_comma": True, "preset_faults": True},
}


def build_config(scenario: str = "demo", seed: int = 42, **knobs: object) -> ScenarioConfig:
    """The scenario's defaults, overridden by knobs; unknown scenarios or knobs raise ValueError."""
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown sandbox scenario {scenario!r}; choose one of {', '.join(SCENARIOS)}")
    names = {f.name for f in dataclasses.fields(ScenarioConfig)} - {"scenario", "seed"}
    unknown = sorted(set(knobs) - names)
    if unknown:
        raise ValueError(
            f"unknown sandbox knob(s) {', '.join(unknown)}; known knobs: {', '.join(sorted(names))}"
        )
    values = {**SCENARIO_DEFAULTS[scenario], **{k: v for k, v in knobs.items() if v is not None}}
    if isinstance(values.get("as_of"), str):
        values["as_of"] = dt.date.fromisoformat(values["as_of"])
    config = ScenarioConfig(scenario=scenario, seed=int(seed), **values)
    _validate(config)
    return config


def _validate(config: ScenarioConfig) -> None:
    if not 1 <= config.debtors <= 9:
        raise ValueError(f"debtors={config.debtors} must be between 1 and 9")
    if not 0.0 <= config.throttle <= 1.0:
        raise ValueError(f"throttle={config.throttle} must be a fraction between 0 and 1")
    if not 1 <= config.years <= 20:
        raise ValueError(f"years={config.years} must be between 1 and 20")
    if config.is_demo_world and (config.companies != 3 or config.employees_per_company):
        raise ValueError("companies and employees_per_company are knobs of the scale scenario only")
    if not 1 <= config.companies <= 899:
        raise ValueError(f"companies={config.companies} must be between 1 and 899")
    if not 0 <= config.employees_per_company <= 999:
        raise ValueError(f"employees_per_company={config.employees_per_company} must be between 1 and 999")
