// Command printinfo prints buildinfo.Get() as JSON, for TestStampedBinary.
package main

import (
	"encoding/json"
	"os"

	"github.com/oktafed/oktafed/cmd/internal/buildinfo"
)

func main() { _ = json.NewEncoder(os.Stdout).Encode(buildinfo.Get()) }
