"""The `risk-manager` command line (README "Command reference"). Stable: tests and docs rely on these names.

Each command imports its implementation lazily so `risk-manager --help` and the light commands
start fast and never pay for the dashboard or the simulator.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

import risk_manager.cli_help  # noqa: F401  (flags show as flags in --help)

app = typer.Typer(
    name="risk-manager",
    help="Simple Risk Manager: real-time risk rules for TopstepX / ProjectX Gateway accounts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Check configuration files.", no_args_is_help=True)
app.add_typer(config_app, name="config")

ConfigDir = Annotated[
    Path | None,
    typer.Option("--config", help="Config directory (accounts.yaml, risk_config.yaml)."),
]


@app.command()
def demo(
    headless: Annotated[
        bool, typer.Option("--headless", help="Print the enforcement timeline instead of the dashboard.")
    ] = False,
) -> None:
    """Simulator + daemon + scripted trader + dashboard. No account needed."""
    from risk_manager.demo import run_demo

    raise typer.Exit(run_demo(headless=headless))


@app.command()
def sim(
    port: Annotated[int, typer.Option(help="TCP port on 127.0.0.1 (0 = any free port).")] = 0,
    accounts: Annotated[int, typer.Option(min=1, help="Number of simulated accounts.")] = 1,
    seed: Annotated[int, typer.Option(help="Seed of the random price walk.")] = 1,
    user: Annotated[str, typer.Option(help="Login user name the simulator accepts.")] = "sim",
    api_key: Annotated[str, typer.Option("--api-key", help="API key the simulator accepts.")] = "sim-key",
    speed: Annotated[float, typer.Option(min=0.0, help="Price-walk speed multiplier (0 = frozen).")] = 1.0,
    fill_latency_ms: Annotated[float, typer.Option(
        "--fill-latency-ms", min=0.0, help="Order accepted -> first fill (0 = instant).")] = 0.0,
    fill_jitter_ms: Annotated[float, typer.Option(
        "--fill-jitter-ms", min=0.0, help="The latency varies by +/- this (seeded).")] = 0.0,
    fill_interval_ms: Annotated[float, typer.Option(
        "--fill-interval-ms", min=0.0, help="Between successive fills of one order.")] = 0.0,
    depth: Annotated[str | None, typer.Option(
        help="Displayed lots per book level, best first, e.g. 1,2,3 (default: unlimited).")] = None,
    contract_fills: Annotated[list[str] | None, typer.Option(
        "--contract-fills", help='Per contract: ID=\'{"depth": [1, 2], "fill_latency_ms": 50}\' (repeatable).')] = None,
) -> None:
    """Run the local ProjectX-compatible gateway simulator. First stdout line: JSON with URLs."""
    from risk_manager.sim.main import fill_spec, run_sim

    try:
        fills = fill_spec(fill_latency_ms, fill_jitter_ms, fill_interval_ms, depth, contract_fills)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    raise typer.Exit(
        run_sim(port=port, accounts=accounts, seed=seed, user=user, api_key=api_key, speed=speed, fills=fills)
    )


@app.command()
def run(config: ConfigDir = None) -> None:
    """Run the daemon in the foreground (what the service runs)."""
    from risk_manager.daemon.main import run_daemon

    raise typer.Exit(run_daemon(config_dir=config))


StatusUrl = Annotated[str | None, typer.Option(
    help="Status API of the daemon (default: the running daemon of --config, else daemon.status_api).")]


@app.command()
def dashboard(url: StatusUrl = None, config: ConfigDir = None) -> None:
    """The trader's live, read-only dashboard."""
    from risk_manager.ui.admin_support import find_daemon_url
    from risk_manager.ui.dashboard import run_dashboard

    raise typer.Exit(run_dashboard(url=find_daemon_url(url, config)))


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    url: StatusUrl = None, config: ConfigDir = None,
) -> None:
    """One-shot health and lock summary."""
    from risk_manager.ui.admin_support import find_daemon_url
    from risk_manager.ui.status_cmd import run_status

    raise typer.Exit(run_status(url=find_daemon_url(url, config), as_json=as_json))


@config_app.command("validate")
def config_validate(config: ConfigDir = None) -> None:
    """Validate accounts.yaml and risk_config.yaml; every error names file, line and field."""
    from risk_manager.config.loader import validate_command

    raise typer.Exit(validate_command(config))


@app.command()
def replay(
    journal: Annotated[Path, typer.Argument(help="A journal file recorded by the daemon.")],
    config: ConfigDir = None,
) -> None:
    """Re-run recorded events against the (new) rules: what would have fired."""
    from risk_manager.daemon.replay import run_replay

    raise typer.Exit(run_replay(journal=journal, config_dir=config))


def _add_subapps() -> None:
    # Sub-apps live with their implementation; imported here so `--help` lists them.
    from risk_manager.service.cli import app as service_app
    from risk_manager.ui.admin_cli import app as admin_app

    app.add_typer(admin_app, name="admin", help="Admin commands (rules, accounts, lock/unlock).")
    app.add_typer(service_app, name="service", help="Install/start/stop the OS service.")
    from risk_manager.ui.self_lock_cmd import lock as self_lock

    app.command("lock")(self_lock)


def main() -> None:
    _add_subapps()
    app()
