# shellcheck shell=bash
# Service script for the alert (email) integration tests, sourced by .ci/run
# (also usable by hand:
#   bash -c 'export TROVE_CI_DIR=$(mktemp -d); source .ci/mailpit.sh; go test ./internal/alert/').
#
# Starts mailpit (a real SMTP server with an HTTP API, github.com/axllent/mailpit)
# on 127.0.0.1 with free ports, STARTTLS required (a throwaway self-signed
# certificate made here) and SMTP AUTH from a password file made here. It
# exports:
#
#   TROVE_TEST_SMTP_ADDR      127.0.0.1:PORT of the SMTP server
#   TROVE_TEST_MAILPIT_API    http://127.0.0.1:PORT (GET /api/v1/messages …)
#   TROVE_TEST_SMTP_CA        PEM certificate of the server, to trust in tests
#   TROVE_TEST_SMTP_USER      SMTP login accepted by the server
#   TROVE_TEST_SMTP_PASSWORD  its password (throwaway)
#
# and writes mailpit's PID to $TROVE_CI_DIR/mailpit.pid (.ci/run stops it at
# exit). The mailpit binary is reused from $HOME/go/bin (or GOBIN) when present,
# otherwise installed with `go install github.com/axllent/mailpit@v1.33.1`.

trove_mailpit_start() {
  local ci_dir=${TROVE_CI_DIR:?TROVE_CI_DIR must be set (by .ci/run)}
  local version=v1.33.1
  local gobin
  gobin=$(go env GOBIN)
  [[ -n "$gobin" ]] || gobin="$(go env GOPATH | cut -d: -f1)/bin"
  local bin=""
  if [[ -x "$gobin/mailpit" ]]; then
    bin="$gobin/mailpit"
  elif [[ -x "$HOME/go/bin/mailpit" ]]; then
    bin="$HOME/go/bin/mailpit"
  else
    echo "mailpit.sh: installing github.com/axllent/mailpit@$version"
    # Outside the module: GOFLAGS of the project must not apply here.
    (cd / && GOFLAGS= go install "github.com/axllent/mailpit@$version") || return 1
    bin="$gobin/mailpit"
  fi
  command -v openssl >/dev/null || {
    echo "mailpit.sh: installing openssl"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssl >/dev/null
  }

  local d="$ci_dir/mailpit"
  rm -rf "$d"
  mkdir -p "$d"
  chmod 0700 "$d"
  # Throwaway self-signed certificate for 127.0.0.1 / localhost (STARTTLS).
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=trove-ci-mailpit" \
    -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
    -keyout "$d/key.pem" -out "$d/cert.pem" >/dev/null 2>&1 || {
    echo "mailpit.sh: openssl could not make a certificate"
    return 1
  }
  local user=trove-ci password
  password=$(openssl rand -hex 16)
  printf '%s:%s\n' "$user" "$password" >"$d/smtp-auth"
  chmod 0600 "$d/smtp-auth"

  local smtp_port http_port pid ok=0 try i
  for try in 1 2 3; do
    # Free ports from the kernel (a tiny race with other services, retried).
    smtp_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null ||
      echo $((20000 + RANDOM % 20000)))
    http_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null ||
      echo $((20000 + RANDOM % 20000)))
    [[ "$smtp_port" != "$http_port" ]] || continue
    "$bin" --smtp "127.0.0.1:$smtp_port" --listen "127.0.0.1:$http_port" \
      --database "$d/mailpit.db" \
      --smtp-tls-cert "$d/cert.pem" --smtp-tls-key "$d/key.pem" --smtp-require-starttls \
      --smtp-auth-file "$d/smtp-auth" --smtp-disable-rdns \
      >"$d/mailpit.log" 2>&1 &
    pid=$!
    echo "$pid" >"$ci_dir/mailpit.pid"
    for i in $(seq 1 100); do # at most 10 s
      if ! kill -0 "$pid" 2>/dev/null; then break; fi
      if (exec 3<>"/dev/tcp/127.0.0.1/$smtp_port") 2>/dev/null &&
        curl -fsS -m 2 "http://127.0.0.1:$http_port/api/v1/messages" >/dev/null 2>&1; then
        ok=1
        break
      fi
      sleep 0.1
    done
    ((ok)) && break
    kill "$pid" 2>/dev/null || true
    echo "mailpit.sh: mailpit did not come up on ports $smtp_port/$http_port (try $try):"
    tail -5 "$d/mailpit.log"
  done
  if ((!ok)); then
    echo "mailpit.sh: giving up"
    return 1
  fi

  export TROVE_TEST_SMTP_ADDR="127.0.0.1:$smtp_port"
  export TROVE_TEST_MAILPIT_API="http://127.0.0.1:$http_port"
  export TROVE_TEST_SMTP_CA="$d/cert.pem"
  export TROVE_TEST_SMTP_USER="$user"
  export TROVE_TEST_SMTP_PASSWORD="$password"
  echo "mailpit.sh: mailpit ($bin) SMTP $TROVE_TEST_SMTP_ADDR (STARTTLS, auth), API $TROVE_TEST_MAILPIT_API (pid $pid)"
}

trove_mailpit_start
