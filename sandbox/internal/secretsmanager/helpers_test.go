package secretsmanager_test

import "github.com/oktafed/oktafed/sandbox/internal/secretsmanager"

func sandboxSecret(name string) secretsmanager.SecretConfig {
	return secretsmanager.SecretConfig{Name: name, String: "value of " + name}
}
