"""The shared chart workspace: one JSON file per saved chart in a folder a team points at.

Default folder ``workspace/charts`` (relative to the working directory), or ``$REVENIUM_FLOW_WORKSPACE``,
or the ``--workspace`` option. On first use (folder missing) it is created and filled with the example
charts shipped in ``dashboard/pages/chart_builder/examples``. Names are checked before any path is built, so a name can
never reach outside the folder; writes go through a temporary file and an atomic rename, so a reader never
sees half a file; a corrupt or invalid file is reported and skipped, never fatal.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from dashboard.pages.chart_builder.builder import ChartConfig, ConfigError

ENV_VAR = "REVENIUM_FLOW_WORKSPACE"
DEFAULT_WORKSPACE = Path("workspace") / "charts"
SUFFIX = ".json"
MAX_NAME = 64
MAX_FILE_BYTES = 256 * 1024
#: letters, digits, space, '-' and '_'; starts with a letter or digit; no trailing space
NAME_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9 _-]*[A-Za-z0-9_-])?$")
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}


class WorkspaceError(Exception):
    """A workspace operation failed; the message says which chart and why."""


class ChartNameError(WorkspaceError, ValueError):
    """A chart name is not allowed (path tricks, bad characters, too long, reserved)."""


class ChartNotFound(WorkspaceError, KeyError):
    """No saved chart has this name."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "chart not found"


class ChartExists(WorkspaceError):
    """The target name is taken (names are compared case-insensitively, as on many file systems)."""


@dataclass(frozen=True)
class SavedChart:
    name: str
    config: ChartConfig
    path: Path
    modified_ns: int


@dataclass(frozen=True)
class WorkspaceProblem:
    """A file in the workspace that could not be used, and why."""

    file: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.reason}"


@dataclass
class Listing:
    charts: list[SavedChart] = field(default_factory=list)
    problems: list[WorkspaceProblem] = field(default_factory=list)

    def names(self) -> list[str]:
        return [c.name for c in self.charts]


def name_problem(name: object) -> str | None:
    """Why a chart name is refused, or None when it is fine."""
    if not isinstance(name, str):
        return f"a chart name must be text, got {type(name).__name__}"
    if not name:
        return "a chart name must not be empty"
    if len(name) > MAX_NAME:
        return f"a chart name has at most {MAX_NAME} characters (got {len(name)})"
    if not NAME_RE.match(name):
        return (
            f"chart name {name[:80]!r} is not allowed: use letters, digits, spaces, '-' and '_' "
            "(starting with a letter or digit, no dots, slashes or trailing spaces)"
        )
    if name.lower() in _RESERVED:
        return f"chart name {name!r} is reserved by some operating systems"
    return None


def check_name(name: object) -> str:
    problem = name_problem(name)
    if problem:
        raise ChartNameError(problem)
    return name  # type: ignore[return-value]


def default_workspace() -> Path:
    return Path(os.environ.get(ENV_VAR) or DEFAULT_WORKSPACE)


def example_files() -> list[Path]:
    """The example charts shipped with the package."""
    folder = Path(str(resources.files("dashboard.pages.chart_builder") / "examples"))
    return sorted(folder.glob(f"*{SUFFIX}"))


