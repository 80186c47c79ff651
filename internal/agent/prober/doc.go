// Package prober is the real node's probe manager, the kubelet's
// prober.Manager: it runs the startup, readiness and liveness probes of
// every running container and gives the agent their verdicts through
// agent.Prober (started, ready, kill).
//
// # What it owns
//
// One worker per probe of each running container instance, ticking every
// periodSeconds through the agent's clock. A worker skips its container
// until initialDelaySeconds after it started; readiness and liveness
// workers wait until the startup probe has succeeded, and the startup
// worker stops once it has. A result changes only after
// successThreshold consecutive successes or failureThreshold consecutive
// failures; readiness starts as failed, liveness as passed. A liveness or
// startup failure past its threshold puts the worker on hold and asks the
// agent (ProbeResult.Kill) to kill the container, which restarts per
// restartPolicy; the new instance gets new workers. Every failed probe is
// recorded as a Warning Unhealthy event ("Liveness probe failed: ...");
// every verdict change calls the agent's resync, so the pod status is
// written at once rather than at the next periodic sync.
//
// It must not touch the runtime beyond ExecSync (exec probes), nor the
// API: killing, restarting and status writing are the agent's.
//
// # Where it knowingly differs from upstream
//
//   - Workers belong to one container instance and start when the agent
//     first reports it running, probing at once (then every period);
//     upstream keeps one worker per container across restarts and
//     staggers the first probe of workers started long after the kubelet.
//   - Verdicts are not stored: after an agent restart a container starts
//     from what its pod status last said (started, ready) and its probes'
//     counts start over.
//   - Probes with fields left zero (a pod stored without API defaulting)
//     take upstream's defaults: timeout 1s, period 10s, success 1,
//     failure 3.
package prober
