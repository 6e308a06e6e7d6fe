#!/usr/bin/env python
"""Call path under load: our stack against a static dialplan, on a real FreeSWITCH with sipp.

Run from the repository root (project virtualenv active), with `freeswitch` and `sipp` on PATH
(FreeSWITCH built from public source; freeswitch_conf/README.md lists the modules):

    python benchmarks/callpath.py                       # 50 and 100 calls/s, 15 s each
    python benchmarks/callpath.py --rates 50 --seconds 30

It builds nothing. Both sides answer the same sipp calls from the trunk side (tests/sipp/
call.xml: INVITE, 200, 1 s of talk, BYE) with the same phone (a sipp UAS) answering:

- static:  freeswitch_conf/ with mod_xml_curl and mod_json_cdr left out and a public dialplan
           that bridges every call straight to the phone (no portal at all);
- ours:    freeswitch_conf/ as shipped, the portal as `manage.py serve` runs it (gunicorn
           workers, task cluster, call control) on a throwaway PostgreSQL database with one
           customer of --employees employees, Redis for the answer cache; the phone registers
           with digest auth and the call reaches it through a regular number: mod_xml_curl
           asks the portal for the public dialplan and the directory user.

ok = calls the phone answered and completed (a call the outage fallback answered is not
counted), out of the calls sipp attempted; INVITE -> 200 percentiles from sipp's RTD trace;
CPU per call of each of our processes from /proc.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import realswitch  # noqa: E402

NUMBER = "74951112244"
PHONE = "101"
PHONE_PASSWORD = "phone-secret-1a2b3c"


def static_conf(workdir: Path, phone_port: int) -> Path:
    conf = workdir / "static_conf"
    shutil.copytree(realswitch.CONF, conf)
    modules = conf / "autoload_configs" / "modules.conf.xml"
    text = modules.read_text()
    for module in ("mod_xml_curl", "mod_json_cdr"):
        text = "\n".join(line for line in text.splitlines() if module not in line) + "\n"
    modules.write_text(text)
    (conf / "dialplan" / "public.xml").write_text(
        "<include>\n"
        '  <context name="public">\n'
        '    <extension name="static">\n'
        '      <condition field="destination_number" expression="^(.+)$">\n'
        '        <action application="bridge" '
        f'data="sofia/internal/{PHONE}@127.0.0.1:{phone_port}"/>\n'
        "      </condition>\n"
        "    </extension>\n"
        "  </context>\n"
        "</include>\n"
    )
    return conf


def database(base_url: str) -> tuple[str, str]:
    """A throwaway database on the server of `base_url`: (url, name)."""
    import psycopg

    head, _, _ = base_url.rpartition("/")
    name = f"bench_callpath_{os.getpid()}"
    with psycopg.connect(f"{head}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return f"{head}/{name}", name


def drop_database(base_url: str, name: str) -> None:
    import psycopg

    head, _, _ = base_url.rpartition("/")
    with psycopg.connect(f"{head}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def populate(url: str, employees: int) -> int:
    """Migrate and create the customer; returns its id."""
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "portal.settings"}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    os.environ.update(env)
    import django

    django.setup()
    from portal.directory.models import Department, Employee, PhoneNumber
    from tests import factories

    customer = factories.customer(name="Нагрузка")
    answering = factories.department(customer, name="Приём")
    factories.employee(customer, answering, extension=PHONE, sip_password=PHONE_PASSWORD)
    factories.number(customer, "+" + NUMBER, kind=PhoneNumber.Kind.REGULAR, department=answering)
    others = [Department(customer=customer, name=f"Отдел {i}") for i in range(20)]
    Department.objects.bulk_create(others)
    Employee.objects.bulk_create(
        Employee(
            customer=customer,
            department=others[i % 20],
            extension=str(1000 + i),
            name=f"Сотрудник {i}",
            sip_password=f"pw-{i:06d}-secret",
        )
        for i in range(employees - 1)
    )
    return customer.pk


def run_rates(label, fs, phone, work, rates, seconds, portal=None) -> list[dict]:
    rows = []
    for rate in rates:
        before = phone.counts()["SuccessfulCall(C)"]
        cpu_fs = fs.cpu_seconds()
        cpu_portal = portal.cpu_seconds() if portal else {}
        stats = realswitch.call(fs, work, number=NUMBER, rate=rate, calls=int(rate * seconds))
        time.sleep(2.5)  # the answerer's stat file is written once a second
        answered = phone.counts()["SuccessfulCall(C)"] - before
        calls = max(answered, 1)
        cpu = {"freeswitch": (fs.cpu_seconds() - cpu_fs) / calls}
        if portal:
            after = portal.cpu_seconds()
            cpu.update({role: (after[role] - cpu_portal.get(role, 0)) / calls for role in after})
        rows.append(
            {
                "side": label,
                "rate": rate,
                "ok": answered,
                "attempted": stats.attempted,
                "p50": stats.percentile(50),
                "p99": stats.percentile(99),
                "cpu": cpu,
            }
        )
        print_row(rows[-1])
    return rows


def print_row(row: dict) -> None:
    p50 = f"{row['p50']:.0f}" if row["p50"] is not None else "-"
    p99 = f"{row['p99']:.0f}" if row["p99"] is not None else "-"
    cpu = ", ".join(f"{k} {v * 1000:.1f}" for k, v in row["cpu"].items())
    print(
        f"{row['side']:<7}{row['rate']:>6}/s {row['ok']:>6}/{row['attempted']:<6}"
        f"{p50:>8} {p99:>8}   {cpu}",
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rates", default="50,100")
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--employees", type=int, default=10_000)
    parser.add_argument(
        "--database",
        default=os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/pbx"),
    )
    parser.add_argument("--keep", action="store_true", help="keep the logs and sipp traces")
    parser.add_argument("--redis", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/5"))
    args = parser.parse_args()
    reason = realswitch.unavailable()
    if reason:
        print(f"callpath: {reason}", file=sys.stderr)
        return 2
    if not args.database.startswith("postgres"):
        print("callpath: DATABASE_URL must be PostgreSQL (the production database)")
        return 2
    rates = [float(r) for r in args.rates.split(",")]
    print(
        f"{'side':<7}{'rate':>8} {'ok/attempted':<13}{'p50 ms':>7} {'p99 ms':>8}   CPU ms per call"
    )
    tmp = tempfile.mkdtemp(prefix="callpath-")
    try:
        return measure(args, rates, Path(tmp))
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


def measure(args, rates: list[float], work: Path) -> int:
    rows = []
    if args.keep:
        print(f"logs and traces in {work}")
    phone = realswitch.Answerer(work, "phone")
    try:
        fs = realswitch.FreeSwitch(work / "static", conf_dir=static_conf(work, phone.port))
        fs.start()
        try:
            rows += run_rates("static", fs, phone, work, rates, args.seconds)
        finally:
            fs.stop()
        url, name = database(args.database)
        try:
            cid = populate(url, args.employees)
            portal = realswitch.Portal(work / "portal", url, redis_url=args.redis)
            fs = realswitch.FreeSwitch(work / "ours", portal_port=portal.port)
            portal.fs = fs
            (work / "portal").mkdir()
            portal.start()
            fs.start()
            try:
                ok = realswitch.register(
                    fs,
                    work,
                    user=PHONE,
                    password=PHONE_PASSWORD,
                    domain=f"c{cid}.{realswitch.SIP_DOMAIN}",
                    contact_port=phone.port,
                )
                if not ok:
                    print("callpath: the phone could not register", file=sys.stderr)
                    return 1
                rows += run_rates("ours", fs, phone, work, rates, args.seconds, portal)
            finally:
                fs.stop()
                portal.stop()
        finally:
            drop_database(args.database, name)
    finally:
        phone.stop()
    print()
    for rate in rates:
        static = next(r for r in rows if r["side"] == "static" and r["rate"] == rate)
        ours = next((r for r in rows if r["side"] == "ours" and r["rate"] == rate), None)
        if ours and static["ok"]:
            ratio = ours["ok"] / static["ok"]
            delta = (ours["p50"] or 0) - (static["p50"] or 0)
            print(
                f"{rate:>5.0f}/s: ours completed {ratio:.2f} x static, "
                f"INVITE->200 p50 {delta:+.0f} ms"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
