#!/usr/bin/env python3
"""Checks one mail message (on stdin) the way a strict receiver would.

Parses it with Python's email package under policy=default and prints one
line per problem found, nothing when the message is clean:
  - every defect the parser records, on the message and on each part;
  - any header whose raw value is not 7-bit ASCII;
  - any line over 998 characters (RFC 5322 2.1.1);
  - From, To, Subject, Date, Message-ID and MIME-Version not present exactly once;
  - any header value the parser cannot decode.
Exit status: 0 when clean, 1 when a problem was found.
"""

import email
import email.policy
import sys

REQUIRED_ONCE = ("From", "To", "Subject", "Date", "Message-ID", "MIME-Version")


def problems(data: bytes):
    found = []
    for number, line in enumerate(data.split(b"\n"), start=1):
        length = len(line.rstrip(b"\r"))
        if length > 998:
            found.append(f"line {number} has {length} characters, over 998")
    header_block = data.split(b"\r\n\r\n", 1)[0]
    for number, line in enumerate(header_block.split(b"\r\n"), start=1):
        if any(byte > 127 for byte in line):
            found.append(f"header line {number} is not 7-bit: {line!r}")
    message = email.message_from_bytes(data, policy=email.policy.default)
    for defect in message.defects:
        found.append(f"message defect: {type(defect).__name__}: {defect}")
    for name in REQUIRED_ONCE:
        count = len(message.get_all(name, []))
        if count != 1:
            found.append(f"{name} appears {count} times, not once")
    for name, value in message.items():
        try:
            str(value)
        except Exception as error:  # noqa: BLE001 - report whatever the parser raises
            found.append(f"header {name} cannot be decoded: {error}")
            continue
        for defect in getattr(value, "defects", ()):
            found.append(f"header {name} defect: {type(defect).__name__}: {defect}")
    for index, part in enumerate(message.walk()):
        if index > 0:
            for defect in part.defects:
                found.append(
                    f"part {index} ({part.get_content_type()}) defect: "
                    f"{type(defect).__name__}: {defect}"
                )
        if not part.is_multipart():
            try:
                part.get_content()
            except Exception as error:  # noqa: BLE001
                found.append(f"part {index} ({part.get_content_type()}) cannot be decoded: {error}")
    return found


def main() -> int:
    found = problems(sys.stdin.buffer.read())
    for problem in found:
        print(problem)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
