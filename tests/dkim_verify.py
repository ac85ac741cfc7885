#!/usr/bin/env python3
"""Verifies every DKIM-Signature of the message on stdin with dkimpy, each on
its own, against the TXT records given as arguments (SELECTOR=RECORD, all
under the domain of the signature), not against DNS.

Prints one line per signature, `SELECTOR ok` or `SELECTOR fail`; exit 3 when
dkimpy cannot be imported (the caller says the test did not run)."""

import sys

try:
    import dkim
    import nacl  # noqa: F401  (dkimpy needs it for ed25519)
except ImportError as error:
    print(f"cannot import dkimpy/pynacl: {error}", file=sys.stderr)
    sys.exit(3)

records = dict(arg.split("=", 1) for arg in sys.argv[1:])


def dnsfunc(name, timeout=5):
    name = name.decode() if isinstance(name, bytes) else name
    selector = name.split("._domainkey.", 1)[0]
    record = records.get(selector)
    return record.encode() if record is not None else None


message = sys.stdin.buffer.read()
verifier = dkim.DKIM(message)
count = sum(
    1 for line in message.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    if line.lower().startswith(b"dkim-signature:")
)
if count == 0:
    print("no DKIM-Signature", file=sys.stderr)
    sys.exit(1)
for index in range(count):
    try:
        ok = verifier.verify(idx=index, dnsfunc=dnsfunc)
        why = "" if ok else " signature does not verify"
    except dkim.DKIMException as error:
        # A body hash mismatch is raised, not returned.
        ok, why = False, f" {error}"
    selector = verifier.signature_fields.get(b"s", b"?").decode()
    print(f"{selector} {'ok' if ok else 'fail'}{why}")
