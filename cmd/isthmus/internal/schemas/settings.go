package schemas

import (
	"os"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/isthmus/isthmus/cmd/isthmus/internal/opsenv"
)

// settings are the flags this verb takes on top of the environment: the
// registry URL(s) and the topic prefix. Everything else about reaching the
// registry (auth, CA bundle) comes from the common settings (pkg/config),
// like every other verb.
type settings struct {
	RegistryURL string
	TopicPrefix string
}

func fromEnv() settings {
	return settings{RegistryURL: os.Getenv("ISTHMUS_SCHEMA_REGISTRY_URL"), TopicPrefix: os.Getenv("ISTHMUS_TOPIC_PREFIX")}
}

func (s settings) client() (*sr.Client, error) {
	c, err := opsenv.LoadCommon(nil, map[string]string{
		"ISTHMUS_SCHEMA_REGISTRY_URL": s.RegistryURL,
		"ISTHMUS_TOPIC_PREFIX":        s.TopicPrefix,
	})
	if err != nil {
		return nil, err
	}
	return c.Registry.Client(sr.UserAgent("isthmus-cli"))
}
