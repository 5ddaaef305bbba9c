"""Running the daemon as an OS service: systemd on Linux, the Service Control Manager on Windows.

- `service.cli.app` — `risk-manager service install|uninstall|start|stop|status`
  (`install --dry-run` prints the exact unit file and commands and changes nothing).
- `service.systemd` — the unit (`Type=notify`, `WatchdogSec=30`, `Restart=on-failure`, user
  `risk-manager`, config /etc/risk-manager, state /var/lib/risk-manager via `StateDirectory=`,
  logs /var/log/risk-manager via `LogsDirectory=`; systemd exports $STATE_DIRECTORY and
  $LOGS_DIRECTORY to the daemon, and reads secrets from /etc/risk-manager/env).
- `service.windows` — the pywin32 service (import only on Windows).
- `service.notify` — what the daemon calls (all no-ops returning False outside systemd, never raise):

      from risk_manager.service import notify
      notify.ready()                  # after the status API serves (docs/operations.md, start-up step 7)
      task = asyncio.create_task(notify.watchdog_loop(healthy=lambda: ...))   # pings at interval/2
      notify.status("2 accounts, hubs connected")   # optional, shown by `systemctl status`
      notify.stopping()               # first thing on shutdown; then cancel the watchdog task
      notify.watchdog_interval()      # WatchdogSec in seconds, or None

Windows service contract with the daemon: the service thread calls
`risk_manager.daemon.main.run_daemon(config_dir=Path)` and, on stop, the daemon's
`risk_manager.daemon.main.request_stop()` — which must be callable from another thread and make
`run_daemon` return 0 promptly. `run_daemon` runs outside the main thread there, so it must not
install signal handlers unless it is on the main thread.
"""
