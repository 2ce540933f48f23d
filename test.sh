#!/usr/bin/env bash
# The whole test run, as on CI: installs the libzmq peer the interop tests
# need (Debian's python3-zmq, into Debian's own /usr/bin/python3) and
# Debian's chromium for zprof's page, starts a one-node SLURM cluster for
# gridsearch -slurm (internal/slurmtest/setup.sh; as root, the first time),
# then vet, a gofmt check, and every test under the race detector.
set -euo pipefail
cd "$(dirname "$0")"

missing=()
/usr/bin/python3 -c 'import zmq' 2>/dev/null || missing+=(python3-zmq)
command -v chromium >/dev/null || missing+=(chromium) # zprof's page, loaded headless
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# A one-node SLURM cluster (Debian's slurm-wlm and munge) for gridsearch
# -slurm's tests; left alone when one answers already.
internal/slurmtest/setup.sh

echo '== go vet'
go vet ./...
echo '== gofmt'
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi
echo '== go test -race'
# Interop tests must run here: a missing libzmq peer is a failure, not a skip.
ZMQFLOW_REQUIRE_INTEROP=1 go test -race -count=1 -timeout 12m ./...
