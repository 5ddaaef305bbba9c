"""`risk-manager service install|uninstall|start|stop|status` (systemd on Linux, SCM on Windows)."""

from __future__ import annotations

import shlex
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any, TypeVar

import typer

from risk_manager.service import systemd

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)

DryRun = Annotated[bool, typer.Option("--dry-run", help="Print what would be done; change nothing.")]
ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", help="Config directory the service reads (default: the system one)."),
]
InstanceOpt = Annotated[
    str | None,
    typer.Option("--instance", help="One of several logins on this machine: risk-manager@NAME.service "
                                    "with config in <config>/NAME (Linux)."),
]
Runner = Callable[[Sequence[str]], int]


def _is_windows() -> bool:
    return sys.platform == "win32"


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def run_command(argv: Sequence[str]) -> int:
    """Run one command, its output straight to the terminal; return its exit code."""
    typer.echo(f"$ {shlex.join(argv)}")
    try:
        return subprocess.run(list(argv), check=False).returncode
    except FileNotFoundError:
        typer.echo(f"error: {argv[0]} not found", err=True)
        return 127


def print_plan(plan: systemd.Plan) -> None:
    """The dry-run view: exactly the commands and the file `execute_plan` would run and write."""
    for argv in plan.before:
        typer.echo(shlex.join(argv))
    if plan.unit_path is not None and plan.unit_text is not None:
        typer.echo(f"# write {plan.unit_path} (mode 0644):")
        typer.echo(f"cat > {plan.unit_path} <<'EOF'")
        typer.echo(plan.unit_text.rstrip("\n"))
        typer.echo("EOF")
    for path in plan.remove:
        typer.echo(shlex.join(["rm", "-f", str(path)]))
    for argv in plan.after:
        typer.echo(shlex.join(argv))
    for note in plan.notes:
        typer.echo(f"# {note}")


def execute_plan(plan: systemd.Plan, run: Runner = run_command, tolerate: Sequence[str] = ()) -> int:
    """Carry out a plan; stop at the first failing command (unless its verb is in `tolerate`)."""
    for argv in plan.before:
        code = run(argv)
        if code != 0 and not any(verb in argv for verb in tolerate):
            typer.echo(f"error: `{shlex.join(argv)}` failed with exit code {code}", err=True)
            return code
    if plan.unit_path is not None and plan.unit_text is not None:
        plan.unit_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = plan.unit_path.with_name(plan.unit_path.name + ".tmp")
        tmp.write_text(plan.unit_text)
        tmp.chmod(0o644)
        tmp.replace(plan.unit_path)
        typer.echo(f"wrote {plan.unit_path}")
    for path in plan.remove:
        path.unlink(missing_ok=True)
        typer.echo(f"removed {path}")
    for argv in plan.after:
        code = run(argv)
        if code != 0 and not any(verb in argv for verb in tolerate):
            typer.echo(f"error: `{shlex.join(argv)}` failed with exit code {code}", err=True)
            return code
    for note in plan.notes:
        typer.echo(note)
    return 0


def _linux_preflight(action: str) -> None:
    problem = systemd.root_problem(action) or systemd.systemd_problem()
    if problem:
        raise _fail(problem)


def _refusal(plan: systemd.Plan) -> None:
    """Say why the unit could not start as its user, and how to fix it."""
    for problem in plan.problems:
        typer.echo(f"error: {problem}", err=True)
    typer.echo(f"The service would fail to start. {systemd.INSTALL_FIX}", err=True)


def _check_instance(instance: str | None) -> None:
    problem = systemd.check_instance_name(instance) if instance is not None else None
    if problem:
        raise _fail(problem)


@app.command()
def install(
    dry_run: DryRun = False,
    config: ConfigOpt = None,
    user: Annotated[str, typer.Option("--user", help="Account the Linux service runs as.")] = systemd.DEFAULT_USER,
    instance: InstanceOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Install although the service user seems unable to "
                                                        "run this installation.")] = False,
) -> None:
    """Install the service: auto-start at boot, restart on failure."""
    if _is_windows():
        _windows_install(config, dry_run)
        return
    _check_instance(instance)
    config_dir = (config or systemd.DEFAULT_CONFIG_DIR).absolute()
    # The template reads <config>/%i; systemd puts the instance name there.
    exec_config = Path(f"{config_dir}/%i") if instance else config_dir
    spec = systemd.UnitSpec(exec_start=systemd.default_exec_start(exec_config), user=user, config_dir=config_dir,
                            env_paths=systemd.environment_paths(), template=instance is not None)
    plan = systemd.install_plan(spec, instance=instance)
    if dry_run:
        print_plan(plan)
        if plan.problems:
            _refusal(plan)
            raise typer.Exit(1)
        return
    if plan.problems and not force:  # first: the fix matters more than sudo or systemd
        _refusal(plan)
        raise typer.Exit(1)
    _linux_preflight("install")
    raise typer.Exit(execute_plan(plan))


