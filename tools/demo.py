"""Prints how to call the local API as a demo user: `python -m tools.demo`."""

from __future__ import annotations

import sys

from shared.auth import encode_principal

DEMO_ORG = "demo-org"


def main() -> int:
    base = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:7071/api"
    principal = encode_principal(
        DEMO_ORG, "demo-user", "Demo User", ["access_reports", "import_export_tickets", "manage_system_settings"]
    )
    print(f"\nThe export API is up at {base}  (organization {DEMO_ORG!r})\n")
    print("Create an export:")
    print(f"  curl -si -X POST {base}/exports -H 'Content-Type: application/json' \\")
    print(f"    -H 'X-MS-CLIENT-PRINCIPAL: {principal}' \\")
    print("""    -d '{"format": "CSV", "exportType": "FLAT_FILE"}'""")
    print("Then poll the Location it returns, and download when completed:")
    print(f"  curl -s {base}/exports/<jobId> -H 'X-MS-CLIENT-PRINCIPAL: {principal}'")
    print(f"  curl -sL -o export.csv {base}/exports/<jobId>/download -H 'X-MS-CLIENT-PRINCIPAL: {principal}'\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
