"""An MLLP peer Wardbook did not write, for server/tests/hl7_peer.rs.

python-hl7 (PyPI `hl7`, installed by `scripts/install-deps.sh
--with-api-tools` into target/api-tools/venv) sends each message with its
own MLLP client (`hl7.client.MLLPClient`) over one connection, as an
interface engine does, and reads each ACK with its own parser (`hl7.parse`).

Reads JSON on stdin: {"host": str, "port": int, "messages": [{"name": str,
"text": str}]}. Prints JSON on stdout: one object per message with its own
reading of the ACK: msa_1, msa_2, err_2 (the whole field, "" when there is
no ERR segment), err_3_1, and the ACK's text. Any failure exits non-zero
with a traceback. Synthetic data only: it sends what the test gives it.
"""

import json
import sys

import hl7
from hl7.client import MLLPClient

END = b"\x1c\x0d"
FRAMING = b"\x0b\x1c\x0d"


def read_ack(client, first):
    """The whole framed ACK: MLLPClient returns one recv(), which may be part of it."""
    received = first
    while not received.endswith(END):
        more = client.socket.recv(4096)
        if not more:
            raise SystemExit("the listener closed the connection before a whole ACK: %r" % received)
        received += more
    return received.strip(FRAMING).decode("utf-8")


def view(text):
    ack = hl7.parse(text)
    msa = ack.segment("MSA")
    out = {
        "msa_1": str(msa[1]),
        "msa_2": str(msa[2]),
        "err_2": "",
        "err_3_1": "",
        "ack": text,
    }
    try:
        ack.segment("ERR")
    except KeyError:
        return out
    out["err_2"] = str(ack.segment("ERR")[2])
    out["err_3_1"] = str(ack.extract_field("ERR", 1, 3, 1, 1))
    return out


def main():
    job = json.load(sys.stdin)
    results = []
    with MLLPClient(job["host"], job["port"], encoding="utf-8") as client:
        client.socket.settimeout(30)
        for message in job["messages"]:
            first = client.send_message(message["text"])
            result = view(read_ack(client, first))
            result["name"] = message["name"]
            results.append(result)
    json.dump({"hl7_version": hl7.__version__, "acks": results}, sys.stdout)


if __name__ == "__main__":
    main()
