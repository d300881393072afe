package config

import (
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

// full is a config with every setting set, secrets included.
func full() Config {
	c := Default("/home/ann")
	c.Policy = Policy{Copies: 4, Media: 2, Offsite: 2, VerifyWithinDays: 45}
	c.Template = "{year}/{project}/{name}"
	c.Targets = map[string]TargetSettings{"vault": {Schedule: "daily 02:00", Verify: "daily 04:00", Window: "01:00-06:00",
		BWLimit: "08:00-18:00=2MiB/s, 18:00-08:00=off", ScrubBudget: "20GiB"}}
	c.Alerts = Alerts{
		Email: &EmailAlerts{Host: "smtp.example.net", Port: 587, From: "trove@example.net", To: []string{"ann@example.net"},
			Username: "ann", PasswordFile: "/home/ann/.config/trove/smtp-pass", StartTLS: "required", CAFile: "/home/ann/ca.pem"},
		Webhooks: []WebhookAlert{
			{URL: "https://hooks.slack.example/services/T0/B0/s3cretT0ken", Format: "slack"},
			{URLEnv: "TROVE_NTFY_URL", Format: "ntfy", HeaderEnv: map[string]string{"Authorization": "NTFY_AUTH"}},
		},
		Digest: "daily 08:00",
	}
	c.Retention = Retention{KeepAllDays: 45, KeepMonthlyMonths: 24}
	c.Freshness = Freshness{OffsiteMaxDays: 14, UnseenMaxDays: 30}
	return c
}

func TestCarriedRoundTripWithoutSecrets(t *testing.T) {
	c := full()
	text, err := MarshalCarried(c)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(text), "s3cretT0ken") || strings.Contains(string(text), "hooks.slack") {
		t.Fatalf("the carried config holds the webhook URL:\n%s", text)
	}
	got, err := Parse(text, "carried")
	if err != nil {
		t.Fatalf("the carried config does not load: %v\n%s", err, text)
	}
	want := c
	want.Alerts.Webhooks = c.Alerts.Webhooks[1:]
	if !reflect.DeepEqual(got, want) {
		t.Errorf("carried config read back:\n got %+v\nwant %+v", got, want)
	}
	nc := NotCarried(text)
	if len(nc) != 1 || !strings.HasPrefix(nc[0], "alerts.webhook[0] ") {
		t.Errorf("NotCarried = %q, want the inline webhook", nc)
	}
	// The original is untouched (its maps and slices are not shared).
	if c.Alerts.Webhooks[0].URL == "" || len(c.Alerts.Webhooks) != 2 {
		t.Errorf("Carried changed its receiver: %+v", c.Alerts.Webhooks)
	}
	cc, _ := c.Carried()
	cc.Targets["vault"] = TargetSettings{}
	cc.Alerts.Email.To[0] = "x"
	if c.Targets["vault"].Window == "" || c.Alerts.Email.To[0] != "ann@example.net" {
		t.Errorf("Carried shares maps or slices with its receiver")
	}
	if ps := c.FilePaths(); len(ps) != 2 || ps[0].Path != "/home/ann/.config/trove/smtp-pass" || ps[1].Setting != "alerts.email.ca_file" {
		t.Errorf("FilePaths = %+v", ps)
	}
}

func TestCarriedRefusesURLWithPassword(t *testing.T) {
	c := full()
	c.Alerts.Webhooks = nil
	c.Alerts.Email.Host = "https://ann:hunter2@smtp.example.net"
	if _, err := MarshalCarried(c); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("MarshalCarried with a password in a URL = %v, want a refusal that does not repeat it", err)
	}
}

func TestParseRulesAreLoads(t *testing.T) {
	for body, want := range map[string]string{
		"library = \"/l\"\nlocation = \"home\"\nmedium = \"ssd\"\ntemplate = \"x\"\npassphrase = \"p\"\n[policy]\ncopies = 3\nmedia = 2": "unknown setting passphrase",
		"library = \"/l\"\nlocation = \"home\"\nmedium = \"ssd\"\ntemplate = \"x\"\n[policy]\ncopies = 0\nmedia = 1":                     "policy.copies",
		"garbage [": "read config carried",
	} {
		if _, err := Parse([]byte(body), "carried"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want %q", body, err, want)
		}
	}
}

// TestCarriedKnowsEverySetting fails when a setting is added to Config:
// decide whether it may hold a secret (then leave it out in Carried and
// name it in a "# not carried" line), and add it to the list here.
func TestCarriedKnowsEverySetting(t *testing.T) {
	known := []string{
		"alerts", "alerts.digest", "alerts.email", "alerts.email.ca_file", "alerts.email.from", "alerts.email.host",
		"alerts.email.password_env", "alerts.email.password_file", "alerts.email.port", "alerts.email.start_tls",
		"alerts.email.to", "alerts.email.username", "alerts.webhook", "alerts.webhook.allow_http", "alerts.webhook.format",
		"alerts.webhook.header_env", "alerts.webhook.header_env.*", "alerts.webhook.url", "alerts.webhook.url_env",
		"freshness", "freshness.offsite_max_days", "freshness.unseen_max_days", "library", "location", "medium",
		"policy", "policy.copies", "policy.media", "policy.offsite", "policy.verify_within_days",
		"retention", "retention.keep_all_days", "retention.keep_monthly_months",
		"targets", "targets.*", "targets.*.bwlimit", "targets.*.schedule", "targets.*.scrub_budget", "targets.*.verify",
		"targets.*.window", "template",
	}
	c := full()
	c.Alerts.Email.PasswordEnv, c.Alerts.Webhooks[0].AllowHTTP = "X", true
	var buf strings.Builder
	if err := toml.NewEncoder(&buf).Encode(c); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	md, err := toml.Decode(buf.String(), &m)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, k := range md.Keys() {
		parts := []string(k)
		if len(parts) >= 2 && parts[0] == "targets" {
			parts[1] = "*"
		}
		if len(parts) == 4 && parts[2] == "header_env" {
			parts[3] = "*"
		}
		seen[strings.Join(parts, ".")] = true
	}
	var got []string
	for k := range seen {
		got = append(got, k)
	}
	sort.Strings(got)
	if !reflect.DeepEqual(got, known) {
		t.Errorf("config settings changed: classify the new ones in Carried (secret or not), then update this list\n got %q\nwant %q", got, known)
	}
}
