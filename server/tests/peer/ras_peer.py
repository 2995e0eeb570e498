"""An MLLP receiver Wardbook did not write, for server/tests/hl7_ras.rs.

python-hl7 (PyPI `hl7`, installed by `scripts/install-deps.sh
--with-api-tools` into target/api-tools/venv) listens with its own asyncio
MLLP server (`hl7.mllp.start_hl7_server`), reads each message with its own
parser and answers it with its own ACK (`Message.create_ack`), as an EHR's
interface engine would.

Reads one line of JSON on stdin: {"port": int (0 for any), "ack_code": "AA"}.
Prints {"listening": port} once it listens, then serves until stdin is
closed, then prints {"hl7_version": str, "received": [...]}: for each
message, in order, its MSH-9, MSH-10, PID-3, ORC-1, ORC-2, RXA-1 to RXA-22
and RXR-1 as python-hl7 reads them. Synthetic data only: it records what
the test's service sends it.
"""

import asyncio
import json
import sys

import hl7
from hl7.mllp import start_hl7_server

RECEIVED = []


def field(message, segment, n):
    try:
        return str(message.segment(segment)[n])
    except (KeyError, IndexError):
        return ""


def reading(message):
    rxa = {}
    for n in range(1, 23):
        rxa[str(n)] = field(message, "RXA", n)
    return {
        "msh_9": field(message, "MSH", 9),
        "msh_10": field(message, "MSH", 10),
        "pid_3": field(message, "PID", 3),
        "orc_1": field(message, "ORC", 1),
        "orc_2": field(message, "ORC", 2),
        "rxa": rxa,
        "rxr_1": field(message, "RXR", 1),
    }


def serve(ack_code):
    async def handle(reader, writer):
        try:
            while not writer.is_closing():
                message = await reader.readmessage()
                RECEIVED.append(reading(message))
                writer.writemessage(message.create_ack(ack_code))
                await writer.drain()
        except asyncio.IncompleteReadError:
            pass
        finally:
            writer.close()

    return handle


async def main():
    job = json.loads(sys.stdin.readline())
    server = await start_hl7_server(serve(job["ack_code"]), "127.0.0.1", job["port"], encoding="utf-8")
    port = server.sockets[0].getsockname()[1]
    print(json.dumps({"listening": port}), flush=True)
    # Serve until the test closes stdin.
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    server.close()
    print(json.dumps({"hl7_version": hl7.__version__, "received": RECEIVED}), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
