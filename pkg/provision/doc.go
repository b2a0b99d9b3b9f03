// Package provision applies the topic catalog to a cluster and a schema
// registry: topics (create, grow partitions, align configs) and value
// schemas (register under "<prefix><topic>-value", set compatibility). The
// CLI verbs `isthmus topics apply` and `isthmus schemas apply`, the Helm
// hook Jobs (through the CLI), `isthmus dev` and the integration tests all
// use it, so there is one way to provision.
package provision
