"""`make audit`: the security checks that can run anywhere, and the one that needs an
advisory database, each saying plainly whether it passed, failed or could not run.

1. bandit over the code that ships (not tests/ or bench/): no medium or high finding. A
   reasoned exception is a `# nosec` naming the test id with its reason on the line itself,
   e.g. `# nosec B608 - table names from the models, values as parameters`.
2. `manage.py check --deploy --fail-level WARNING` under production settings (DEBUG off,
   generated secrets).
3. The security tests (tests/security).
4. The installed dependencies against known advisories (pip-audit). pip-audit has no
   offline database: it asks PyPI's JSON API (or OSV). Where neither answers (no network,
   a mirror without the JSON API) every package comes back "not found"; that is reported
   as NOT CHECKED, never as a pass, and fails the audit unless AUDIT_OFFLINE=1 says that
   only the offline parts are wanted (CI without network).

Exit status: 0 when every check that ran passed (and the advisories were checked, or
AUDIT_OFFLINE=1); 1 when a check failed; 3 when the advisories could not be checked.
"""

import base64
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SHIPPED = [
    "config",
    "core",
    "realtime",
    "accounts",
    "feed",
    "chat",
    "notifications",
    "frontend",
    "asgi.py",
    "manage.py",
    "deploy",
    "clients",
    "scripts",
]


def run(args: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True)  # noqa: S603


def bandit() -> tuple[str, str]:
    result = run(
        [
            str(BIN / "bandit"),
            "-q",
            "-r",
            *SHIPPED,
            "--severity-level",
            "medium",
            "-f",
            "custom",
            "--msg-template",
            "{relpath}:{line} {test_id} {severity}/{confidence} {msg}",
        ]
    )
    findings = [line for line in result.stdout.splitlines() if line.strip()]
    if result.returncode == 0 and not findings:
        return "PASS", "no medium or high finding"
    return "FAIL", "\n".join(findings) or result.stderr.strip()


def deploy_check() -> tuple[str, str]:
    env = {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "FIELD_ENCRYPTION_KEYS": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "ALLOWED_HOSTS": "instaclone.example",
        "CSRF_TRUSTED_ORIGINS": "https://instaclone.example",
    }
    env.pop("HTTPS", None)  # production's default: on
    result = run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], env)
    output = (result.stdout + result.stderr).strip().splitlines()
    detail = "\n".join(line for line in output if "UserWarning" not in line and "warnings.warn" not in line)
    return ("PASS" if result.returncode == 0 else "FAIL"), detail


def security_tests() -> tuple[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": os.environ.get("DATABASE_URL") or "postgres://postgres@localhost:5432/instaclone",
        "REDIS_URL": os.environ.get("REDIS_URL") or "redis://localhost:6379/0",
    }
    result = run([str(BIN / "pytest"), "tests/security", "-q", "-p", "no:cacheprovider"], env)
    summary = [line for line in result.stdout.splitlines() if line.strip()][-1:]
    return ("PASS" if result.returncode == 0 else "FAIL"), "\n".join(summary) or result.stderr[-2000:]


def advisories() -> tuple[str, str]:
    unreachable = []
    for service in ("pypi", "osv"):
        result = run([str(BIN / "pip-audit"), "-s", service, "-f", "json", "--progress-spinner", "off"])
        try:
            report = json.loads(result.stdout)
        except ValueError:
            unreachable.append(f"{service}: {(result.stderr.strip().splitlines() or ['no answer'])[-1][:200]}")
            continue
        deps = report.get("dependencies", [])
        skipped = [d for d in deps if d.get("skip_reason")]
        if deps and len(skipped) == len(deps):
            unreachable.append(
                f"{service}: none of {len(deps)} packages could be looked up ({skipped[0]['skip_reason']})"
            )
            continue
        vulnerable = [d for d in deps if d.get("vulns")]
        lines = [
            f"{d['name']} {d['version']}: "
            + ", ".join(
                v["id"] + (f" (fixed in {', '.join(v.get('fix_versions', []))})" if v.get("fix_versions") else "")
                for v in d["vulns"]
            )
            for d in vulnerable
        ]
        lines += [f"not looked up: {d['name']} {d['version']} ({d['skip_reason']})" for d in skipped]
        if vulnerable:
            return "FAIL", f"advisories from {service}:\n" + "\n".join(lines)
        return "PASS", f"{len(deps) - len(skipped)} packages checked against {service}, none with a known advisory" + (
            "\n" + "\n".join(lines) if lines else ""
        )
    return "NOT CHECKED", "no advisory database reachable from here:\n" + "\n".join(unreachable)


CHECKS = [
    ("bandit", bandit),
    ("manage.py check --deploy", deploy_check),
    ("security tests", security_tests),
    ("dependency advisories", advisories),
]


def main() -> int:
    offline = os.environ.get("AUDIT_OFFLINE") == "1"
    results = []
    for name, check in CHECKS:
        if offline and name == "dependency advisories":
            results.append((name, "SKIPPED", "AUDIT_OFFLINE=1: the advisory lookup needs the network"))
        else:
            print(f"audit: {name} ...", flush=True)
            results.append((name, *check()))
        name, verdict, detail = results[-1]
        print(f"audit: {name}: {verdict}")
        if detail and verdict != "PASS":
            print("    " + detail.replace("\n", "\n    "))
    print("\naudit summary:")
    for name, verdict, _ in results:
        print(f"  {verdict:<12} {name}")
    verdicts = {verdict for _, verdict, _ in results}
    if "FAIL" in verdicts:
        return 1
    if "NOT CHECKED" in verdicts:
        print("\nThe dependency advisories were NOT checked. Run `make audit` where PyPI's JSON API or")
        print("OSV is reachable, or `make audit AUDIT_OFFLINE=1` for the offline parts only.")
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
