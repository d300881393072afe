package sftp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/trove-backup/trove/internal/digest"
	"github.com/trove-backup/trove/internal/store"
)

var _ store.RemoteHasher = (*Store)(nil)

// hashTool is what RemoteSum runs on the server, learnt on first use and
// kept for the connection.
type hashTool int

const (
	toolUnknown   hashTool = iota // not tried yet: sha256sum, then shasum
	toolSha256sum                 // GNU coreutils, BusyBox
	toolShasum                    // Perl's shasum (macOS, some NAS)
	toolNone                      // no shell or no tool: fail fast
)

// hashMarker is echoed before the hash command: output without it comes
// from something other than a shell running our command (an sftp-only
// login, nologin, a restricted shell).
const hashMarker = "trove-remote-sha256-v1"

// The hash programs (variables so that a test can make them missing).
var (
	sha256sumCmd = "sha256sum"
	shasumCmd    = "shasum -a 256"
)

// maxHashSessions bounds the exec sessions RemoteSum opens at once (an
// OpenSSH server allows 10 per connection by default; SFTP uses one).
const maxHashSessions = 4

// shellQuote quotes s for a POSIX shell: within single quotes, each
// quote in s becomes close-quote, backslash-quote, open-quote.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// hashCommand is the command line for one file. It holds the file's path
// on the server and nothing else: no secret ever goes into it.
func hashCommand(tool hashTool, absPath string) string {
	prog := sha256sumCmd
	if tool == toolShasum {
		prog = shasumCmd
	}
	return "echo " + hashMarker + "; " + prog + " -- " + shellQuote(absPath)
}

func (t hashTool) String() string {
	if t == toolShasum {
		return "shasum"
	}
	return "sha256sum"
}

// RemoteSum has the server hash the object: it runs sha256sum (or, when
// that is missing, shasum -a 256) on the file in an SSH exec session on
// the Store's connection, so that the server re-reads the file from its
// disk (or its page cache) and only the hash crosses the network. The
// size comes from a Stat before the hash and is checked again after it:
// a file that changed meanwhile is an error.
//
// It needs a login that runs commands through a POSIX shell (sh, bash,
// dash, zsh, BusyBox ash). When the login runs no commands (an sftp-only
// account: ForceCommand internal-sftp, nologin, a restricted shell) or
// neither tool exists, it returns an error wrapping errors.ErrUnsupported,
// and so does every later call on this connection without asking the
// server again. A missing object (or a non-regular file) wraps
// store.ErrNotExist; a lost connection store.ErrNotAttached; a tool that
// fails on the file (a read error on the server's disk) is a plain error.
func (s *Store) RemoteSum(ctx context.Context, name string) (digest.Sum, int64, error) {
	if err := s.begin(ctx, name); err != nil {
		return digest.Sum{}, 0, err
	}
	s.mu.Lock()
	tool, why := s.hashTool, s.hashWhy
	s.mu.Unlock()
	if tool == toolNone {
		return digest.Sum{}, 0, fmt.Errorf("hash %s on %s: %s: %w", name, s.label(), why, errors.ErrUnsupported)
	}
	before, err := s.statRegular(name)
	if err != nil {
		return digest.Sum{}, 0, err
	}
	if tool == toolUnknown {
		tool = toolSha256sum
	}
	for {
		sum, err := s.hashWith(ctx, tool, name)
		var missing toolMissing
		switch {
		case errors.As(err, &missing) && tool == toolSha256sum:
			tool = toolShasum
			continue
		case errors.As(err, &missing):
			return digest.Sum{}, 0, s.noHashing(name, "neither sha256sum nor shasum is installed on the server")
		case errors.As(err, new(noShell)):
			return digest.Sum{}, 0, s.noHashing(name, err.Error())
		case err != nil:
			if _, serr := s.statRegular(name); errors.Is(serr, store.ErrNotExist) {
				return digest.Sum{}, 0, serr
			}
			return digest.Sum{}, 0, err
		}
		s.mu.Lock()
		s.hashTool = tool
		s.mu.Unlock()
		after, err := s.statRegular(name)
		if err != nil {
			return digest.Sum{}, 0, err
		}
		if after.Size != before.Size || !after.ModTime.Equal(before.ModTime) {
			return digest.Sum{}, 0, fmt.Errorf("hash %s on %s: the file changed while the server hashed it (%d bytes, then %d)", name, s.label(), before.Size, after.Size)
		}
		return sum, after.Size, nil
	}
}

