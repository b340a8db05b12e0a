package main

import (
	"context"
	"sync"

	"github.com/oktafed/oktafed/gateway"
)

// startReloads reloads gw's configuration on every SIGHUP and, with
// --watch-config, when the file's content changes, until ctx ends. Each
// reload reads the file, the environment and the flags as at start, so
// flags keep winning over the file. Reloads run one at a time.
func startReloads(ctx context.Context, s streams, opts serveOptions, gw *gateway.Gateway) {
	path := opts.configPath
	if path == "" {
		path = s.getenv("GATEWAY_CONFIG")
	}
	var mu sync.Mutex
	reload := func(why string) {
		mu.Lock()
		defer mu.Unlock()
		gw.ConfigLoaded(path)
		cfg, err := loadConfig(s, opts)
		if err != nil {
			gw.ReloadFailed(why, err)
			return
		}
		_ = gw.Reload(ctx, cfg) // logged either way
	}
	if s.Reload != nil {
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case <-s.Reload:
					reload("SIGHUP")
				}
			}
		}()
	}
	if opts.watch > 0 && path != "" {
		gw.ConfigLoaded(path) // the baseline: what loadConfig read at start
		go gw.WatchFile(ctx, path, opts.watch, func() { reload("file changed") })
	}
}
