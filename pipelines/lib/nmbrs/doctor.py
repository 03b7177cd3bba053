"""The checks behind `payroll doctor`: settings, warehouse, SOAP credentials, domain and the seven
permissions, the REST connection and subscription key. Each check is a `Check(name, ok, detail)`
whose detail is the fix when it fails. Nothing here prints a token or a secret.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pipelines.lib import warehouse
from pipelines.lib.nmbrs.config import SOAP_SUNSET, NmbrsSettings
from pipelines.lib.nmbrs.errors import NmbrsError, NmbrsFault
from pipelines.lib.settings import ConfigurationError


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def run_checks(
    nmbrs: NmbrsSettings,
    database_url: str,
    *,
    soap_factory: Callable | None = None,
    rest_factory: Callable | None = None,
) -> list[Check]:
    checks = [
        Check(
            "settings",
            True,
            f"source mode {nmbrs.source_mode}" + (" (demo: the local sandbox)" if nmbrs.demo else ""),
        ),
        Check("complete data", True, complete_data_path(nmbrs)),
    ]
    try:
        conn = warehouse.connect(database_url, connect_timeout=5)
        conn.close()
        checks.append(Check("warehouse", True, "reachable"))
        warehouse_ok = True
    except ConfigurationError as exc:
        checks.append(Check("warehouse", False, str(exc)))
        warehouse_ok = False
    if nmbrs.uses_soap:
        checks += soap_checks(nmbrs, soap_factory)
    if nmbrs.uses_rest:
        if warehouse_ok:
            checks += rest_checks(nmbrs, database_url, rest_factory)
        else:
            checks.append(
                Check("REST token", False, "the token is kept in the warehouse; fix the warehouse first")
            )
    return checks


def complete_data_path(nmbrs: NmbrsSettings) -> str:
    """Which API delivers the complete payroll (the computed result) in this mode, and, while SOAP
    is in use, the day Nmbrs retires it."""
    sunset = f"Nmbrs retires the SOAP API on {SOAP_SUNSET.isoformat()}"
    if nmbrs.source_mode == "rest":
        return "REST delivers complete data: the run output of every run, and the journals"
    if nmbrs.source_mode == "rest+soap":
        return (
            "REST delivers complete data (the run output of every run, and the journals); SOAP cross-checks "
            f"the company and employee listings. {sunset}: from then on use NMBRS_SOURCE_MODE=rest"
        )
    return (
        "SOAP delivers complete data (the wage-component and payslip reports); no journals, departments or "
        f"cost centres. {sunset}: configure REST (docs/connecting-nmbrs.md) before then"
    )


def soap_checks(nmbrs: NmbrsSettings, factory: Callable | None = None) -> list[Check]:
    from pipelines.lib.nmbrs.soap import NmbrsSoapClient

    client = (factory or NmbrsSoapClient)(nmbrs)
    try:
        try:
            environment = client.environment()
        except NmbrsFault as fault:
            if fault.code == 1001:
                return [Check("SOAP credentials", False, str(fault))]
            environment = None
            credentials = Check("SOAP credentials", True, f"not verified by Environment_Get: {fault.meaning}")
        except NmbrsError as exc:
            return [Check("SOAP credentials", False, str(exc))]
        else:
            credentials = Check("SOAP credentials", True, f"user {nmbrs.username}")
        checks = [credentials, _domain_check(nmbrs, environment)]
        for operation, status in client.probe_permissions().items():
            checks.append(
                Check(f"permission {operation}", status == "ok", "allowed" if status == "ok" else status)
            )
        return checks
    finally:
        client.close()


def _domain_check(nmbrs: NmbrsSettings, environment) -> Check:
    if environment is None:
        if nmbrs.domain:
            return Check("SOAP domain", True, f"{nmbrs.domain} (from NMBRS_DOMAIN; not verified)")
        return Check(
            "SOAP domain",
            False,
            "cannot discover the domain: allow DebtorService.Environment_Get, or set NMBRS_DOMAIN",
        )
    if nmbrs.domain and nmbrs.domain.lower() != environment.domain.lower():
        return Check(
            "SOAP domain",
            False,
            f"NMBRS_DOMAIN={nmbrs.domain} but the token belongs to {environment.domain}; fix or unset NMBRS_DOMAIN",
        )
    source = "configured" if nmbrs.domain else "discovered"
    return Check("SOAP domain", True, f"{environment.domain} ({source})")


def rest_checks(nmbrs: NmbrsSettings, database_url: str, factory: Callable | None = None) -> list[Check]:
    from pipelines.lib.nmbrs.rest import NmbrsRestClient
    from pipelines.lib.nmbrs.tokens import TokenStore

    store = TokenStore(database_url, nmbrs)
    if not store.is_connected():
        return [Check("REST token", False, "no REST connection is stored; run `payroll connect`")]
    try:
        store.access_token()
    except NmbrsError as exc:
        return [Check("REST token", False, str(exc))]
    checks = [Check("REST token", True, f"stored for {nmbrs.connection_name}")]
    client = (factory or NmbrsRestClient)(nmbrs, store)
    try:
        companies = client.companies()
        checks.append(
            Check(
                "REST subscription key and scopes", True, f"the consent covers {len(companies)} company(ies)"
            )
        )
    except NmbrsError as exc:
        checks.append(Check("REST subscription key and scopes", False, str(exc)))
    finally:
        client.close()
    return checks
