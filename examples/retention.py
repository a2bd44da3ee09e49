"""Keep ended jobs for a while, then let them go: a retention policy, embedded.

README: "Retention". Run: python examples/retention.py
(On a server, the same table goes in its TOML as [retention]; `qlambda serve` has a
default policy, the embedded platform keeps everything unless given one.)
"""

import time

import qlambda


def square(x):
    print(f"squaring {x}")  # goes to the job's log
    return x * x


retention = {
    "interval": "1s",  # how often the platform applies it (a server: every 10 minutes)
    "DONE": {"output_max_age": "2s", "max_age": "7d"},  # results and logs go first
    "ERROR": {"max_age": "30d"},
}
client = qlambda.Client(retention=retention)
job = client.run(square, x=7)
print("result:", job.result(timeout=120), "| log:", job.logs().strip())
deadline = time.monotonic() + 60
while job.info().output_deleted_at is None and time.monotonic() < deadline:
    time.sleep(0.5)
try:
    job.result()
except qlambda.ResultDeletedError as exc:
    print("a few seconds later:", exc)
print("still listed:", job.status().value, "| log now:", repr(job.logs()))
client.close()
