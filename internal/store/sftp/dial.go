package sftp

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/trove-backup/trove/internal/store"
)

var (
	// ErrUnknownHost: the server's host key is not in known_hosts yet.
	ErrUnknownHost = errors.New("the server's host key is not known yet")
	// ErrHostKeyChanged: the server presented a host key different from the
	// one in known_hosts — possibly someone intercepting the connection.
	ErrHostKeyChanged = errors.New("THE SERVER'S HOST KEY HAS CHANGED")
	// ErrAuth: the server refused every key offered.
	ErrAuth = errors.New("the server refused the login")
)

var (
	errEOF           = io.EOF
	errUnexpectedEOF = io.ErrUnexpectedEOF
)

// dial connects, checks the host key and logs in, all within cfg.Timeout
// and ctx.
func dial(ctx context.Context, cfg Config) (*ssh.Client, error) {
	addr := cfg.addr()
	hostKey, algos, err := hostKeyCheck(cfg)
	if err != nil {
		return nil, err
	}
	auth, closeAgent, err := authMethods(cfg)
	if err != nil {
		return nil, err
	}
	defer closeAgent()
	cc := &ssh.ClientConfig{
		User:              cfg.User,
		Auth:              auth,
		HostKeyCallback:   hostKey,
		HostKeyAlgorithms: algos,
		Timeout:           cfg.Timeout,
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w: %w", cfg.URL(), store.ErrNotAttached, err)
	}
	// The handshake honours only the connection's deadline; make ctx
	// cancel it too.
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)
	stopWatch := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	c, chans, reqs, err := ssh.NewClientConn(conn, addr, cc)
	stopWatch()
	if err != nil {
		conn.Close()
		return nil, handshakeError(cfg, err)
	}
	conn.SetDeadline(time.Time{})
	return ssh.NewClient(c, chans, reqs), nil
}

// hostKeyError carries a host key verdict through the ssh handshake.
type hostKeyError struct{ err error }

func (e *hostKeyError) Error() string { return e.err.Error() }
func (e *hostKeyError) Unwrap() error { return e.err }

func handshakeError(cfg Config, err error) error {
	var hk *hostKeyError
	if errors.As(err, &hk) {
		return hk.err
	}
	if strings.Contains(err.Error(), "unable to authenticate") {
		return fmt.Errorf("log in to %s as %s: %w (is the public key in the server's authorized_keys? is the agent holding the key?)", cfg.URL(), cfg.User, ErrAuth)
	}
	return fmt.Errorf("connect to %s: SSH handshake: %w: %w", cfg.URL(), store.ErrNotAttached, err)
}

// hostKeyCheck builds the known_hosts check, and the host key algorithms to
// ask for: those of the keys already known for the host, so that a server
// with several host keys is not mistaken for a changed one.
func hostKeyCheck(cfg Config) (ssh.HostKeyCallback, []string, error) {
	files := cfg.KnownHosts
	if files == nil {
		files = defaultKnownHosts()
	}
	var existing []string
	for _, f := range files {
		if _, err := os.Stat(f); err == nil {
			existing = append(existing, f)
		}
	}
	lookup := cfg.addr()
	if cfg.HostKeyAlias != "" {
		lookup = cfg.HostKeyAlias
	}
	line := knownhosts.Normalize(lookup)
	unknown := func(key ssh.PublicKey) error {
		return &hostKeyError{fmt.Errorf("connect to %s: %w (%s key %s). Check the fingerprint with the NAS's owner, then connect once with `ssh -p %d %s@%s` and accept it, or add the server's key to %s: %w",
			cfg.URL(), ErrUnknownHost, key.Type(), ssh.FingerprintSHA256(key), portOr22(cfg.Port), cfg.User, cfg.Host, strings.Join(files, ", "), store.ErrNotAttached)}
	}
	if len(existing) == 0 {
		return func(_ string, _ net.Addr, key ssh.PublicKey) error { return unknown(key) }, nil, nil
	}
	cb, err := knownhosts.New(existing...)
	if err != nil {
		return nil, nil, fmt.Errorf("read known hosts %s: %w", strings.Join(existing, ", "), err)
	}
	check := func(_ string, remote net.Addr, key ssh.PublicKey) error {
		err := cb(lookup, remote, key)
		var ke *knownhosts.KeyError
		var re *knownhosts.RevokedError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &re):
			return &hostKeyError{fmt.Errorf("connect to %s: the server's host key %s is marked @revoked in known_hosts: refusing to connect", cfg.URL(), ssh.FingerprintSHA256(key))}
		case errors.As(err, &ke) && len(ke.Want) == 0:
			return unknown(key)
		case errors.As(err, &ke):
			var where []string
			for _, w := range ke.Want {
				where = append(where, fmt.Sprintf("%s:%d", w.Filename, w.Line))
			}
			return &hostKeyError{fmt.Errorf("connect to %s: %w! The server presented %s key %s, but known_hosts (%s) records a different key for %s. "+
				"Someone may be intercepting the connection, or the NAS was reinstalled. Trove stops here. If the change is expected, "+
				"verify the new fingerprint with the NAS's owner, remove the old line (ssh-keygen -R '%s') and connect once with ssh",
				cfg.URL(), ErrHostKeyChanged, key.Type(), ssh.FingerprintSHA256(key), strings.Join(where, ", "), line, line)}
		default:
			return &hostKeyError{fmt.Errorf("connect to %s: check host key: %w", cfg.URL(), err)}
		}
	}
	// Learn which key types are known for the host: the check with a key
	// that cannot match lists them.
	var algos []string
	if err := cb(lookup, &net.TCPAddr{IP: net.IPv4zero}, probeKey{}); err != nil {
		var ke *knownhosts.KeyError
		if errors.As(err, &ke) {
			for _, w := range ke.Want {
				for _, a := range algorithmsFor(w.Key.Type()) {
					if !slices.Contains(algos, a) {
						algos = append(algos, a)
					}
				}
			}
		}
	}
	return check, algos, nil
}

