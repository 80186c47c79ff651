// Command testserver is the workload Skiff's end-to-end tests run in pods:
// an HTTP echo server that reports which pod answered, with probes,
// failures, exits and memory use controllable per request or by flag, a
// TCP echo port, a file server and graceful shutdown on SIGTERM.
//
// Every flag also reads an environment variable (shown in -help), so a pod
// spec can configure it with env instead of args.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

type options struct {
	httpAddr        string
	tcpAddr         string
	cfg             config
	exitCode        int
	exitAfter       time.Duration
	shutdownTimeout time.Duration
}

func main() {
	opts, err := parseFlags(os.Args[1:], os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testserver:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, opts, os.Exit); err != nil {
		log.Printf("testserver: %v", err)
		os.Exit(1)
	}
}

func parseFlags(args []string, getenv func(string) string) (options, error) {
	var o options
	fs := flag.NewFlagSet("testserver", flag.ContinueOnError)
	str := func(p *string, name, env, def, usage string) {
		if v := getenv(env); v != "" {
			def = v
		}
		fs.StringVar(p, name, def, usage+" (env "+env+")")
	}
	var latency, errorRate, exitCode, exitAfter, shutdown string
	str(&o.httpAddr, "http", "HTTP_ADDR", ":8080", "HTTP listen address")
	str(&o.tcpAddr, "tcp", "TCP_ADDR", ":9000", "TCP echo listen address, empty to disable")
	str(&o.cfg.podName, "pod-name", "POD_NAME", "", "pod name to report (default: hostname)")
	str(&o.cfg.podIP, "pod-ip", "POD_IP", "", "IP to report (default: first global address)")
	str(&o.cfg.filesDir, "files", "FILES_DIR", "/data", "directory served under /files/")
	str(&latency, "latency", "LATENCY", "0s", "delay added to every echo request")
	str(&errorRate, "error-rate", "ERROR_RATE", "0", "fraction (0-1) of echo requests answered 500")
	str(&exitCode, "exit-code", "EXIT_CODE", "", "exit with this code after -exit-after (empty: never)")
	str(&exitAfter, "exit-after", "EXIT_AFTER", "0s", "when to exit with -exit-code")
	str(&shutdown, "shutdown-timeout", "SHUTDOWN_TIMEOUT", "30s", "how long in-flight requests may finish after SIGTERM")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var err error
	if o.cfg.latency, err = time.ParseDuration(latency); err != nil {
		return o, fmt.Errorf("-latency: %w", err)
	}
	if o.cfg.errorRate, err = strconv.ParseFloat(errorRate, 64); err != nil || o.cfg.errorRate < 0 || o.cfg.errorRate > 1 {
		return o, fmt.Errorf("-error-rate must be between 0 and 1, not %q", errorRate)
	}
	o.exitCode = -1
	if exitCode != "" {
		if o.exitCode, err = strconv.Atoi(exitCode); err != nil || o.exitCode < 0 || o.exitCode > 255 {
			return o, fmt.Errorf("-exit-code must be 0-255, not %q", exitCode)
		}
	}
	if o.exitAfter, err = time.ParseDuration(exitAfter); err != nil {
		return o, fmt.Errorf("-exit-after: %w", err)
	}
	if o.shutdownTimeout, err = time.ParseDuration(shutdown); err != nil {
		return o, fmt.Errorf("-shutdown-timeout: %w", err)
	}
	if o.cfg.podName == "" {
		o.cfg.podName, _ = os.Hostname()
	}
	if o.cfg.podIP == "" {
		o.cfg.podIP = firstIP()
	}
	return o, nil
}

// run serves until ctx ends (SIGTERM), then stops accepting and lets
// in-flight requests finish for up to shutdownTimeout, as a well-behaved
// pod does within its termination grace period.
func run(ctx context.Context, o options, exit func(int)) error {
	ln, err := net.Listen("tcp", o.httpAddr)
	if err != nil {
		return fmt.Errorf("http listener: %w", err)
	}
	srv := &http.Server{Handler: newServer(o.cfg, exit).handler(), ReadHeaderTimeout: 10 * time.Second}
	if o.tcpAddr != "" {
		tln, err := net.Listen("tcp", o.tcpAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("tcp echo listener: %w", err)
		}
		go func() {
			if err := serveTCPEcho(ctx, tln); err != nil {
				log.Printf("tcp echo: %v", err)
			}
		}()
	}
	if o.exitCode >= 0 {
		time.AfterFunc(o.exitAfter, func() { exit(o.exitCode) })
	}
	log.Printf("testserver: pod %s serving http on %s, tcp echo on %q", o.cfg.podName, ln.Addr(), o.tcpAddr)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Printf("testserver: terminating, waiting up to %s for in-flight requests", o.shutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), o.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("graceful shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
