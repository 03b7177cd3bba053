"""Raw SOAP over plain HTTP, the way public clients write it: envelopes, posts, results and faults."""

from __future__ import annotations

import html

import requests
from lxml import etree

from pipelines.sandbox import contract

SOAP_NS = {"1.1": contract.SOAP11_ENV, "1.2": contract.SOAP12_ENV}
AUTH = {"username": contract.USERNAME, "token": contract.TOKEN, "domain": contract.DOMAIN}


def envelope(
    version: str,
    service: str,
    operation: str,
    children: dict[str, object] | None = None,
    username: str = contract.USERNAME,
    token: str = contract.TOKEN,
    domain: str | None = contract.DOMAIN,
    header: str | None = None,
) -> bytes:
    """A SOAP envelope written by hand the way public clients do: service namespace as default namespace."""
    ns = contract.namespace(service)
    header = header or (
        "AuthHeader" if operation in contract.AUTH_HEADER_OPERATIONS else "AuthHeaderWithDomain"
    )
    domain_xml = (
        f"<Domain>{html.escape(domain)}</Domain>" if header == "AuthHeaderWithDomain" and domain else ""
    )
    args = "".join(f"<{k}>{html.escape(str(v))}</{k}>" for k, v in (children or {}).items())
    return (
        f'<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="{SOAP_NS[version]}">'
        f'<soap:Header><{header} xmlns="{ns}"><Username>{html.escape(username)}</Username>'
        f"<Token>{html.escape(token)}</Token>{domain_xml}</{header}></soap:Header>"
        f'<soap:Body><{operation} xmlns="{ns}">{args}</{operation}></soap:Body></soap:Envelope>'
    ).encode()


def post_soap(base_url: str, version: str, service: str, operation: str, body: bytes) -> requests.Response:
    url = f"{base_url}/soap/v3/{service}.asmx"
    if version == "1.1":
        headers = {
            "Content-Type": "text/xml; charset=utf-8",
            "SOAPAction": f'"{contract.soap_action(service, operation)}"',
        }
    else:
        headers = {
            "Content-Type": f'application/soap+xml; charset=utf-8; action="{contract.soap_action(service, operation)}"'
        }
    return requests.post(url, data=body, headers=headers, timeout=10)


def call(
    base_url: str,
    version: str,
    service: str,
    operation: str,
    children: dict[str, object] | None = None,
    **auth: object,
) -> etree._Element:
    """Call an operation; return its <OperationResult> element (asserting HTTP 200)."""
    response = post_soap(
        base_url, version, service, operation, envelope(version, service, operation, children, **auth)
    )
    assert response.status_code == 200, response.text
    root = etree.fromstring(response.content)
    ns = contract.namespace(service)
    result = root.find(f"{{{SOAP_NS[version]}}}Body/{{{ns}}}{operation}Response/{{{ns}}}{operation}Result")
    assert result is not None, response.text
    return result


def fault_text(response: requests.Response, version: str) -> str:
    """The fault string of a SOAP fault response (asserting HTTP 500 and the version's fault shape)."""
    assert response.status_code == 500, response.text
    root = etree.fromstring(response.content)
    env = SOAP_NS[version]
    fault = root.find(f"{{{env}}}Body/{{{env}}}Fault")
    assert fault is not None, response.text
    if version == "1.1":
        assert fault.findtext("faultcode") in ("soap:Server", "soap:Client")
        return fault.findtext("faultstring")
    assert fault.findtext(f"{{{env}}}Code/{{{env}}}Value") in ("soap:Receiver", "soap:Sender")
    return fault.findtext(f"{{{env}}}Reason/{{{env}}}Text")


def report_content(text: str) -> etree._Element:
    """The root of report content as Nmbrs sends it: text whose declaration says utf-16 (after a
    byte-order mark or not), which is false for the text's UTF-8 bytes, so the parser is told."""
    assert text.lstrip("\ufeff").startswith('<?xml version="1.0" encoding="utf-16"?>'), text[:60]
    return etree.fromstring(text.encode("utf-8"), etree.XMLParser(encoding="utf-8", resolve_entities=False))


def amounts(root: etree._Element, element: str) -> list[str]:
    """Every amount in the report (`ComponentValue` or payslip line `value`), without Nmbrs's "no value"."""
    path = "//Value/ComponentValue" if element == "ComponentValue" else "//line/value"
    return [e.text for e in root.xpath(path) if (e.text or "") not in ("", "-")]


def q(service: str, *names: str) -> str:
    """A path of service-namespace elements for lxml find()."""
    ns = contract.namespace(service)
    return "/".join(f"{{{ns}}}{n}" for n in names)
