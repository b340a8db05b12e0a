package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/oktafed/oktafed/gateway"
)

type revokeOptions struct {
	jti      string
	ttl      time.Duration
	redisURL string
	prefix   string
	output   string
}

func newRevokeCmd(s streams) *cobra.Command {
	var opts revokeOptions
	cmd := &cobra.Command{
		Use:   "revoke",
		Short: "Revoke a token id (jti) on every gateway replica sharing a Redis",
		Long: `Write a token id to the revocation list the gateway replicas share through
Redis. Every replica refuses the token within moments, and replicas started
later load the list at start. Without Redis, POST to a gateway's
/_oktafed/revocations endpoint with an admin token instead.

It reads the same Redis variables as the gateway (flags win):
  REDIS_URL                 redis://[user:password@]host:6379/0, or rediss:// for TLS
  REDIS_ADDRS               host:port,... : cluster seed nodes or sentinels
  REDIS_CLUSTER             true for a Redis Cluster (with REDIS_ADDRS)
  REDIS_MASTER_NAME         the primary's name, for Sentinel (with REDIS_ADDRS)
  REDIS_USERNAME, REDIS_PASSWORD                    ACL user (override the URL's)
  REDIS_SENTINEL_USERNAME, REDIS_SENTINEL_PASSWORD  the sentinels' own ACL user
  REDIS_TLS                 true: TLS without a rediss:// URL
  REDIS_CA_FILE             CA bundle (PEM) for a private CA
  REDIS_CERT_FILE, REDIS_KEY_FILE                   client certificate (PEM)
  REDIS_TLS_SERVER_NAME     name to check in the servers' certificates
With Sentinel, a revocation counts once a replica acknowledged it or a
running gateway received it (gateways keep what they saw and write back
what Redis loses); otherwise the command fails and you retry.`,
		Example: `  oktafed-gateway revoke --jti AT.Zm9vYmFy --redis-url redis://127.0.0.1:6379/0
  REDIS_URL=redis://cache:6379/0 oktafed-gateway revoke --jti AT.Zm9vYmFy --ttl 2h`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRevoke(cmd.Context(), s, opts)
		},
	}
	// No backquotes in flag usage: pflag reads a `word` there as the
	// value's name in --help.
	cmd.Flags().StringVar(&opts.jti, "jti", "", "token id to revoke: the token's jti claim, which 'oktafed token decode' shows")
	cmd.Flags().DurationVar(&opts.ttl, "ttl", 24*time.Hour, "how long to refuse the id: at least the token's remaining lifetime")
	cmd.Flags().StringVar(&opts.redisURL, "redis-url", "", "Redis the gateways share (also REDIS_URL)")
	cmd.Flags().StringVar(&opts.prefix, "redis-prefix", "", "key prefix the gateways use (default oktafed:gateway:)")
	cmd.Flags().StringVarP(&opts.output, "output", "o", "text", "output format: text or json")
	return cmd
}

func runRevoke(ctx context.Context, s streams, opts revokeOptions) error {
	if opts.output != "text" && opts.output != "json" {
		return fmt.Errorf("--output %q: choose text or json", opts.output)
	}
	if opts.jti == "" {
		return errors.New("name the token with --jti (its jti claim)")
	}
	if opts.ttl <= 0 {
		return errors.New("--ttl must be positive, e.g. 24h")
	}
	// The same Redis settings the gateway reads (REDIS_URL, REDIS_ADDRS,
	// REDIS_CLUSTER, REDIS_MASTER_NAME, REDIS_TLS, …), so a revocation
	// reaches a Cluster or a Sentinel-managed primary as the replicas do.
	var cfg gateway.Config
	if err := cfg.ApplyEnv(s.getenv); err != nil {
		return err
	}
	if opts.redisURL != "" {
		cfg.Redis.URL = opts.redisURL
	}
	if !cfg.Redis.Enabled() {
		return errors.New("no Redis: pass --redis-url or set REDIS_URL (or REDIS_ADDRS with REDIS_CLUSTER or REDIS_MASTER_NAME) to the Redis the gateways share")
	}
	rdb, err := gateway.NewRedisClient(cfg.Redis)
	if err != nil {
		return fmt.Errorf("--redis-url: %w", err)
	}
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	until := time.Now().Add(opts.ttl)
	if err := gateway.PublishRevocation(ctx, rdb, opts.prefix, opts.jti, until); err != nil {
		return err
	}
	if opts.output == "json" {
		return json.NewEncoder(s.Out).Encode(map[string]string{"revoked": opts.jti, "until": until.UTC().Format(time.RFC3339)})
	}
	fmt.Fprintf(s.Out, "revoked %s until %s on every gateway sharing this Redis\n", opts.jti, until.UTC().Format(time.RFC3339))
	return nil
}
