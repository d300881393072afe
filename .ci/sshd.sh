# shellcheck shell=bash
# Service script for the SFTP integration tests, sourced by .ci/run (also
# usable by hand: bash -c 'export TROVE_CI_DIR=$(mktemp -d); source .ci/sshd.sh; go test ./internal/store/sftp/').
#
# Starts a throwaway OpenSSH server (Debian's openssh-server) on 127.0.0.1 on a
# free port, with a host key and a user key made here, key-only login for the
# current user (root in CI), and the internal-sftp subsystem. It exports:
#
#   TROVE_TEST_SFTP_ADDR         127.0.0.1:PORT
#   TROVE_TEST_SFTP_USER         login name
#   TROVE_TEST_SFTP_KEY          the user's private key (unencrypted, throwaway)
#   TROVE_TEST_SFTP_KNOWN_HOSTS  a known_hosts file holding the server's host key
#   TROVE_TEST_SFTP_DIR          a writable directory on the server side
#
# and writes sshd's PID to $TROVE_CI_DIR/sshd.pid (.ci/run stops it at exit).
# It also installs rclone (Debian package) for internal/store/rclone's tests.
# It never touches /etc/ssh or the machine's own sshd.

trove_sshd_start() {
  local ci_dir=${TROVE_CI_DIR:?TROVE_CI_DIR must be set (by .ci/run)}
  local need=()
  [[ -x /usr/sbin/sshd ]] || need+=(openssh-server)
  command -v ssh-keygen >/dev/null || need+=(openssh-client)
  command -v rclone >/dev/null || need+=(rclone)
  if ((${#need[@]})); then
    echo "sshd.sh: installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
  mkdir -p /run/sshd
  chmod 0755 /run/sshd

  local d="$ci_dir/sshd"
  rm -rf "$d"
  mkdir -p "$d/data"
  chmod 0700 "$d"
  ssh-keygen -q -t ed25519 -N '' -C trove-ci-host -f "$d/host_ed25519"
  ssh-keygen -q -t ed25519 -N '' -C trove-ci-user -f "$d/user_ed25519"
  cp "$d/user_ed25519.pub" "$d/authorized_keys"

  # A free port: ask the kernel for one, then hand it to sshd (a tiny race
  # with other services, retried below).
  local user port pid ok=0 try
  user=$(id -un)
  for try in 1 2 3; do
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null ||
      echo $((20000 + RANDOM % 20000)))
    cat >"$d/sshd_config" <<EOF
ListenAddress 127.0.0.1
Port $port
HostKey $d/host_ed25519
PidFile $d/sshd.pid
AuthorizedKeysFile $d/authorized_keys
AllowUsers $user
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
X11Forwarding no
AllowTcpForwarding no
PrintMotd no
MaxStartups 100:30:200
MaxSessions 50
Subsystem sftp internal-sftp
EOF
    /usr/sbin/sshd -t -f "$d/sshd_config"
    /usr/sbin/sshd -D -e -f "$d/sshd_config" >"$d/sshd.log" 2>&1 &
    pid=$!
    echo "$pid" >"$ci_dir/sshd.pid"
    local i
    for i in $(seq 1 50); do # at most 5 s
      if ! kill -0 "$pid" 2>/dev/null; then break; fi
      if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then ok=1; break; fi
      sleep 0.1
    done
    ((ok)) && break
    kill "$pid" 2>/dev/null || true
    echo "sshd.sh: sshd did not come up on port $port (try $try):"; tail -5 "$d/sshd.log"
  done
  if ((!ok)); then
    echo "sshd.sh: giving up"
    return 1
  fi
  echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$d/host_ed25519.pub")" >"$d/known_hosts"

  export TROVE_TEST_SFTP_ADDR="127.0.0.1:$port"
  export TROVE_TEST_SFTP_USER="$user"
  export TROVE_TEST_SFTP_KEY="$d/user_ed25519"
  export TROVE_TEST_SFTP_KNOWN_HOSTS="$d/known_hosts"
  export TROVE_TEST_SFTP_DIR="$d/data"
  echo "sshd.sh: OpenSSH $(/usr/sbin/sshd -V 2>&1 | head -1) on $TROVE_TEST_SFTP_ADDR (pid $pid), rclone $(rclone version 2>/dev/null | head -1 | awk '{print $2}')"
}

trove_sshd_start
