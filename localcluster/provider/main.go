// Command pulumi-resource-kubernetes serves the Pulumi Kubernetes provider, built from its published module.
// The module's own cmd/ embeds two generated files that are git-ignored upstream and so absent from the module
// zip; the build copies the schema and mapping the zip does carry next to this file.
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

//go:embed schema.json
var schema []byte

//go:embed terraform-mapping.json
var terraformMapping []byte

func main() {
	provider.Serve("kubernetes", version.Version, schema, terraformMapping)
}
