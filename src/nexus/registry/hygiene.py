"""Schedule hygiene: crontab lines and systemd units that run dead, quarantined or retired jobs.

The core of `nexus doctor schedules`. In the incident behind Nexus, four cron
lines kept running scripts from `purgatory/` and `backups/` for days after the
scripts were retired, erroring into every log; and a retired script's other
jobs were never rescheduled. `check_schedules` reads a crontab and a directory
of systemd units and reports:

- entries that run a missing or non-executable file, or one in a quarantine
  folder (the script inside a command line is found, not just the interpreter);
- entries that still run a producer the registry retired, or one the
  configuration disables;
- external producers in `nexus.toml` that nothing schedules. Nexus's own
  producers are scheduled by `nexus worker` and count as scheduled.
"""

from __future__ import annotations

import os
import pwd
import re
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from nexus.errors import ConfigError
from nexus.registry.config import Config, ProducerConfig

#: Folders a script is moved into to take it out of service.
QUARANTINE_DIRS = ("purgatory", "backups", "one_time_migrations", "quarantine", "attic")

FindingKind = Literal[
    "quarantined",  # runs something from a quarantine folder
    "missing_file",  # runs a file (or cd's into a folder) that does not exist
    "not_executable",  # runs a program without the execute bit
    "missing_unit",  # a timer starts a service that is not there
    "malformed",  # a crontab line that is not an entry
    "retired_scheduled",  # still runs a producer the registry retired
    "disabled_scheduled",  # runs a producer nexus.toml declares with enabled = false
    "unscheduled",  # an external producer nothing runs
    "unchecked",  # an external producer whose kind of schedule was not given to look in
]
PathRole = Literal["program", "script", "directory"]
PathProblem = Literal["quarantined", "missing_file", "not_executable"]

