"""Issue 16, item 3: what a 200 MB `List_GetAll` (one company repeated 593,471 times) costs now.

    .venv/bin/python -m benchmarks.hostile_listing [--repeats 593471] [--cap-mb 50]

Starts a demo sandbox in this process with the fault `repeat` on CompanyService.List_GetAll, then
asks for the companies in a child process (the SOAP client as the sync uses it) and prints the
answer's size, the child's peak RSS, the time to refusal and the message. The sandbox's own copy of
the body is in this process, so it does not count towards the child's RSS.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

from pipelines.sandbox.server import SandboxServer

CHILD = """
import json, sys, time
from pipelines.lib.nmbrs.config import NmbrsSettings
from pipelines.lib.nmbrs.soap import NmbrsSoapClient
from pipelines.lib.nmbrs.errors import NmbrsError
settings = NmbrsSettings.from_env()
started = time.monotonic()
try:
    with NmbrsSoapClient(settings, max_attempts=1) as client:
        companies = client.companies()
    outcome = f"accepted: {len(companies)} companies"
except NmbrsError as exc:
    outcome = str(exc)
print(json.dumps({"seconds": round(time.monotonic() - started, 2), "outcome": outcome}))
"""


def _answer_size(sandbox: SandboxServer) -> int:
    """The size of the hostile answer, counted by reading it all (here, not in the measured child)."""
    import requests
    from lxml import etree

    from pipelines.lib.nmbrs.config import NmbrsSettings
    from pipelines.lib.nmbrs.soap import NmbrsSoapClient

    settings = NmbrsSettings(
        soap_url=f"{sandbox.url}/soap/v3/",
        username="demo@payroll.example",
        token="sandbox-token",
        domain="payrolldemo",
    )
    with NmbrsSoapClient(settings) as client:
        header = client._header("CompanyService", True)
        envelope = client._client("CompanyService").create_message(
            client._services["CompanyService"], "List_GetAll", _soapheaders=[header]
        )

    body = etree.tostring(envelope)
    soap_action = '"https://api.nmbrs.nl/soap/v3/CompanyService/List_GetAll"'
    headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": soap_action}
    with requests.post(
        f"{sandbox.url}/soap/v3/CompanyService.asmx", data=body, headers=headers, stream=True, timeout=60
    ) as response:
        return sum(len(chunk) for chunk in response.iter_content(1 << 20))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=593_471)
    parser.add_argument("--cap-mb", type=int, default=50)
    parser.add_argument("--chunked", action="store_true", help="no Content-Length: the size shows as read")
    args = parser.parse_args()
    with SandboxServer.start(scenario="demo", seed=42, port=0) as sandbox:
        sandbox.state.faults.inject(
            "soap:CompanyService.List_GetAll", "repeat", times=None, count=args.repeats, chunked=args.chunked
        )
        env = {
            **{k: v for k, v in __import__("os").environ.items() if not k.startswith("NMBRS_")},
            **sandbox.env_vars(),
            "NMBRS_SOURCE_MODE": "soap",
            "NMBRS_MAX_RESPONSE_MB": str(args.cap_mb),
        }
        started = time.monotonic()
        child = subprocess.run(
            [sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=False
        )
        wall = time.monotonic() - started
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        answer_bytes = _answer_size(sandbox)
    if child.returncode != 0:
        sys.exit(child.stderr[-3000:])
    result = json.loads(child.stdout.strip().splitlines()[-1])
    print(
        json.dumps(
            {
                "repeats": args.repeats,
                "answer_mb": round(answer_bytes / (1 << 20), 1),
                "cap_mb": args.cap_mb,
                "chunked": args.chunked,
                "child_peak_rss_mb": round(peak_mb, 1),
                "child_wall_seconds": round(wall, 2),
                **result,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