class Workspace:
    """Saved charts in one folder. Every method re-reads the folder, so teammates' changes show at once."""

    def __init__(self, root: str | os.PathLike[str] | None = None, *, seed_examples: bool = True):
        self.root = Path(root) if root is not None else default_workspace()
        self.seed_examples = seed_examples

    # --- folder ------------------------------------------------------------------------------
    def ensure(self) -> Path:
        """Create the folder on first use, filled with the shipped examples."""
        if not self.root.is_dir():
            self.root.mkdir(parents=True, exist_ok=True)
            if self.seed_examples:
                for src in example_files():
                    target = self.root / src.name
                    if not target.exists():
                        shutil.copyfile(src, target)
        return self.root

    def path_for(self, name: str) -> Path:
        path = self.root / f"{check_name(name)}{SUFFIX}"
        # defence in depth: the name check already rules out separators and dots
        if path.resolve().parent != self.root.resolve():
            raise ChartNameError(f"chart name {name!r} points outside the workspace")
        return path

    def signature(self) -> tuple[tuple[str, int, int], ...]:
        """(file, mtime_ns, size) of every chart file: changes when anyone saves, renames or deletes."""
        if not self.root.is_dir():
            return ()
        out = []
        with os.scandir(self.root) as entries:
            for e in entries:
                if e.name.endswith(SUFFIX) and not e.name.startswith("."):
                    with contextlib.suppress(OSError):
                        st = e.stat()
                        out.append((e.name, st.st_mtime_ns, st.st_size))
        return tuple(sorted(out))

    # --- reading -----------------------------------------------------------------------------
    def list(self) -> Listing:
        """Every valid saved chart (sorted by name) and a problem for every file that is not one."""
        self.ensure()
        listing = Listing()
        for path in sorted(self.root.glob(f"*{SUFFIX}"), key=lambda p: p.name.lower()):
            if path.name.startswith("."):
                continue  # temporary files of a save in progress
            name = path.name[: -len(SUFFIX)]
            problem = name_problem(name)
            if problem:
                listing.problems.append(WorkspaceProblem(path.name, problem))
                continue
            try:
                listing.charts.append(self._read(name, path))
            except WorkspaceError as exc:
                listing.problems.append(WorkspaceProblem(path.name, str(exc)))
        return listing

    def load(self, name: str) -> ChartConfig:
        return self.get(name).config

    def get(self, name: str) -> SavedChart:
        path = self.path_for(name)
        if not path.is_file():
            raise ChartNotFound(f"no saved chart named {name!r}")
        return self._read(name, path)

    def _read(self, name: str, path: Path) -> SavedChart:
        try:
            st = path.stat()
            if st.st_size > MAX_FILE_BYTES:
                raise WorkspaceError(f"file is larger than {MAX_FILE_BYTES // 1024} KB ({st.st_size} bytes)")
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise WorkspaceError(f"cannot read ({exc.strerror or exc})") from exc
        except UnicodeDecodeError as exc:
            raise WorkspaceError(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise WorkspaceError(f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from exc
        try:
            config = ChartConfig.from_dict(doc)
        except ConfigError as exc:
            raise WorkspaceError(f"invalid chart configuration: {exc}") from exc
        return SavedChart(name=name, config=config, path=path, modified_ns=st.st_mtime_ns)

    def _taken(self, name: str) -> str | None:
        """The existing name equal to ``name`` ignoring case, if any."""
        wanted = name.lower() + SUFFIX
        if not self.root.is_dir():
            return None
        for entry in os.listdir(self.root):
            if entry.lower() == wanted:
                return entry[: -len(SUFFIX)]
        return None

    # --- writing -----------------------------------------------------------------------------
    def save(self, name: str, config: ChartConfig, *, overwrite: bool = True) -> SavedChart:
        """Write ``config`` under ``name`` atomically. With ``overwrite=False`` a taken name is refused."""
        path = self.path_for(name)
        self.ensure()
        taken = self._taken(name)
        if taken is not None and (not overwrite or taken != name):
            raise ChartExists(f"a chart named {taken!r} already exists")
        data = (json.dumps(config.to_dict(), indent=2, ensure_ascii=False) + "\n").encode("utf-8")
        tmp = self.root / f".{name}.{os.getpid()}.tmp"
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            if overwrite:
                os.replace(tmp, path)
            else:
                os.link(tmp, path)  # atomic, and fails if someone created the name meanwhile
        except FileExistsError as exc:
            raise ChartExists(f"a chart named {name!r} already exists") from exc
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        return SavedChart(name=name, config=config, path=path, modified_ns=path.stat().st_mtime_ns)

    def duplicate(self, name: str, new_name: str) -> SavedChart:
        """Copy a chart under a new (free) name."""
        return self.save(new_name, self.load(name), overwrite=False)

    def rename(self, name: str, new_name: str) -> SavedChart:
        """Give a chart a new name; only a change of letter case may reuse the same name."""
        config = self.load(name)
        if new_name == name:
            return self.get(name)
        if new_name.lower() == name.lower():  # case-only rename: go through a temporary name
            path, target = self.path_for(name), self.path_for(new_name)
            os.replace(path, path.with_name(f".{name}.{os.getpid()}.rename"))
            os.replace(path.with_name(f".{name}.{os.getpid()}.rename"), target)
            return self.get(new_name)
        saved = self.save(new_name, config, overwrite=False)
        self.path_for(name).unlink()
        return saved

    def delete(self, name: str) -> None:
        path = self.path_for(name)
        try:
            path.unlink()
        except FileNotFoundError as exc:
            raise ChartNotFound(f"no saved chart named {name!r}") from exc
