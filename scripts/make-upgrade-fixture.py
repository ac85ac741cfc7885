#!/usr/bin/env python3
"""Writes the upgrade fixture of one Herald release: a database that release
wrote, on SQLite and on PostgreSQL, with accounts, subscribers in every state,
a sent issue, a draft, an API token and the links it mailed. tests/upgrade.rs
starts the current code on a copy of it and checks that every row is kept and
every mailed link still does what it did.

Run it once per release, with the binary of that release (before any schema
change of the next one lands):

    cargo build --bin herald
    python3 scripts/make-upgrade-fixture.py target/debug/herald \
        tests/fixtures/upgrade/0.2.0 postgres://postgres@127.0.0.1:5432/test

Standard library only. The PostgreSQL half needs pg_dump on the PATH.
"""

import email
import email.policy
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

# The fixture's links are made against this origin; the test swaps in its own.
BASE_URL = "http://herald.invalid"
SECRET = "upgrade-fixture-secret-0123456789-abcdefghijklmnop"
ADMIN = ("admin@example.com", "admin-password-for-the-fixture")
EDITOR = ("editor@example.com", "editor-password-for-the-fixture")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Herald:
    def __init__(self, binary, workdir, database_url):
        self.binary = binary
        self.workdir = workdir
        self.outbox = workdir / "outbox"
        self.port = free_port()
        self.env = dict(
            os.environ,
            DATABASE_URL=database_url,
            HERALD_SECRET=SECRET,
            HERALD_BASE_URL=BASE_URL,
            HERALD_BIND=f"127.0.0.1:{self.port}",
            HERALD_OUTBOX_DIR=str(self.outbox),
            HERALD_NEWSLETTER_NAME="Upgrade Fixture",
            RUST_LOG="warn",
        )
        self.env.pop("SMTP_URL", None)
        self.server = None

    def run(self, *args, stdin=None, extra_env=None):
        env = dict(self.env, **(extra_env or {}))
        done = subprocess.run(
            [self.binary, *args],
            cwd=self.workdir,
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            sys.exit(f"herald {' '.join(args)} failed: {done.stderr}")
        return done.stdout

    def start(self):
        self.server = subprocess.Popen(
            [self.binary, "serve"], cwd=self.workdir, env=self.env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                urllib.request.urlopen(self.url("/health"), timeout=1)
                return
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        sys.exit("herald serve did not answer /health within 30 s")

    def stop(self):
        self.server.terminate()
        self.server.wait(timeout=30)

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def request(self, method, path, body=None, token=None, form=False):
        headers = {}
        data = None
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if body is not None:
            if form:
                data = urllib.parse.urlencode(body).encode()
                headers["Content-Type"] = "application/x-www-form-urlencoded"
            else:
                data = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.url(path), data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                text = resp.read().decode()
                status = resp.status
        except urllib.error.HTTPError as e:
            text, status = e.read().decode(), e.code
        if status >= 400:
            sys.exit(f"{method} {path} answered {status}: {text[:300]}")
        return json.loads(text) if text.startswith(("{", "[")) else text

    def mails(self):
        found = []
        for path in sorted(self.outbox.glob("*.eml")):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            text = message.get_body(preferencelist=("plain",)).get_content()
            found.append((message["To"], message["Subject"], message, text))
        return found

    def link(self, to, prefix):
        """The newest link starting with BASE_URL+prefix mailed to `to`."""
        pattern = re.compile(re.escape(BASE_URL + prefix) + r"[^\s<>\"')\]]+")
        links = [m.group(0) for (rcpt, _, _, text) in self.mails()
                 if to in rcpt for m in [pattern.search(text)] if m]
        if not links:
            sys.exit(f"no {prefix} link mailed to {to}")
        return links[-1]

    def wait_for(self, predicate, what):
        deadline = time.time() + 60
        while time.time() < deadline:
            if predicate():
                return
            time.sleep(0.2)
        sys.exit(f"timed out waiting for {what}")


def fill(herald):
    """What a newsroom's first weeks leave in the database, and the links it mailed."""
    herald.run("migrate")
    herald.run("user", "add", ADMIN[0], "--role", "admin", extra_env={"HERALD_PASSWORD": ADMIN[1]})
    herald.run("user", "add", EDITOR[0], "--role", "editor", extra_env={"HERALD_PASSWORD": EDITOR[1]})
    # From 0.2 a token has an owner; 0.1 knew no --owner.
    token_args = ["token", "create", "--name", "cms"]
    if "--owner" in herald.run("token", "create", "--help"):
        token_args += ["--owner", ADMIN[0]]
    token = herald.run(*token_args).strip().splitlines()[-1].strip()
    herald.run("user", "add", "gone@example.com", "--role", "editor",
               extra_env={"HERALD_PASSWORD": "gone-password-for-the-fixture"})

    csv_path = herald.workdir / "paper-forms.csv"
    csv_path.write_text("email,name\nprinted.one@example.org,Printed One\n"
                        "printed.two@example.org,Printed Two\n")
    herald.run("subscribers", "import", str(csv_path), "--confirmed",
               "--consent-note", "paper forms, 2026 book fair")

    herald.start()
    try:
        for address, name in [("ada@example.com", "Ada Lovelace"),
                              ("grace@example.com", "Grace Hopper"),
                              ("leaving@example.com", "Leaving Soon"),
                              ("pending@example.com", ""),
                              ("erased@example.com", "Erased Reader")]:
            herald.request("POST", "/subscriptions", {"email": address, "name": name})
        herald.wait_for(lambda: len(herald.mails()) >= 5, "five confirmation mails")
        confirmation_links = {}
        for address in ["ada@example.com", "grace@example.com", "leaving@example.com",
                        "erased@example.com"]:
            link = herald.link(address, "/subscriptions/confirm?token=")
            token_value = urllib.parse.parse_qs(urllib.parse.urlparse(link).query)["token"][0]
            herald.request("POST", "/subscriptions/confirm", {"token": token_value}, form=True)
        confirmation_links["pending@example.com"] = herald.link(
            "pending@example.com", "/subscriptions/confirm?token=")

        subscribers = herald.request("GET", "/api/v1/subscribers?limit=100", token=token)
        ids = {s["email"]: s["id"] for s in subscribers["items"]}

        issue = herald.request("POST", "/api/v1/issues", {
            "subject": "The first digest",
            "preheader": "Three stories from the week",
            "intro": "Welcome to the **first** issue.",
            "items": [
                {"title": "Harbour reopens", "url": "https://news.example.com/harbour",
                 "source": "City desk", "date": "2026-11-20",
                 "summary": "The old harbour opens again after *two years*."},
                {"title": "Library hours", "url": "https://news.example.com/library",
                 "summary": "Longer evenings from December."},
            ],
        }, token=token)
        herald.request("POST", f"/api/v1/issues/{issue['id']}/send", {}, token=token)
        herald.wait_for(
            lambda: herald.request("GET", f"/api/v1/issues/{issue['id']}", token=token)["status"] == "sent",
            "the issue to be sent")
        draft = herald.request("POST", "/api/v1/issues", {
            "subject": "Next week (draft)", "intro": "Work in progress.", "items": []}, token=token)

        unsubscribe_links = {}
        for address in ["ada@example.com", "grace@example.com", "leaving@example.com",
                        "erased@example.com", "printed.one@example.org", "printed.two@example.org"]:
            unsubscribe_links[address] = herald.link(address, "/unsubscribe?token=")
        # A reader who left with the mailed link, and one erased: their links
        # must not start working for anybody else after the upgrade.
        leave = unsubscribe_links["leaving@example.com"]
        herald.request("POST", leave[len(BASE_URL):], {"List-Unsubscribe": "One-Click"}, form=True)
        herald.request("DELETE", f"/api/v1/subscribers/{ids['erased@example.com']}", token=token)
        gone = [u for u in herald.request("GET", "/api/v1/subscribers?limit=100", token=token)["items"]]
        statuses = {s["email"]: s["status"] for s in gone}
    finally:
        herald.stop()
    return {
        "base_url": BASE_URL,
        "secret": SECRET,
        "admin": {"email": ADMIN[0], "password": ADMIN[1]},
        "editor": {"email": EDITOR[0], "password": EDITOR[1]},
        "api_token": token,
        "statuses": statuses,
        "erased": "erased@example.com",
        "sent_issue": {"id": issue["id"], "subject": "The first digest"},
        "draft_issue": {"id": draft["id"], "subject": "Next week (draft)"},
        "unsubscribe_links": unsubscribe_links,
        "confirmation_links": confirmation_links,
    }


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    binary = str(Path(sys.argv[1]).resolve())
    target = Path(sys.argv[2])
    postgres = sys.argv[3]
    version = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.strip()
    target.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        sqlite = fill(Herald(binary, workdir, f"sqlite://{workdir / 'herald.db'}"))
        shutil.copy(workdir / "herald.db", target / "herald.db")
        for leftover in ["-wal", "-shm"]:
            if (workdir / f"herald.db{leftover}").exists():
                sys.exit("the SQLite file was not checkpointed on stop")

    schema = "herald_upgrade_fixture"
    subprocess.run(["psql", postgres, "-q", "-c", f"DROP SCHEMA IF EXISTS {schema} CASCADE",
                    "-c", f"CREATE SCHEMA {schema}"], check=True)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"{postgres}?options=-c%20search_path%3D{schema}"
        pg = fill(Herald(binary, Path(tmp), url))
    dump = subprocess.run(["pg_dump", "--no-owner", "--no-privileges", "--inserts",
                           f"--schema={schema}", postgres],
                          check=True, capture_output=True, text=True).stdout
    (target / "postgres.sql").write_text(dump)
    subprocess.run(["psql", postgres, "-q", "-c", f"DROP SCHEMA {schema} CASCADE"], check=True)

    manifest = {"release": version, "postgres_schema": schema, "sqlite": sqlite, "postgres": pg}
    (target / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    print(f"wrote {target}: herald.db, postgres.sql, manifest.json ({version})")


if __name__ == "__main__":
    main()
