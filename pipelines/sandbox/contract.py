"""The Nmbrs facts the sandbox serves (see docs/nmbrs-api.md), in one place.

Element names, namespaces, operations and the sandbox's default credentials. Names marked modeled
in the contract are reconstructions; correct them here if real access shows otherwise.
"""

from __future__ import annotations

SOAP11_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENV = "http://www.w3.org/2003/05/soap-envelope"
PRODUCTION_SOAP_URL = "https://api.nmbrs.nl/soap/v3/"

SERVICES: dict[str, tuple[str, ...]] = {
    "DebtorService": ("Environment_Get",),
    "CompanyService": ("List_GetAll", "Run_GetList"),
    "EmployeeService": ("PersonalInfo_GetAll_AllEmployeesByCompany",),
    "ReportService": (
        "Reports_Accountant_Company_CompanyWageComponentsPerPeriod_Background",
        "Reports_GetPayslipByRunCompany_v2_Background",
        "Reports_BackgroundTask_Result",
    ),
}
ALL_OPERATIONS: frozenset[str] = frozenset(f"{svc}.{op}" for svc, ops in SERVICES.items() for op in ops)
SERVICE_OF: dict[str, str] = {op: svc for svc, ops in SERVICES.items() for op in ops}
# Operations authenticated with AuthHeader { Username, Token }; all others use AuthHeaderWithDomain.
AUTH_HEADER_OPERATIONS = frozenset({"Environment_Get"})


def namespace(service: str) -> str:
    return f"https://api.nmbrs.nl/soap/v3/{service}"


def soap_action(service: str, operation: str) -> str:
    return f"{namespace(service)}/{operation}"


def operation_name(permission: str) -> str:
    """`CompanyService.List_GetAll` for either that or the bare `List_GetAll`; ValueError if unknown."""
    if permission in ALL_OPERATIONS:
        return permission
    if permission in SERVICE_OF:
        return f"{SERVICE_OF[permission]}.{permission}"
    raise ValueError(f"unknown Nmbrs operation {permission!r}; known: {', '.join(sorted(ALL_OPERATIONS))}")


# Default credentials (demo mode), as in docs/design.md.
USERNAME = "demo@payroll.example"
TOKEN = "sandbox-token"
DOMAIN = "payrolldemo"
SUBDOMAIN = "payrolldemo.nmbrs.nl"
CLIENT_ID = "payroll-sandbox"
# Nmbrs secrets often hold `*`, `$` or `+`: this one makes every connect prove the RFC 6749 encoding.
CLIENT_SECRET = "sandbox-secret%+*$:/"
SUBSCRIPTION_KEY = "sandbox-subscription-key"
REDIRECT_URI_PATTERNS = ("http://127.0.0.1:*/callback", "http://localhost:*/callback")

# REST scopes the sandbox's OAuth client may ask for (one unknown scope refuses the consent request).
SCOPES = frozenset(
    {
        "openid",
        "company.info.read",
        "company.payrollsettings.read",
        "employee.info.read",
        "employee.employment.read",
        "employee.payment.read",
        "company.document.read",
        "document.read",
        "offline_access",
    }
)
# The scopes that satisfy each REST route (any one of them), as the vendor's OpenAPI document lists them.
ROUTE_SCOPES: dict[str, frozenset[str]] = {
    "companies": frozenset({"company.info", "company.info.read"}),
    "company_period": frozenset({"company.info", "company.info.read"}),
    "debtors": frozenset({"company.info", "company.info.read"}),
    "debtor_companies": frozenset({"company.info", "company.info.read"}),
    "runs": frozenset({"company.payrollsettings.read"}),
    "run_employees": frozenset({"company.payrollsettings.read"}),
    "employees": frozenset({"employee.info", "employee.info.read"}),
    "personalinfo": frozenset({"employee.info", "employee.info.read"}),
    "departments": frozenset({"employee.info", "employee.info.read"}),
    "costcenters": frozenset({"employee.payment", "employee.payment.read"}),
    "fixedwagecomponents": frozenset({"employee.payment", "employee.payment.read"}),
    "variablewagecomponents": frozenset({"employee.payment", "employee.payment.read"}),
    "run_output": frozenset({"company.document.read"}),
    "journals": frozenset({"company.document.read"}),
    "documents": frozenset({"document.read"}),
}
