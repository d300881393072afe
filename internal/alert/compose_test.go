package alert

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2025, 6, 3, 2, 14, 0, 0, time.FixedZone("CEST", 2*3600))

func TestRunFailedSubjectAndHint(t *testing.T) {
	a := RunFailed(RunFailure{
		Job: "backup", Target: "drive-b", Cause: "disk full",
		Problems: []string{"no space left on device: 12 of 340 files not written", "IMG_0042.CR3: input/output error"},
	}, now)
	if a.Kind != KindRunFailed {
		t.Errorf("kind = %q", a.Kind)
	}
	if want := "Trove: backup to drive-b failed (disk full)"; a.Subject != want {
		t.Errorf("subject = %q, want %q", a.Subject, want)
	}
	for _, want := range []string{
		"The backup to drive-b failed at Tue 3 Jun 2025 02:14 (+02:00).",
		"- no space left on device: 12 of 340 files not written\n",
		"- IMG_0042.CR3: input/output error\n",
		"Free up space on drive-b (or move to a larger drive), then run: trove backup drive-b",
		"trove log",
	} {
		if !strings.Contains(a.Body, want) {
			t.Errorf("body lacks %q:\n%s", want, a.Body)
		}
	}
	if !a.Time.Equal(now) {
		t.Errorf("time = %v", a.Time)
	}
	if a.Fields["target"] != "drive-b" || a.Fields["job"] != "backup" {
		t.Errorf("fields = %v", a.Fields)
	}
}

func TestRunFailedHints(t *testing.T) {
	cases := []struct {
		job, target, problem, want string
	}{
		{"backup", "nas", "target not attached: /mnt/nas is not mounted", "Check that nas is plugged in or mounted, then run: trove backup nas"},
		{"verify", "drive a", "IMG_1.CR3: content differs (corrupt)", "run trove repair 'drive a' to heal"},
		{"backup", "s3-vault", "dial tcp: connection refused", "Check the network connection to s3-vault, then run: trove backup s3-vault"},
		{"ingest", "", "open /media/card: permission denied", "Check that Trove may write to the target (permissions, password or keys), then run it again"},
		{"archive", "archive-2024-a", "something odd", "Fix the problems listed above, then run it again"},
	}
	for _, c := range cases {
		a := RunFailed(RunFailure{Job: c.job, Target: c.target, Problems: []string{c.problem}}, now)
		if !strings.Contains(a.Body, c.want) {
			t.Errorf("%s %s %q: body lacks %q:\n%s", c.job, c.target, c.problem, c.want, a.Body)
		}
		// Without a Cause the first problem (shortened) explains the subject.
		if !strings.Contains(a.Subject, "(") {
			t.Errorf("subject %q has no cause", a.Subject)
		}
	}
	a := RunFailed(RunFailure{Job: "verify", Target: "drive-c", Hint: "Bring drive-c home."}, now)
	if a.Subject != "Trove: verify of drive-c failed" || !strings.Contains(a.Body, "- Bring drive-c home.\n") {
		t.Errorf("explicit hint: %q\n%s", a.Subject, a.Body)
	}
}

func TestRunFailedListIsBoundedAndOneLine(t *testing.T) {
	var problems []string
	for i := range 20 {
		problems = append(problems, fmt.Sprintf("file %d: bad\r\nX-Injected: yes", i))
	}
	a := RunFailed(RunFailure{Job: "backup", Target: "drive-b\nBcc: evil@example.com", Problems: problems}, now)
	if strings.ContainsAny(a.Subject, "\r\n") {
		t.Errorf("subject has a line break: %q", a.Subject)
	}
	if got := strings.Count(a.Body, "X-Injected"); got != maxListed {
		t.Errorf("listed %d problems, want %d", got, maxListed)
	}
	if !strings.Contains(a.Body, "- … and 12 more\n") {
		t.Errorf("body lacks the overflow line:\n%s", a.Body)
	}
	for _, line := range strings.Split(a.Body, "\n") {
		if strings.HasPrefix(line, "X-Injected") || strings.HasPrefix(line, "Bcc:") {
			t.Errorf("an input line break survived: %q", line)
		}
	}
	long := RunFailed(RunFailure{Job: "backup", Target: "t", Problems: []string{strings.Repeat("x", 500)}}, now)
	if n := len([]rune(long.Subject)); n > 120 {
		t.Errorf("subject of %d runes from a long problem", n)
	}
}

