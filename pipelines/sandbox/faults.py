"""Switchable faults: each rule matches endpoint keys by pattern and fires a given number of times.

    sb.state.faults.inject("soap:ReportService.*", kind="500", times=2)
    sb.state.faults.inject("rest:employees", kind="401", after=1)      # 401 on the second page
    sb.state.faults.inject("soap:ReportService.Reports_Accountant_*", kind="task_error")

Kinds: transport level `500`, `502`, `503`, `429` (Retry-After: `retry_after` s), `401` (REST code 40102,
invalid or expired token), `quota` (REST 429 code 42909, plan quota exhausted, no Retry-After),
`forbidden` (REST 403, `code` 40303 by default or 40305: the consenting login cannot see the data),
`truncate` (half the body, then the connection closes), `reset` (TCP reset, no response),
`slow` (wait `seconds`, then answer); SOAP `fault` (Nmbrs fault `code`, default 9999), SOAP
`extra_elements` (every complex element of the answer gains elements no WSDL of ours knows);
background tasks `task_error`, `task_unknown`, `task_slow` (`seconds`) for the task created by the call
(SOAP report tasks and REST document tasks alike), and `report_value` (the SOAP report's first amount
is `value`, default `1e5`: outside the value grammar); `journal_unbalanced` (the REST journal's
first line is `delta` higher, default 0.01, so that its transaction no longer balances).
Hostile answers (issue 16): `drip` (the answer sent at `bytes_per_second`, default 20; `served`
records how long each dripped answer ran before the client hung up), `repeat` (a SOAP or REST
listing whose first item is repeated `count` times, default 1000, the second copy with another name
when `vary=True`; any kind with `chunked=True` is
sent without Content-Length, chunk by chunk), `doctype` (a SOAP answer that
declares a DOCTYPE with an entity), `repeat_block` (the report created by the call repeats its first
employee block, `<Employees>` or `<payslip>`: every line of it twice), `pad` (any answer, the identity
service's included, followed by `megabytes` of spaces, default 2: still valid JSON or XML, only larger).
"""

from __future__ import annotations

import fnmatch
import threading
from dataclasses import dataclass, field

KINDS = (
    "500",
    "502",
    "503",
    "429",
    "401",
    "quota",
    "forbidden",
    "truncate",
    "reset",
    "slow",
    "fault",
    "task_error",
    "task_unknown",
    "task_slow",
    "report_value",
    "extra_elements",
    "drip",
    "repeat",
    "doctype",
    "repeat_block",
    "journal_unbalanced",
    "pad",
)
TASK_KINDS = ("task_error", "task_unknown", "task_slow", "report_value", "repeat_block", "journal_unbalanced")
# Kinds the SOAP or REST handler applies to its answer (no transport-level effect).
ANSWER_KINDS = ("fault", "extra_elements", "repeat", "doctype", *TASK_KINDS)


@dataclass
class FaultRule:
    target: str
    kind: str
    times: int | None = 1  # None: every matching call
    after: int = 0  # let this many matching calls pass first
    params: dict[str, object] = field(default_factory=dict)
    seen: int = 0
    fired: int = 0
    served: list[float] = field(default_factory=list)  # drip: seconds each answer ran

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.fired >= self.times


class FaultInjector:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []

    def inject(
        self, target: str, kind: str, times: int | None = 1, after: int = 0, **params: object
    ) -> FaultRule:
        kind = str(kind)
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; choose one of {', '.join(KINDS)}")
        if ":" not in target:
            raise ValueError(
                f"fault target {target!r} needs a family prefix, e.g. soap:CompanyService.* or rest:*"
            )
        rule = FaultRule(target, kind, times, int(after), dict(params))
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def take(self, key: str) -> FaultRule | None:
        """The first live rule matching this call (counting it as fired), or None."""
        with self._lock:
            for rule in self._rules:
                if rule.exhausted or not fnmatch.fnmatchcase(key, rule.target):
                    continue
                rule.seen += 1
                if rule.seen <= rule.after:
                    continue
                rule.fired += 1
                return rule
        return None


def preset_faults(injector: FaultInjector) -> None:
    """The `faults` scenario's standard set: every failure happens once, then the call succeeds."""
    injector.inject("soap:DebtorService.Environment_Get", "slow", seconds=2.5)
    injector.inject("soap:CompanyService.List_GetAll", "503")
    injector.inject("soap:CompanyService.Run_GetList", "500")
    injector.inject("soap:EmployeeService.PersonalInfo_GetAll_AllEmployeesByCompany", "truncate")
    injector.inject(
        "soap:ReportService.Reports_Accountant_Company_CompanyWageComponentsPerPeriod_Background",
        "task_error",
    )
    injector.inject("soap:ReportService.Reports_GetPayslipByRunCompany_v2_Background", "task_unknown")
    injector.inject("soap:ReportService.Reports_BackgroundTask_Result", "reset", after=1)
    injector.inject("soap:ReportService.Reports_BackgroundTask_Result", "fault", after=3, code=1006)
    injector.inject("rest:*", "429", times=2, retry_after=1)
    injector.inject("rest:employees", "401", after=1)
