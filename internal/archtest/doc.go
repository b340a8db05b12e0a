// Package archtest holds no code: its test keeps the module's imports to
// the rules docs/ARCHITECTURE.md states (the layers, the lean oktafed
// binary, libraries below the CLI, the sandbox's parts private to it),
// reading the real import graph with go list.
package archtest
