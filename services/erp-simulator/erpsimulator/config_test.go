package erpsimulator

import (
	"testing"
	"time"

	"github.com/isthmus/isthmus/pkg/config"
)

func parse(env map[string]string) (*Config, error) {
	var c Config
	err := config.ParseMaps(Name, &c, env)
	return &c, err
}

func TestConfig(t *testing.T) {
	c, err := parse(map[string]string{"ISTHMUS_SIM_SEED": "42", "ISTHMUS_SIM_DOWNTIME": "every 5m for 30s", "ISTHMUS_SIM_SCENARIO": "saas"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Seed != 42 || c.Downtime.Every != 5*time.Minute || c.Scenario != "saas" || !c.ExportRestricted["IR"] || c.Latency.Max != 2*time.Second {
		t.Fatalf("config %+v", c)
	}
	bad := map[string]string{}
	for _, env := range []string{"ISTHMUS_SIM_DOWNTIME", "ISTHMUS_SIM_SCENARIO", "ISTHMUS_SIM_LATENCY", "ISTHMUS_SIM_RATE", "ISTHMUS_SIM_JOURNAL_REJECT_BPS", "ISTHMUS_SIM_SEED"} {
		bad[env] = "-3x"
	}
	for _, e := range config.Unrefused(Name, func() config.Settings { return &Config{} }, bad) {
		t.Error(e)
	}
}