func portOr22(p int) int {
	if p == 0 {
		return 22
	}
	return p
}

func algorithmsFor(keyType string) []string {
	if keyType == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	return []string{keyType}
}

// probeKey is a public key that matches nothing.
type probeKey struct{}

func (probeKey) Type() string                        { return "trove-probe" }
func (probeKey) Marshal() []byte                     { return []byte("trove-probe") }
func (probeKey) Verify([]byte, *ssh.Signature) error { return errors.New("probe key") }

// authMethods offers the agent's keys and/or the key file (or the default
// keys). The returned func closes the agent connection.
func authMethods(cfg Config) ([]ssh.AuthMethod, func(), error) {
	var methods []ssh.AuthMethod
	closer := func() {}
	if !cfg.NoAgent {
		sock := cfg.AgentSocket
		if sock == "" {
			sock = os.Getenv("SSH_AUTH_SOCK")
		}
		if sock != "" {
			if conn, err := net.DialTimeout("unix", sock, 5*time.Second); err == nil {
				ag := agent.NewClient(conn)
				methods = append(methods, ssh.PublicKeysCallback(ag.Signers))
				closer = func() { conn.Close() }
			}
			// An agent that is configured but not running is not an
			// error: the key file (if any) is still tried.
		}
	}
	files := []string{cfg.KeyFile}
	explicit := cfg.KeyFile != ""
	if !explicit {
		files = nil
		if len(methods) == 0 {
			if h := homeDir(); h != "" {
				for _, n := range []string{"id_ed25519", "id_ecdsa", "id_rsa"} {
					files = append(files, h+"/.ssh/"+n)
				}
			}
		}
	}
	var signers []ssh.Signer
	for _, f := range files {
		s, err := loadKey(f, cfg.Passphrase)
		if err != nil {
			if !explicit && errors.Is(err, os.ErrNotExist) {
				continue
			}
			closer()
			return nil, nil, err
		}
		signers = append(signers, s)
	}
	if len(signers) > 0 {
		methods = append(methods, ssh.PublicKeys(signers...))
	}
	if len(methods) == 0 {
		closer()
		return nil, nil, fmt.Errorf("log in to %s: no SSH key: start an SSH agent holding your key, or configure a key file: %w", cfg.URL(), ErrAuth)
	}
	return methods, closer, nil
}

// loadKey reads a private key, asking for the passphrase only when the key
// is encrypted. Errors never include the passphrase.
func loadKey(file string, passphrase func() ([]byte, error)) (ssh.Signer, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read SSH key: %w", err)
	}
	s, err := ssh.ParsePrivateKey(b)
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) {
		if passphrase == nil {
			return nil, fmt.Errorf("SSH key %s is encrypted and no passphrase can be asked for (load it into ssh-agent instead)", file)
		}
		pw, perr := passphrase()
		if perr != nil {
			return nil, fmt.Errorf("passphrase for SSH key %s: %w", file, perr)
		}
		s, err = ssh.ParsePrivateKeyWithPassphrase(b, pw)
		clear(pw)
		if errors.Is(err, x509.IncorrectPasswordError) {
			return nil, fmt.Errorf("SSH key %s: wrong passphrase", file)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("SSH key %s: %w", file, err)
	}
	return s, nil
}
