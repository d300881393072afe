//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trove-backup/trove/internal/testenv"
)

// `trove alert test` with email configured sends a real message through a
// real SMTP server (mailpit, started by .ci/mailpit.sh: STARTTLS required,
// login) and it arrives; a wrong password is a clear failure, exit 1, and
// the password never shows.
func TestE2EAlertTestEmail(t *testing.T) {
	addr, api := os.Getenv("TROVE_TEST_SMTP_ADDR"), os.Getenv("TROVE_TEST_MAILPIT_API")
	if addr == "" || api == "" {
		testenv.Skip(t, "no SMTP server: run `source .ci/mailpit.sh` first (sets TROVE_TEST_SMTP_ADDR)")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	e := newEnv(t, filepath.Join(dir, "home"), filepath.Join(dir, "lib"))
	e.initLib()
	to := fmt.Sprintf("studio-%d@example.com", time.Now().UnixNano())
	e.appendConfig(fmt.Sprintf("[alerts.email]\nhost = %q\nport = %s\nfrom = \"Trove <trove@example.com>\"\nto = [%q]\n"+
		"username = %q\npassword_env = \"TROVE_TEST_SMTP_PASSWORD\"\nca_file = %q\n",
		host, port, to, os.Getenv("TROVE_TEST_SMTP_USER"), os.Getenv("TROVE_TEST_SMTP_CA")))

	r := e.run("alert", "test")
	if r.code != 0 {
		t.Fatalf("alert test: %s", r)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(api + "/api/v1/search?query=" + "to:" + to)
		if err == nil {
			var res struct {
				Messages []struct{ Subject string } `json:"messages"`
			}
			json.NewDecoder(resp.Body).Decode(&res)
			resp.Body.Close()
			if len(res.Messages) == 1 && strings.Contains(res.Messages[0].Subject, "Trove: test message") {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the test message to %s did not arrive at mailpit", to)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// A wrong password: exit 1, a clear line, the secret nowhere.
	const wrong = "wrong-secret-4711"
	bad := *e
	bad.env = append(append([]string(nil), e.env...), "TROVE_TEST_SMTP_PASSWORD="+wrong) // the last value wins
	r = bad.run("alert", "test")
	if r.code != 1 || !strings.Contains(r.stdout+r.stderr, "email") {
		t.Fatalf("alert test with a wrong password: %s", r)
	}
	if strings.Contains(r.stdout+r.stderr, wrong) {
		t.Fatalf("the password appears in the output: %s", r)
	}
}
