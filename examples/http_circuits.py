"""Circuits from any language: OpenQASM programs POSTed to /circuits, run as one job.

README: "Serving qlambda over HTTP" (the same request as its curl example).
Run against a server: QLAMBDA_URL=... QLAMBDA_TOKEN=... python examples/http_circuits.py
"""

import os

import httpx

BELL = 'OPENQASM 3.0; include "stdgates.inc"; qubit[2] q; h q[0]; cx q[0], q[1];'

headers = {"Authorization": f"Bearer {os.environ['QLAMBDA_TOKEN']}"}
with httpx.Client(base_url=os.environ["QLAMBDA_URL"], headers=headers, timeout=60) as http:
    body = {"primitive": "estimator", "circuits": [BELL], "observables": ["ZZ"], "priority": 2}
    job = http.post("/circuits", json=body)
    job.raise_for_status()
    job_id = job.json()["id"]
    print("job", job_id, job.json()["status"])
    answer = http.get(f"/jobs/{job_id}/result", params={"wait": 50}).json()  # blocks
    print("result:", answer["status"], answer["value"])
    bad = http.post("/circuits", json={**body, "circuits": ["OPENQASM 3.0; qubit q; hh q;"]})
    print("a program that does not parse:", bad.status_code, bad.json()["detail"][:60])
