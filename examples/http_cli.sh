#!/usr/bin/env bash
# The command line against a server. README: "Serving qlambda over HTTP".
# Needs QLAMBDA_URL and QLAMBDA_TOKEN; run from the repository: bash examples/http_cli.sh
set -euo pipefail
qlambda=${QLAMBDA:-qlambda}               # e.g. QLAMBDA=.venv/bin/qlambda
cd "$(dirname "$0")"

$qlambda run work.py:main --arg n=8       # prints the job id (stderr), then the result
$qlambda jobs --limit 5
id=$($qlambda run work.py:slow --no-wait) # only the id
$qlambda logs "${id:0:15}"                # the start of an id is enough when unique
$qlambda cancel "${id:0:15}"
