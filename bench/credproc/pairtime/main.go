// Command pairtime times whole processes side by side: every round starts
// each command once, in a rotating order, so all of them see the same load
// at the same moments, and reports per command the median and minimum
// wall time and, against the first command (the baseline), the median and
// minimum of the per-round ratios.
//
//	pairtime -n 200 -warmup 10 empty=/tmp/empty-go 'fast=/tmp/oktafed credential-process --profile p'
//
// Each argument is name=command; the command is split on spaces (no
// quoting), and leading VAR=value words are set in its environment, as
// env(1) would, without starting env. Standard output and error are discarded; a command that exits
// non-zero stops the run, so a failing command is never timed as a fast
// one.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"
)

type command struct {
	name string
	env  []string
	argv []string
	wall []time.Duration
}

func main() {
	n := flag.Int("n", 200, "rounds timed")
	warmup := flag.Int("warmup", 10, "rounds run first and not timed")
	flag.Parse()
	var cmds []*command
	for _, a := range flag.Args() {
		name, line, ok := strings.Cut(a, "=")
		if !ok || name == "" || strings.TrimSpace(line) == "" {
			fmt.Fprintf(os.Stderr, "pairtime: %q: write name=command\n", a)
			os.Exit(2)
		}
		c := &command{name: name, argv: strings.Fields(line)}
		for len(c.argv) > 1 && strings.Contains(c.argv[0], "=") {
			c.env, c.argv = append(c.env, c.argv[0]), c.argv[1:]
		}
		cmds = append(cmds, c)
	}
	if len(cmds) < 2 {
		fmt.Fprintln(os.Stderr, "pairtime: name a baseline and at least one command")
		os.Exit(2)
	}
	for round := range *warmup + *n {
		for i := range cmds {
			c := cmds[(round+i)%len(cmds)]
			d, err := run(c)
			if err != nil {
				fmt.Fprintf(os.Stderr, "pairtime: %s: %v\n", c.name, err)
				os.Exit(1)
			}
			if round >= *warmup {
				c.wall = append(c.wall, d)
			}
		}
	}
	base := cmds[0]
	fmt.Printf("%-14s %10s %10s %12s %10s\n", "command", "median", "min", "÷"+base.name+" med", "min")
	for _, c := range cmds {
		ratios := make([]float64, len(c.wall))
		for i := range c.wall {
			ratios[i] = float64(c.wall[i]) / float64(base.wall[i])
		}
		fmt.Printf("%-14s %8.2fms %8.2fms %11.2fx %9.2fx\n", c.name, ms(median(c.wall)), ms(slices.Min(c.wall)), median(ratios), slices.Min(ratios))
	}
}

// run starts c and waits for it, timing from start to reaping. Its output
// goes to the null device, so no copying goroutine runs beside it.
func run(c *command) (time.Duration, error) {
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return 0, err
	}
	defer null.Close()
	cmd := exec.Command(c.argv[0], c.argv[1:]...)
	cmd.Env = append(os.Environ(), c.env...)
	cmd.Stdout, cmd.Stderr = null, null
	start := time.Now()
	err = cmd.Run()
	return time.Since(start), err
}

func median[T time.Duration | float64](v []T) T {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
