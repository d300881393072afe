package sftp

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/trove-backup/trove/internal/testenv"
)

// envConfig returns a Config for the OpenSSH server started by .ci/sshd.sh,
// or skips (fails under TROVE_TEST_STRICT=1) when it is not running.
func envConfig(t testing.TB) (Config, string) {
	t.Helper()
	vars := map[string]string{}
	for _, k := range []string{"ADDR", "USER", "KEY", "KNOWN_HOSTS", "DIR"} {
		v := os.Getenv("TROVE_TEST_SFTP_" + k)
		if v == "" {
			testenv.Skip(t, "TROVE_TEST_SFTP_%s not set: start the test server with `source .ci/sshd.sh` (needs Debian's openssh-server)", k)
		}
		vars[k] = v
	}
	host, port, err := net.SplitHostPort(vars["ADDR"])
	if err != nil {
		t.Fatalf("TROVE_TEST_SFTP_ADDR: %v", err)
	}
	p, _ := strconv.Atoi(port)
	return Config{
		User: vars["USER"], Host: host, Port: p,
		KeyFile: vars["KEY"], NoAgent: true,
		KnownHosts: []string{vars["KNOWN_HOSTS"]},
		Timeout:    10 * time.Second,
	}, vars["DIR"]
}

// sshServer is an sshd of the test's own, for host key tests.
type sshServer struct {
	sshd, dir string
	port      int
	userKey   ssh.Signer
	authKeys  []ssh.PublicKey
	cmd       *exec.Cmd
	done      chan struct{}
	extra     string // more sshd_config lines (e.g. ForceCommand internal-sftp)
}

// newSSHServer prepares (but does not start) an sshd on a free loopback
// port, with a fresh user key authorised.
func newSSHServer(t *testing.T, extraKeys ...ssh.PublicKey) *sshServer {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Skip(t, "a private sshd needs root (CI runs as root)")
	}
	sshd := testenv.RequireCommand(t, "sshd")
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	s := &sshServer{sshd: sshd, dir: t.TempDir(), port: freePort(t), userKey: signer}
	s.authKeys = append([]ssh.PublicKey{signer.PublicKey()}, extraKeys...)
	var auth []byte
	for _, k := range s.authKeys {
		auth = append(auth, ssh.MarshalAuthorizedKey(k)...)
	}
	writeFile(t, filepath.Join(s.dir, "authorized_keys"), auth)
	writeKey(t, filepath.Join(s.dir, "user_key"), priv, "")
	t.Cleanup(s.stop)
	return s
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func writeFile(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// writeKey writes an OpenSSH private key (encrypted when pass != "").
func writeKey(t *testing.T, p string, priv ed25519.PrivateKey, pass string) {
	t.Helper()
	var blk *pem.Block
	var err error
	if pass == "" {
		blk, err = ssh.MarshalPrivateKey(priv, "")
	} else {
		blk, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "", []byte(pass))
	}
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, p, pem.EncodeToMemory(blk))
}

// start runs sshd with a new host key and returns that key's public half.
func (s *sshServer) start(t *testing.T) ssh.PublicKey {
	t.Helper()
	_, hostPriv, _ := ed25519.GenerateKey(rand.Reader)
	hostKey := filepath.Join(s.dir, fmt.Sprintf("host_%d", time.Now().UnixNano()))
	writeKey(t, hostKey, hostPriv, "")
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`ListenAddress 127.0.0.1
Port %d
HostKey %s
PidFile %s/sshd.pid
AuthorizedKeysFile %s/authorized_keys
AllowUsers %s
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
Subsystem sftp internal-sftp
%s`, s.port, hostKey, s.dir, s.dir, u.Username, s.extra)
	writeFile(t, filepath.Join(s.dir, "sshd_config"), []byte(conf))
	s.cmd = exec.Command(s.sshd, "-D", "-e", "-f", filepath.Join(s.dir, "sshd_config"))
	logf, err := os.Create(filepath.Join(s.dir, "sshd.log"))
	if err != nil {
		t.Fatal(err)
	}
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start sshd: %v", err)
	}
	s.done = make(chan struct{})
	go func(c *exec.Cmd, done chan struct{}) { c.Wait(); logf.Close(); close(done) }(s.cmd, s.done)
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.addr(), 200*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-s.done:
			log, _ := os.ReadFile(filepath.Join(s.dir, "sshd.log"))
			t.Fatalf("sshd exited: %s", log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("sshd did not answer on %s within 5s", s.addr())
		}
		time.Sleep(50 * time.Millisecond)
	}
	pub, err := ssh.NewPublicKey(hostPriv.Public())
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

func (s *sshServer) stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
	}
	s.cmd = nil
}

func (s *sshServer) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// config returns a Config logging in with the server's user key and the
// given known_hosts file.
func (s *sshServer) config(t *testing.T, knownHosts, dir string) Config {
	u, _ := user.Current()
	return Config{
		User: u.Username, Host: "127.0.0.1", Port: s.port, Path: dir,
		KeyFile: filepath.Join(s.dir, "user_key"), NoAgent: true,
		KnownHosts: []string{knownHosts}, Timeout: 10 * time.Second,
	}
}

// cutProxy forwards TCP connections to an upstream address and, once armed,
// cuts every connection after a number of client→server bytes.
type cutProxy struct {
	l        net.Listener
	upstream string
	sent     atomic.Int64
	limit    atomic.Int64 // 0 = not armed
	stalled  atomic.Bool  // drop everything in both directions (a hung server)
	mu       sync.Mutex
	conns    []net.Conn
}

func newCutProxy(t *testing.T, upstream string) *cutProxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{l: l, upstream: upstream}
	go p.serve()
	t.Cleanup(p.close)
	return p
}

func (p *cutProxy) addr() string { return p.l.Addr().String() }

// cutAfter arms the proxy: n more client→server bytes, then both sides
// are closed.
func (p *cutProxy) cutAfter(n int64) { p.limit.Store(p.sent.Load() + n) }

func (p *cutProxy) serve() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		u, err := net.DialTimeout("tcp", p.upstream, 5*time.Second)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, u)
		p.mu.Unlock()
		go p.pipe(c, u)
		go func() {
			buf := make([]byte, 16<<10)
			for {
				n, err := c.Read(buf)
				if n > 0 && p.stalled.Load() {
					continue
				}
				if n > 0 {
					total := p.sent.Add(int64(n))
					if l := p.limit.Load(); l > 0 && total >= l {
						c.Close()
						u.Close()
						return
					}
					if _, werr := u.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					u.Close()
					return
				}
			}
		}()
	}
}

// pipe copies server→client bytes, dropping them while stalled.
func (p *cutProxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 16<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.stalled.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			dst.Close()
			return
		}
	}
}

func (p *cutProxy) close() {
	p.l.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
}