func TestProjectAtRisk(t *testing.T) {
	a := ProjectAtRisk(AtRisk{
		Project: "2024-06-01 Müller Hochzeit",
		Reasons: []string{"no off-site copy", "only 2 copies (policy: 3)"},
		Files:   412,
	}, now)
	if want := `Trove: "2024-06-01 Müller Hochzeit" is at risk (no off-site copy)`; a.Subject != want {
		t.Errorf("subject = %q, want %q", a.Subject, want)
	}
	for _, want := range []string{
		"(412 files at risk)",
		"- only 2 copies (policy: 3)\n",
		"trove where '2024-06-01 Müller Hochzeit'",
		"trove backup",
	} {
		if !strings.Contains(a.Body, want) {
			t.Errorf("body lacks %q:\n%s", want, a.Body)
		}
	}
	nested := ProjectAtRisk(AtRisk{Project: "p", Reasons: []string{"no off-site copy (bank-drive last synced 47 days ago)"}}, now)
	if nested.Subject != `Trove: "p" is at risk (no off-site copy)` {
		t.Errorf("subject with a nested parenthesis: %q", nested.Subject)
	}
	if a.Kind != KindAtRisk || a.Fields["files"] != 412 {
		t.Errorf("kind %q fields %v", a.Kind, a.Fields)
	}
}

func TestDigest(t *testing.T) {
	d := DigestData{
		Projects: []ProjectCount{
			{Project: "2024-05-01 Smith", Protected: 100},
			{Project: "2024-06-01 Jones", Protected: 10, AtRisk: 2},
			{Project: "2024-06-02 Lee", Protected: 0, AtRisk: 50},
		},
		Targets: []TargetState{
			{Target: "drive-a", LastWrite: now.Add(-3 * time.Hour), LastVerify: now.Add(-49 * 24 * time.Hour)},
			{Target: "bank-drive", LastWrite: now.Add(-47 * 24 * time.Hour)},
		},
	}
	a := Digest(d, now)
	if want := "Trove daily: 2 of 3 projects at risk"; a.Subject != want {
		t.Errorf("subject = %q, want %q", a.Subject, want)
	}
	lee := strings.Index(a.Body, "2024-06-02 Lee: 50 of 50 files at risk")
	jones := strings.Index(a.Body, "2024-06-01 Jones: 2 of 12 files at risk")
	if lee < 0 || jones < 0 || lee > jones {
		t.Errorf("at-risk projects missing or not worst first:\n%s", a.Body)
	}
	for _, want := range []string{
		"At risk (52 files):",
		"Protected: 1 of 3 projects, 110 of 162 files.",
		"- drive-a: written 3 hours ago, verified 49 days ago\n",
		"- bank-drive: written 47 days ago, verified never\n",
	} {
		if !strings.Contains(a.Body, want) {
			t.Errorf("body lacks %q:\n%s", want, a.Body)
		}
	}
	if strings.Contains(a.Body, "Smith") {
		t.Errorf("a protected project is listed by name:\n%s", a.Body)
	}
	// The webhook JSON carries the numbers and null for "never".
	b, err := json.Marshal(a.Fields)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"projects_at_risk":2`, `"files_at_risk":52`, `"last_verify":null`, `"last_write":"2025-06-02T21:14:00Z"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("fields JSON lacks %s: %s", want, b)
		}
	}

	all := Digest(DigestData{Projects: []ProjectCount{{Project: "a", Protected: 1}, {Project: "b", Protected: 2}}}, now)
	if all.Subject != "Trove daily: all 2 projects protected" || strings.Contains(all.Body, "At risk") {
		t.Errorf("all protected: %q\n%s", all.Subject, all.Body)
	}
	if none := Digest(DigestData{}, now); none.Subject != "Trove daily: no projects yet" {
		t.Errorf("empty digest subject %q", none.Subject)
	}
}

func TestTestMessage(t *testing.T) {
	a := TestMessage("studio-mac", now)
	if a.Kind != KindTest || !strings.Contains(a.Subject, "test") || !strings.Contains(a.Body, "from Trove on studio-mac") {
		t.Errorf("%+v", a)
	}
}

func TestAgo(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{-time.Hour, "just now"}, {30 * time.Second, "just now"}, {time.Minute, "1 minute ago"},
		{59 * time.Minute, "59 minutes ago"}, {47 * time.Hour, "47 hours ago"}, {49 * time.Hour, "2 days ago"},
	} {
		if got := ago(now.Add(-c.d), now); got != c.want {
			t.Errorf("ago(%v) = %q, want %q", c.d, got, c.want)
		}
	}
}
