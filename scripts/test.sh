#!/usr/bin/env bash
# `npm test`: install what is missing, type-check, build, run every test file.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npx tsc -p tsconfig.json --noEmit
# The CA bundle costs ~50 ms per Node process and tests spawn many; nothing here needs TLS.
unset NODE_EXTRA_CA_CERTS
files=$(find dist-test -name '*.test.js' | sort)
exec node --test --test-concurrency=2 --test-timeout=300000 $files
