package schemas

import (
	"fmt"
	"os"
	"strings"

	"github.com/twmb/franz-go/pkg/sr"
)

// settings are the environment this verb needs. They come from the
// environment here; pkg/config will provide them once it has the common
// registry settings.
type settings struct {
	RegistryURL      string
	RegistryUser     string
	RegistryPassword string
	RegistryToken    string
	TopicPrefix      string
}

func fromEnv() settings {
	return settings{
		RegistryURL:      os.Getenv("ISTHMUS_SCHEMA_REGISTRY_URL"),
		RegistryUser:     os.Getenv("ISTHMUS_SCHEMA_REGISTRY_USER"),
		RegistryPassword: os.Getenv("ISTHMUS_SCHEMA_REGISTRY_PASSWORD"),
		RegistryToken:    os.Getenv("ISTHMUS_SCHEMA_REGISTRY_TOKEN"),
		TopicPrefix:      os.Getenv("ISTHMUS_TOPIC_PREFIX"),
	}
}

func (s settings) client() (*sr.Client, error) {
	if strings.TrimSpace(s.RegistryURL) == "" {
		return nil, fmt.Errorf("no schema registry: set ISTHMUS_SCHEMA_REGISTRY_URL or --registry")
	}
	opts := []sr.ClientOpt{sr.URLs(strings.Split(s.RegistryURL, ",")...), sr.UserAgent("isthmus-cli")}
	if s.RegistryUser != "" {
		opts = append(opts, sr.BasicAuth(s.RegistryUser, s.RegistryPassword))
	}
	if s.RegistryToken != "" {
		opts = append(opts, sr.BearerToken(s.RegistryToken))
	}
	return sr.NewClient(opts...)
}