// noHashing remembers that this connection cannot hash on the server.
func (s *Store) noHashing(name, why string) error {
	s.mu.Lock()
	s.hashTool, s.hashWhy = toolNone, why
	s.mu.Unlock()
	return fmt.Errorf("hash %s on %s: %s: %w", name, s.label(), why, errors.ErrUnsupported)
}

// toolMissing: the shell ran but did not find the program (exit 127).
type toolMissing struct{}

func (toolMissing) Error() string { return "command not found" }

// noShell: the login does not run our command through a shell.
type noShell struct{ why string }

func (e noShell) Error() string { return e.why }

// limitedBuffer keeps the first max bytes written to it.
type limitedBuffer struct {
	bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// hashWith runs one tool on name in an exec session.
func (s *Store) hashWith(ctx context.Context, tool hashTool, name string) (digest.Sum, error) {
	select {
	case s.hashSem <- struct{}{}:
		defer func() { <-s.hashSem }()
	case <-ctx.Done():
		return digest.Sum{}, ctx.Err()
	}
	sess, err := s.ssh.NewSession()
	if err != nil {
		if s.isGone() || connLost(err) {
			return digest.Sum{}, s.classify("hash "+name, err)
		}
		return digest.Sum{}, noShell{fmt.Sprintf("the server opens no command session for this login (%v)", err)}
	}
	defer sess.Close()
	stdout := &limitedBuffer{max: 64 << 10}
	stderr := &limitedBuffer{max: 4 << 10}
	sess.Stdout, sess.Stderr = stdout, stderr // Stdin nil: the command reads EOF
	stop := context.AfterFunc(ctx, func() { sess.Close() })
	err = sess.Run(hashCommand(tool, s.abs(name)))
	stop()
	if cerr := ctx.Err(); cerr != nil {
		return digest.Sum{}, fmt.Errorf("hash %s on %s: %w", name, s.label(), cerr)
	}
	status := 0
	var exit *ssh.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		status = exit.ExitStatus()
	case s.isGone() || connLost(err):
		return digest.Sum{}, s.classify("hash "+name, err)
	default:
		// The exec request refused, or no exit status at all.
		return digest.Sum{}, noShell{fmt.Sprintf("the server runs no commands for this login (%v)", err)}
	}
	out, ok := afterMarker(stdout.String())
	if !ok {
		return digest.Sum{}, noShell{"the server runs no shell commands for this login (an sftp-only account?)"}
	}
	switch status {
	case 0:
	case 127:
		return digest.Sum{}, toolMissing{}
	default:
		return digest.Sum{}, fmt.Errorf("hash %s on %s: %s failed on the server (exit status %d): %s",
			name, s.label(), tool, status, firstLine(stderr.String()))
	}
	sum, err := parseSumLine(out)
	if err != nil {
		return digest.Sum{}, fmt.Errorf("hash %s on %s: %w: %w", name, s.label(), err, errors.ErrUnsupported)
	}
	return sum, nil
}

// afterMarker returns what the command printed after the marker line
// (a shell start-up file may print something before it).
func afterMarker(out string) (string, bool) {
	if rest, ok := strings.CutPrefix(out, hashMarker+"\n"); ok {
		return rest, true
	}
	if _, rest, ok := strings.Cut(out, "\n"+hashMarker+"\n"); ok {
		return rest, true
	}
	return "", false
}

// parseSumLine reads "<64 hex>  <name>" (or " *<name>"; a leading "\"
// when the tool escaped the name), strictly.
func parseSumLine(out string) (digest.Sum, error) {
	line, _, _ := strings.Cut(out, "\n")
	line = strings.TrimPrefix(line, `\`)
	if len(line) < 66 || line[64] != ' ' || (line[65] != ' ' && line[65] != '*') {
		return digest.Sum{}, fmt.Errorf("unexpected output from the server's hash tool: %q", firstLine(out))
	}
	hexSum := line[:64]
	for _, c := range hexSum {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return digest.Sum{}, fmt.Errorf("unexpected output from the server's hash tool: %q", firstLine(out))
		}
	}
	return digest.Parse(hexSum)
}

// firstLine returns the first line of s, shortened and without control
// characters, for an error message.
func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	line = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return -1
		}
		return r
	}, line)
	if len(line) > 200 {
		line = line[:200] + "…"
	}
	if line == "" {
		return "(no message)"
	}
	return line
}