_PATH_PRIORITY: dict[PathProblem, int] = {"quarantined": 0, "missing_file": 1, "not_executable": 2}
_CRON_SPECIALS = frozenset(
    ("@reboot", "@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
)
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
_ENV_LINE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\s*=")
_SHELL = re.compile(r"(ba|da|z|k|fi)?sh")
_INTERPRETER = re.compile(
    r"(python|pypy)[0-9.]*|(ba|da|z|k)?sh|perl[0-9.]*|ruby[0-9.]*"
    r"|node(js)?|php[0-9.]*|Rscript|lua[0-9.]*|tclsh"
)
_SCRIPT_SUFFIX = re.compile(r"\.(py|sh|bash|zsh|pl|rb|js|mjs|php|[Rr]|lua|tcl)$")
# Options that take a value, per interpreter: the script is the first other argument.
_INTERPRETER_VALUE_OPTIONS = {"python": ("-W", "-X", "-Q"), "perl": ("-I", "-M"), "node": ("-r",)}
# Options that mean there is no script file: inline code or a module.
_NO_SCRIPT_OPTIONS = ("-c", "-m", "-e", "--eval", "-E")
_WRAPPERS: dict[str, tuple[tuple[str, ...], int]] = {
    # wrapper: (options that take a value, positional arguments before the command)
    "env": (("-u", "--unset", "-C", "--chdir", "-S"), 0),
    "nice": (("-n", "--adjustment"), 0),
    "ionice": (("-c", "-n", "-p", "-P", "-u", "--class", "--classdata"), 0),
    "nohup": ((), 0),
    "exec": ((), 0),
    "time": ((), 0),
    "chronic": ((), 0),
    "setsid": ((), 0),
    "stdbuf": (("-i", "-o", "-e"), 0),
    "sudo": (("-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-U"), 0),
    "timeout": (("-s", "--signal", "-k", "--kill-after"), 1),
    "flock": (("-w", "--timeout", "-E", "--conflict-exit-code"), 1),
}
_UNIT_PREFIXES = "-@+!:"


@dataclass(frozen=True)
class Finding:
    """One thing wrong with the schedules, where it is, and the fix."""

    kind: FindingKind
    source: str  # "crontab.txt:12", "/etc/systemd/system/x.service:7" or "nexus.toml:30"
    message: str  # what is wrong and the fix
    producer: str | None = None
    path: str | None = None  # the file the problem is about, when there is one

    def __str__(self) -> str:
        return f"{self.source}: {self.message}"

    def as_dict(self) -> dict[str, str | None]:
        return {
            "kind": self.kind,
            "source": self.source,
            "message": self.message,
            "producer": self.producer,
            "path": self.path,
        }


@dataclass(frozen=True)
class Schedule:
    """One scheduled command: a crontab entry, or a systemd service's ExecStart."""

    origin: Literal["cron", "systemd"]
    source: str  # file:line
    when: str  # "15 5 * * *", "@daily", the timer's OnCalendar=, or "" for a plain service
    command: str  # the command line as written (ExecStart without its prefixes)
    user: str | None = None
    unit: str | None = None  # the service
    timer: str | None = None  # the timer that starts it
    cwd: Path | None = None  # WorkingDirectory=

    def removal(self) -> str:
        """How to take this schedule out, for messages."""
        if self.origin == "cron":
            return "remove this crontab line"
        name = self.timer or self.unit
        return f"disable and remove {name} (systemctl disable --now {name})"


@dataclass(frozen=True)
class CommandPath:
    """A file a command depends on: the program, a script given to an interpreter, or a cd."""

    path: Path
    role: PathRole


def check_schedules(
    config: Config,
    crontab: Path | None,
    systemd_dir: Path | None,
    retired: set[str],
    *,
    quarantine_dirs: Sequence[str] = QUARANTINE_DIRS,
) -> list[Finding]:
    """Report dead, quarantined and retired schedules, and external producers nothing runs."""
    schedules: list[Schedule] = []
    findings: list[Finding] = []
    if crontab is not None:
        found, malformed = read_crontab(crontab)
        schedules += found
        findings += malformed
    if systemd_dir is not None:
        found, broken = read_units(systemd_dir)
        schedules += found
        findings += broken
    for schedule in schedules:
        finding = _schedule_finding(schedule, config, retired, quarantine_dirs)
        if finding is not None:
            findings.append(finding)
    # In file order: the crontab line by line, then the units by name and line.
    findings.sort(key=lambda f: (_origin(f.source, crontab), *_file_line(f.source)))
    findings += _unscheduled(config, schedules, crontab, systemd_dir, retired)
    return findings


def _origin(source: str, crontab: Path | None) -> int:
    return 0 if crontab is not None and source.startswith(f"{crontab}:") else 1


def _file_line(source: str) -> tuple[str, int]:
    name, _, line = source.rpartition(":")
    return (name, int(line)) if line.isdigit() else (source, 0)


def render_findings(findings: Sequence[Finding]) -> str:
    """Findings one per line, `source: message`, or a line saying all is well."""
    if not findings:
        return "Schedules are clean: nothing dead, quarantined, retired or unscheduled."
    return "\n".join(str(finding) for finding in findings)


# --- reading schedules ------------------------------------------------------------------


def read_crontab(path: Path, *, system: bool | None = None) -> tuple[list[Schedule], list[Finding]]:
    """Entries of a crontab file, and findings for lines that are not entries.

    `system` says whether lines carry a user field (/etc/crontab, /etc/cron.d);
    None decides from the path, then from whether every line names a known user.
    """
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ConfigError(
            f"{path}: cannot read the crontab ({exc.strerror}) — save yours with "
            "`crontab -l > crontab.txt` and pass that file"
        ) from None
    lines = [
        (number, line.strip())
        for number, line in enumerate(text.splitlines(), 1)
        if line.strip() and not line.lstrip().startswith("#") and not _ENV_LINE.match(line.strip())
    ]
    if system is None:
        system = _is_system_crontab(path, [line for _, line in lines])
    schedules: list[Schedule] = []
    malformed: list[Finding] = []
    for number, line in lines:
        entry = parse_cron_line(line, system=system)
        source = f"{path}:{number}"
        if entry is None:
            malformed.append(
                Finding(
                    "malformed",
                    source,
                    "is not a crontab entry (five time fields, "
                    + ("a user, " if system else "")
                    + "then the command) — fix it or remove it",
                )
            )
            continue
        when, user, command = entry
        schedules.append(Schedule("cron", source, when, command, user=user))
    return schedules, malformed


def parse_cron_line(line: str, *, system: bool = False) -> tuple[str, str | None, str] | None:
    """Split a crontab entry into (when, user, command), or None if it is not one."""
    fields = line.split()
    count = 1 if fields and fields[0].startswith("@") else 5
    if count == 1 and fields[0] not in _CRON_SPECIALS:
        return None
    if count == 5 and not all(re.fullmatch(r"[0-9A-Za-z*/,-]+", f) for f in fields[:5]):
        return None
    parts = line.split(None, count + (1 if system else 0))
    if len(parts) < count + (2 if system else 1):
        return None
    user = parts[count] if system else None
    command = _cron_command(parts[-1])
    return " ".join(parts[:count]), user, command


def _cron_command(text: str) -> str:
    """The command of an entry: cron turns the first unescaped % into stdin."""
    match = re.search(r"(?<!\\)%", text)
    return (text[: match.start()] if match else text).replace("\\%", "%").strip()


def _is_system_crontab(path: Path, lines: list[str]) -> bool:
    if path == Path("/etc/crontab") or path.parent == Path("/etc/cron.d"):
        return True
    if not lines:
        return False
    for line in lines:
        fields = line.split()
        at = 1 if fields[0].startswith("@") else 5
        if len(fields) < at + 2 or not _is_user(fields[at]):
            return False
    return True


def _is_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def read_units(directory: Path) -> tuple[list[Schedule], list[Finding]]:
    """Services (with the timers that start them) in a systemd unit directory."""
    if not directory.is_dir():
        raise ConfigError(
            f"{directory}: not a directory of systemd units — pass e.g. /etc/systemd/system"
        )
    units = {
        path.name: _read_unit(path)
        for path in sorted(directory.iterdir())
        if path.suffix in (".service", ".timer") and not _masked(path)
    }
    timers_of: dict[str, list[str]] = {}
    findings: list[Finding] = []
    for name, unit in units.items():
        if not name.endswith(".timer"):
            continue
        target, line = unit.first("Timer", "Unit") or (name.removesuffix(".timer") + ".service", 0)
        service = _existing_service(target, units)
        if service is None:
            findings.append(
                Finding(
                    "missing_unit",
                    f"{directory / name}:{line or 1}",
                    f"starts {target}, which is not in {directory} — disable and remove "
                    f"{name} (systemctl disable --now {name}) or restore {target}",
                )
            )
        else:
            timers_of.setdefault(service, []).append(name)
    schedules = []
    for name, unit in units.items():
        if not name.endswith(".service"):
            continue
        cwd = unit.first("Service", "WorkingDirectory")
        user = unit.first("Service", "User")
        timers = timers_of.get(name, [])
        when = ", ".join(
            f"{key}={value}"
            for timer in timers
            for key, value, _ in units[timer].entries("Timer")
            if key.startswith("On")
        )
        for command, line in unit.exec_start():
            schedules.append(
                Schedule(
                    "systemd",
                    f"{directory / name}:{line}",
                    when,
                    command,
                    user=user[0] if user else None,
                    unit=name,
                    timer=timers[0] if timers else None,
                    cwd=Path(cwd[0].lstrip("-"))
                    if cwd and cwd[0].lstrip("-").startswith("/")
                    else None,
                )
            )
    return schedules, findings


def _masked(path: Path) -> bool:
    return path.is_symlink() and path.resolve() == Path("/dev/null")


def _existing_service(target: str, units: dict[str, _Unit]) -> str | None:
    if target in units:
        return target
    # An instance (name@x.service) runs from its template (name@.service).
    template = re.sub(r"@[^.]+\.service$", "@.service", target)
    return template if template in units else None


@dataclass
class _Unit:
    """The key=value lines of a unit file, by section, with their line numbers."""

    lines: list[tuple[str, str, str, int]]  # (section, key, value, line)

    def entries(self, section: str) -> list[tuple[str, str, int]]:
        return [(k, v, n) for s, k, v, n in self.lines if s == section]

    def first(self, section: str, key: str) -> tuple[str, int] | None:
        return next(((v, n) for k, v, n in self.entries(section) if k == key), None)

    def exec_start(self) -> list[tuple[str, int]]:
        """ExecStart= commands; an empty assignment clears the earlier ones, as in systemd."""
        commands: list[tuple[str, int]] = []
        for key, value, line in self.entries("Service"):
            if key == "ExecStart":
                commands = [] if not value else [*commands, (value, line)]
        return commands


def _read_unit(path: Path) -> _Unit:
    section = ""
    lines: list[tuple[str, str, str, int]] = []
    pending = ""
    start = 0
    for number, raw in enumerate(
        path.read_text(encoding="utf-8", errors="replace").splitlines(), 1
    ):
        text = raw.strip()
        if not pending and (not text or text[0] in "#;"):
            continue
        if not pending:
            start = number
        if text.endswith("\\"):
            pending += text[:-1] + " "
            continue
        text, pending = pending + text, ""
        if text.startswith("[") and text.endswith("]"):
            section = text[1:-1]
        elif "=" in text:
            key, value = text.split("=", 1)
            lines.append((section, key.strip(), value.strip(), start))
    return _Unit(lines)


# --- what a command runs ----------------------------------------------------------------


def command_paths(command: str, cwd: Path | None = None) -> list[CommandPath]:
    """The files a shell command line depends on, in order.

    For `cd /opt/x && /usr/bin/python3 /opt/x/purgatory/monday_sync.py >> /var/log/x.log 2>&1`
    that is the directory /opt/x, the program /usr/bin/python3 and the script
    /opt/x/purgatory/monday_sync.py — never redirection targets. Relative paths are
    resolved against a preceding `cd` (or `cwd`); paths with variables are skipped.
    """
    found: list[CommandPath] = []
    for words in _simple_commands(_shell_words(command)):
        paths, cwd = _paths_of_simple(words, cwd)
        found += [p for p in paths if p not in found]
    return found


def exec_start_paths(value: str, cwd: Path | None = None) -> list[CommandPath]:
    """The files a systemd ExecStart= line depends on, after its -@+!: prefixes."""
    prefixes = value[: len(value) - len(value.lstrip(_UNIT_PREFIXES))]
    try:
        words = shlex.split(value[len(prefixes) :])
    except ValueError:
        words = value[len(prefixes) :].split()
    if "@" in prefixes and len(words) > 1:
        del words[1]  # with @, the second word is argv[0], not an argument
    paths, _ = _paths_of_simple(words, cwd)
    return paths


def _shell_words(command: str) -> list[str]:
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        return list(lexer)
    except ValueError:  # unbalanced quotes: cron would fail too, but still look at the words
        return command.split()


def _is_operator(word: str) -> bool:
    return bool(word) and all(char in "();<>|&" for char in word)


def _simple_commands(words: list[str]) -> list[list[str]]:
    """Split shell words at ; && || | & and drop redirections with their targets."""
    commands: list[list[str]] = [[]]
    skip_next = False
    for word in words:
        if skip_next:
            skip_next = False
        elif _is_operator(word) and ("<" in word or ">" in word):
            skip_next = not word.endswith("&") or word in ("<&", ">&")
        elif _is_operator(word):
            commands.append([])
        else:
            commands[-1].append(word)
    return [c for c in commands if c]


def _paths_of_simple(words: list[str], cwd: Path | None) -> tuple[list[CommandPath], Path | None]:
    """The files one simple command depends on, and the working directory after it."""
    while words and _ASSIGNMENT.match(words[0]):
        words = words[1:]
    if not words:
        return [], cwd
    program, args = words[0], words[1:]
    name = Path(program).name
    if program == "cd":
        target = next((a for a in args if not a.startswith("-")), None)
        folder = _resolve(target, cwd) if target else None
        return ([CommandPath(folder, "directory")] if folder else []), folder
    if name in _WRAPPERS:
        return _paths_of_simple(_unwrap(name, args), cwd)
    found: list[CommandPath] = []
    resolved = _resolve(program, cwd) if "/" in program else None
    if resolved is not None:
        found.append(CommandPath(resolved, "program"))
    inline = _shell_inline(name, args)
    if inline is not None:
        found += command_paths(inline, cwd)
    elif _INTERPRETER.fullmatch(name):
        script = _script_argument(name, args)
        located = _resolve(script, cwd) if script else None
        if located is not None:
            found.append(CommandPath(located, "script"))
    for arg in args:
        value = arg.split("=", 1)[1] if arg.startswith("-") and "=" in arg else arg
        if value.startswith("/") and _SCRIPT_SUFFIX.search(value) and _plain(value):
            candidate = CommandPath(Path(value), "script")
            if all(p.path != candidate.path for p in found):
                found.append(candidate)
    return found, cwd


def _unwrap(wrapper: str, args: list[str]) -> list[str]:
    """The command a wrapper like `env`, `nice`, `timeout 1h` or `flock file` runs."""
    value_options, positionals = _WRAPPERS[wrapper]
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":
            index += 1
            break
        if arg.startswith("-") and len(arg) > 1:
            index += 2 if arg in value_options else 1
        elif wrapper == "env" and _ASSIGNMENT.match(arg):
            index += 1
        else:
            break
    rest = args[index + positionals :]
    if wrapper == "flock" and len(rest) > 1 and rest[0] in ("-c", "--command"):
        return ["sh", "-c", rest[1]]
    return rest


def _shell_inline(name: str, args: list[str]) -> str | None:
    """The command string of `bash -c '…'` (or `-lc`), if that is what this is."""
    if not _SHELL.fullmatch(name):
        return None
    for index, arg in enumerate(args):
        if not arg.startswith("-") or arg.startswith("--"):
            return None
        if "c" in arg[1:]:
            return args[index + 1] if index + 1 < len(args) else None
    return None


def _script_argument(name: str, args: list[str]) -> str | None:
    """The script an interpreter runs: its first argument that is not an option."""
    family = re.sub(r"[0-9.]+$", "", name)
    value_options = _INTERPRETER_VALUE_OPTIONS.get(family, ())
    index = 0
    while index < len(args):
        arg = args[index]
        if arg in _NO_SCRIPT_OPTIONS:
            return None
        if arg == "--":
            return args[index + 1] if index + 1 < len(args) else None
        if arg.startswith("-") and len(arg) > 1:
            index += 2 if arg in value_options else 1
            continue
        return arg
    return None


def _plain(path: str) -> bool:
    """Whether a path can be checked as written: no variables, globs or home shortcuts."""
    return not any(char in path for char in "$`*?~%")


def _resolve(path: str, cwd: Path | None) -> Path | None:
    if not _plain(path):
        return None
    if path.startswith("/"):
        return Path(os.path.normpath(path))
    return Path(os.path.normpath(cwd / path)) if cwd is not None else None


# --- judging them -----------------------------------------------------------------------


def _schedule_finding(
    schedule: Schedule, config: Config, retired: set[str], quarantine_dirs: Sequence[str]
) -> Finding | None:
    """The one most useful thing to say about a schedule, if anything is wrong."""
    for name in sorted(retired):
        producer = config.producers.get(name)
        if _runs(schedule, name, producer):
            return Finding(
                "retired_scheduled",
                schedule.source,
                f"still runs {name}, which was retired in the registry — "
                f"{schedule.removal()}, or `nexus producers restore {name}` if it should run",
                producer=name,
            )
    for name, producer in config.producers.items():
        if producer.kind == "external" and not producer.enabled and _runs(schedule, name, producer):
            return Finding(
                "disabled_scheduled",
                schedule.source,
                f"runs producers.{name}, which nexus.toml declares with enabled = false — "
                f"{schedule.removal()}, or set enabled = true",
                producer=name,
            )
    paths = _schedule_paths(schedule)
    problems = [p for p in (_path_problem(c, quarantine_dirs) for c in paths) if p is not None]
    if not problems:
        return None
    kind, path, what = min(problems, key=lambda p: _PATH_PRIORITY[p[0]])
    fix = {
        "quarantined": f"{schedule.removal()}; if the job is still needed, move it out and "
        "declare it as a producer in nexus.toml",
        "missing_file": f"{schedule.removal()}, or restore the file if the job is still needed",
        "not_executable": f"{schedule.removal()} if it was disabled on purpose, or chmod +x {path}",
    }[kind]
    return Finding(kind, schedule.source, f"{what} — {fix}", path=str(path))


def _schedule_paths(schedule: Schedule) -> list[CommandPath]:
    if schedule.origin == "systemd":
        return exec_start_paths(schedule.command, schedule.cwd)
    return command_paths(schedule.command, schedule.cwd)


def _path_problem(
    item: CommandPath, quarantine_dirs: Sequence[str]
) -> tuple[PathProblem, Path, str] | None:
    """(kind, path, what is wrong) for one file a command depends on."""
    path, role = item.path, item.role
    verb = "changes into" if role == "directory" else "runs"
    folder = next((part for part in path.parts if part in quarantine_dirs), None)
    if folder is not None:
        return "quarantined", path, f"{verb} {path}, which is in a quarantine folder ({folder}/)"
    if role == "directory":
        return (
            None
            if path.is_dir()
            else ("missing_file", path, f"{verb} {path}, which does not exist")
        )
    if not path.exists():
        return "missing_file", path, f"{verb} {path}, which does not exist"
    if role == "program" and (path.is_dir() or not os.access(path, os.X_OK)):
        return "not_executable", path, f"{verb} {path}, which is not executable"
    return None


def _runs(schedule: Schedule, name: str, producer: ProducerConfig | None) -> bool:
    """Whether a schedule runs this producer, judged by its declared command, unit or cron."""
    if producer is not None and producer.unit:
        return _same_unit(producer.unit, schedule)
    if producer is not None and producer.cron:
        return schedule.origin == "cron" and _same_cron(producer.cron, schedule)
    if producer is not None and producer.command:
        return _same_command(producer.command, schedule)
    # Nothing declared to compare with (a retired script, or one of Nexus's own
    # producers): a schedule runs it if it names it, as a word or a script's name.
    words = set(_shell_words(schedule.command))
    stems = {p.path.stem for p in _schedule_paths(schedule) if p.role != "directory"}
    return name in words or name in stems


def _same_unit(unit: str, schedule: Schedule) -> bool:
    names = {n for n in (schedule.unit, schedule.timer) if n}
    if "." in unit:
        return unit in names
    return any(n.rsplit(".", 1)[0] == unit for n in names)


def _same_cron(cron: str, schedule: Schedule) -> bool:
    for system in (False, True):
        entry = parse_cron_line(cron.strip(), system=system)
        if entry is None:
            continue
        when, _, command = entry
        if when == schedule.when and _squash(command) == _squash(schedule.command):
            return True
    return False


def _same_command(command: str, schedule: Schedule) -> bool:
    if _squash(command) in _squash(schedule.command.lstrip(_UNIT_PREFIXES)):
        return True
    wanted = _key_paths(command_paths(command))
    return bool(wanted & _key_paths(_schedule_paths(schedule)))


def _key_paths(paths: Iterable[CommandPath]) -> set[Path]:
    """The paths that identify a job: its scripts and programs, not shared interpreters."""
    return {
        p.path
        for p in paths
        if p.role == "script" or (p.role == "program" and not _INTERPRETER.fullmatch(p.path.name))
    }


def _squash(text: str) -> str:
    return " ".join(text.split())


def _unscheduled(
    config: Config,
    schedules: list[Schedule],
    crontab: Path | None,
    systemd_dir: Path | None,
    retired: set[str],
) -> list[Finding]:
    """External producers that no schedule runs (or that could not be looked for)."""
    findings = []
    for name, producer in config.producers.items():
        if producer.kind != "external" or not producer.enabled or name in retired:
            continue
        how = _how(producer)
        where = config.location("producers", name)
        looked_in = {
            "unit": systemd_dir is not None,
            "cron": crontab is not None,
            "command": crontab is not None or systemd_dir is not None,
        }[how[0]]
        if not looked_in:
            wanted = {
                "unit": "--systemd DIR",
                "cron": "--crontab FILE",
                "command": "--crontab FILE or --systemd DIR",
            }[how[0]]
            findings.append(
                Finding(
                    "unchecked",
                    where,
                    f"producers.{name} runs as {how[1]}, but no {wanted} was given, so its "
                    f"schedule was not checked — pass {wanted}",
                    producer=name,
                )
            )
        elif not any(_runs(schedule, name, producer) for schedule in schedules):
            findings.append(
                Finding(
                    "unscheduled",
                    where,
                    f"producers.{name} ({how[1]}) has no schedule: no crontab line or systemd "
                    f"unit runs it — schedule it, or retire it with "
                    f"`nexus producers retire {name}`",
                    producer=name,
                )
            )
    return findings


def _how(producer: ProducerConfig) -> tuple[str, str]:
    if producer.unit:
        return "unit", f"unit {producer.unit}"
    if producer.cron:
        return "cron", f"cron '{producer.cron}'"
    return "command", f"command '{producer.command}'"
