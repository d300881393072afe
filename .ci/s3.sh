# shellcheck shell=bash
# Service script for the S3 integration tests, sourced by .ci/run (also
# usable by hand: bash -c 'export TROVE_CI_DIR=$(mktemp -d); source .ci/s3.sh; go test ./internal/store/s3/').
#
# Starts Versity's S3 gateway (versitygw, pinned below; built with `go
# install` once and reused from $HOME/go/bin) with its posix backend on a
# fresh directory, on 127.0.0.1 on a free port, with a throwaway root access
# key and secret (passed through the environment, never argv). It exports:
#
#   TROVE_TEST_S3_ENDPOINT   http://127.0.0.1:PORT
#   TROVE_TEST_S3_BUCKET     a bucket that exists (a directory of the backend)
#   TROVE_TEST_S3_DIR        the backend's directory (tests scan it for plaintext)
#   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY   the throwaway credentials
#
# and writes the gateway's PID to $TROVE_CI_DIR/s3.pid (.ci/run stops it).

TROVE_VERSITYGW_VERSION=v1.8.0 # the one place the version is pinned

trove_s3_start() {
  local ci_dir=${TROVE_CI_DIR:?TROVE_CI_DIR must be set (by .ci/run)}
  local gobin bin
  gobin=$(go env GOBIN)
  [[ -n "$gobin" ]] || gobin="$(go env GOPATH | cut -d: -f1)/bin"
  bin="$gobin/versitygw"
  # A cached binary is reused only when it was built from the pinned version.
  if [[ ! -x "$bin" ]] || ! go version -m "$bin" 2>/dev/null | grep -qE "^\s+mod\s+github.com/versity/versitygw\s+$TROVE_VERSITYGW_VERSION(\s|$)"; then
    echo "s3.sh: building versitygw $TROVE_VERSITYGW_VERSION (a few minutes the first time)"
    GOFLAGS= go install "github.com/versity/versitygw/cmd/versitygw@$TROVE_VERSITYGW_VERSION"
  fi

  local d="$ci_dir/s3"
  rm -rf "$d"
  mkdir -p "$d/data/trove-test"
  chmod 0700 "$d"
  local access secret
  access="trove$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
  secret="$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')"

  local port pid ok=0 try i
  for try in 1 2 3; do
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null ||
      echo $((20000 + RANDOM % 20000)))
    ROOT_ACCESS_KEY_ID="$access" ROOT_SECRET_ACCESS_KEY="$secret" \
      "$bin" --port "127.0.0.1:$port" --quiet posix "$d/data" >"$d/versitygw.log" 2>&1 &
    pid=$!
    echo "$pid" >"$ci_dir/s3.pid"
    for i in $(seq 1 100); do # at most 10 s
      if ! kill -0 "$pid" 2>/dev/null; then break; fi
      # Any HTTP answer (403 for an unsigned request) means it is up; without
      # curl, an accepted connection does.
      if command -v curl >/dev/null; then
        if curl -s -o /dev/null -m 1 "http://127.0.0.1:$port/"; then ok=1; break; fi
      elif (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then ok=1; break; fi
      sleep 0.1
    done
    ((ok)) && break
    kill "$pid" 2>/dev/null || true
    echo "s3.sh: versitygw did not come up on port $port (try $try):"; tail -5 "$d/versitygw.log"
  done
  if ((!ok)); then
    echo "s3.sh: giving up"
    return 1
  fi
  export TROVE_TEST_S3_ENDPOINT="http://127.0.0.1:$port"
  export TROVE_TEST_S3_BUCKET=trove-test
  export TROVE_TEST_S3_DIR="$d/data"
  export AWS_ACCESS_KEY_ID="$access"
  export AWS_SECRET_ACCESS_KEY="$secret"
  echo "s3.sh: versitygw $TROVE_VERSITYGW_VERSION on $TROVE_TEST_S3_ENDPOINT (pid $pid), bucket $TROVE_TEST_S3_BUCKET in $TROVE_TEST_S3_DIR"
}

trove_s3_start