@app.command()
def uninstall(dry_run: DryRun = False, instance: InstanceOpt = None) -> None:
    """Stop and remove the service (config, state and logs are kept)."""
    if _is_windows():
        _windows_uninstall(dry_run)
        return
    _check_instance(instance)
    plan = systemd.uninstall_plan(instance=instance)
    if dry_run:
        print_plan(plan)
        return
    _linux_preflight("uninstall")
    # disable/reset-failed fail harmlessly when the unit is already gone.
    raise typer.Exit(execute_plan(plan, tolerate=("disable", "reset-failed")))


@app.command()
def start(instance: InstanceOpt = None) -> None:
    """Start the service now."""
    _control("start", instance)


@app.command()
def stop(instance: InstanceOpt = None) -> None:
    """Stop the service (needs root / administrator)."""
    _control("stop", instance)


@app.command()
def status(instance: InstanceOpt = None) -> None:
    """Is the service installed and running? Exit 0 only when it is running."""
    if _is_windows():
        state = _windows_call(lambda win: win.status())
        typer.echo(f"{_win().SERVICE_NAME}: {state}")
        raise typer.Exit(0 if state == "running" else 3)
    _check_instance(instance)
    problem = systemd.systemd_problem()
    if problem:
        raise _fail(problem)
    code = run_command(systemd.control_command("status", instance))
    if code == 4:
        unit = systemd.instance_unit(instance) if instance else systemd.UNIT_NAME
        typer.echo(f"{unit} is not installed: sudo risk-manager service install"
                   + (f" --instance {instance}" if instance else ""))
    raise typer.Exit(code)


def _control(verb: str, instance: str | None = None) -> None:
    if _is_windows():
        _windows_call(lambda win: win.start() if verb == "start" else win.stop())
        typer.echo(f"{_win().SERVICE_NAME}: {verb} done")
        return
    _check_instance(instance)
    _linux_preflight(verb)
    raise typer.Exit(run_command(systemd.control_command(verb, instance)))


# --- Windows ----------------------------------------------------------------------------------
_T = TypeVar("_T")


def _win() -> ModuleType:
    try:
        from risk_manager.service import windows
    except ImportError as exc:
        raise _fail(
            f"pywin32 is not usable ({exc}). Install it into this environment: "
            f'"{sys.executable}" -m pip install pywin32'
        ) from exc
    return windows


def _windows_call(fn: Callable[[ModuleType], _T]) -> _T:
    win = _win()
    try:
        return fn(win)
    except Exception as exc:
        raise _fail(win.error_text(exc)) from exc


def _windows_install(config: Path | None, dry_run: bool) -> None:
    win = _win()
    env = win.gather_env()
    check = win.check_preconditions(env)
    for warning in check.warnings:
        typer.echo(f"warning: {warning}")
    if check.problems and not (dry_run and env.pythonservice_exe is not None):
        for problem in check.problems:
            typer.echo(f"error: {problem}", err=True)
        raise typer.Exit(1)
    for problem in check.problems:  # dry run: show, then still print the steps
        typer.echo(f"problem: {problem}")
    steps = win.install_steps(env, check, (config or win.default_config_dir()).absolute())
    _windows_run(win, steps, dry_run)
    if not dry_run:
        typer.echo("Installed. Start it with: risk-manager service start (or reboot).")


def _windows_uninstall(dry_run: bool) -> None:
    win = _win()
    _windows_run(win, win.uninstall_steps(), dry_run)


def _windows_run(win: ModuleType, steps: Sequence[Any], dry_run: bool) -> None:
    for step in steps:
        typer.echo(step.describe)
        if not dry_run:
            try:
                step.run()
            except Exception as exc:
                raise _fail(f"{step.describe}: {win.error_text(exc)}") from exc
