"""The output folder of a run: claimed, locked and only ever ours to change.

A run folder holds `manifest.json` (written first: it marks the folder as
made by tf_nnrnn and lists what a run may write), then `config.json`,
`metrics.csv`, `result.json`, `learning_curve.png`, `best.weights.h5` and
`backup/`. The rules (`RunFolder.claim`):

- a missing or empty folder becomes ours;
- a non-empty folder without our manifest is refused (`SettingError`
  naming `out`), whatever the flags: we never delete or replace a file we
  did not write. (A folder of tf_nnrnn 0.1, whose entries are all our file
  names with a readable `config.json`, counts as ours.);
- only one process at a time: an exclusive `flock` on `.lock`, released
  by the kernel when the process ends (so a killed run leaves no stale
  lock), refuses a second run into the same folder;
- `clear()` (for `--overwrite`, or a fresh start) removes only the files
  the manifest lists, and inside `backup/` only checkpoint files named as
  we name them; a folder is removed only when it is then empty.
"""

from __future__ import annotations

import json
import os
import re

from tf_nnrnn.experiments.presets import SettingError
from tf_nnrnn.experiments.results import atomic_write_json

__all__ = ["RunFolder", "MANIFEST", "OWNED", "BACKUP_FILE"]

MANIFEST = "manifest.json"
LOCK = ".lock"
#: The files a run writes at the top of its folder.
OWNED = (
    MANIFEST,
    LOCK,
    "config.json",
    "metrics.csv",
    "result.json",
    "learning_curve.png",
    "best.weights.h5",
    "partial-best.weights.h5",
)
BACKUP = "backup"
#: Names of the files a run writes inside `backup/`.
BACKUP_FILE = re.compile(r"^(backup\.json|epoch-\d+\.weights\.h5)$")
_TEMP = re.compile(r"^\..+\.tmp$")  # `results._atomic`'s temporary files
_TOOL = "tf_nnrnn"


def _error(message: str) -> SettingError:
    return SettingError("out", message)


class RunFolder:
    """One run's output folder.

    Args:
        path: the folder (`--out`).
        owned: the names a run writes at the top of the folder (default
            `OWNED`; `manifest.json` and `.lock` are always added).

    Example:
        >>> import os, tempfile
        >>> folder = RunFolder(os.path.join(tempfile.mkdtemp(), "run"))
        >>> folder.claim()
        >>> sorted(os.listdir(folder.path))
        ['.lock', 'manifest.json']
        >>> folder.release()
    """

    def __init__(self, path: str, owned: tuple = OWNED):
        self.path = path
        self.owned = tuple(dict.fromkeys((MANIFEST, LOCK, *owned)))
        self._lock_fd: int | None = None

    def file(self, name: str) -> str:
        return os.path.join(self.path, name)

    @property
    def backup_dir(self) -> str:
        return self.file(BACKUP)

    # -- ownership -------------------------------------------------------
    def _check_path(self) -> None:
        path = self.path
        if os.path.exists(path) and not os.path.isdir(path):
            raise _error(
                f"{path!r} is a file, not a folder; choose a new or empty "
                "folder with --out."
            )
        parent = os.path.dirname(os.path.abspath(path))
        while parent and not os.path.exists(parent):
            parent = os.path.dirname(parent)
        if parent and not os.path.isdir(parent):
            raise _error(
                f"cannot create {path!r}: {parent!r} is a file; choose "
                "another folder with --out."
            )
        if os.path.isdir(path) and not os.access(path, os.W_OK | os.X_OK):
            raise _error(f"{path!r} is not writable; choose another --out.")

    def is_ours(self) -> bool:
        """True when the folder is missing, empty, or written by a run."""
        if not os.path.isdir(self.path):
            return True
        entries = set(os.listdir(self.path))
        if not entries:
            return True
        manifest = self._read_json(MANIFEST)
        if isinstance(manifest, dict) and manifest.get("tool") == _TOOL:
            return True
        # tf_nnrnn 0.1 folders: only our names, with a readable config.json.
        config = self._read_json("config.json")
        legacy = set(self.owned) | {BACKUP}
        return (
            isinstance(config, dict)
            and "settings" in config
            and all(e in legacy or _TEMP.match(e) for e in entries)
        )

    def _read_json(self, name: str):
        try:
            with open(self.file(name), encoding="utf-8") as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def claim(self) -> None:
        """Make the folder ours and lock it (see the module docstring).

        Raises:
            SettingError: the folder is not ours, not usable, or another
                run holds it.
        """
        self._check_path()
        if not self.is_ours():
            foreign = sorted(
                e
                for e in os.listdir(self.path)
                if e not in self.owned and e != BACKUP
            )
            shown = ", ".join(foreign[:3]) + (", ..." * (len(foreign) > 3))
            raise _error(
                f"{self.path!r} holds files this tool did not write "
                f"({shown or 'no manifest.json'}); choose a new or empty "
                "folder with --out (tf_nnrnn never replaces files it did "
                "not write)."
            )
        try:
            os.makedirs(self.path, exist_ok=True)
        except OSError as error:
            raise _error(
                f"cannot create {self.path!r} ({error.strerror}); choose "
                "another folder with --out."
            ) from None
        self._lock()
        if self._read_json(MANIFEST) is None:
            atomic_write_json(
                self.file(MANIFEST),
                {"tool": _TOOL, "files": list(self.owned) + [BACKUP + "/"]},
            )

    def _lock(self) -> None:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no lock
            return
        fd = os.open(self.file(LOCK), os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise _error(
                f"another run is writing to {self.path!r} right now; wait "
                "for it to finish or choose another folder with --out."
            ) from None
        self._lock_fd = fd

    def release(self) -> None:
        """Drop the lock (also dropped by the kernel when the process ends)."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self):
        self.claim()
        return self

    def __exit__(self, *exc):
        self.release()

    # -- state -----------------------------------------------------------
    def config(self) -> dict | None:
        """The stored `config.json`; None when absent.

        Raises:
            SettingError: it exists but cannot be read.
        """
        if not os.path.exists(self.file("config.json")):
            return None
        config = self._read_json("config.json")
        if not isinstance(config, dict) or "settings" not in config:
            raise _error(
                f"{self.file('config.json')!r} is damaged (not the JSON a "
                "run writes); pass --overwrite to start this run again, or "
                "choose another folder with --out."
            )
        return config

    def result(self) -> dict | None:
        """The stored `result.json` of a finished run, else None."""
        result = self._read_json("result.json")
        return result if isinstance(result, dict) else None

    def clear(self) -> list[str]:
        """Remove what a run wrote (never the manifest or the lock).

        Returns:
            The removed paths.
        """
        removed = []
        keep = (MANIFEST, LOCK)
        for name in self.owned:
            path = self.file(name)
            if name not in keep and os.path.isfile(path):
                os.remove(path)
                removed.append(path)
        return removed + self.clear_backup()

    def clear_backup(self) -> list[str]:
        """Remove the checkpoint files of ours in `backup/` (and the folder
        when it is then empty); returns the removed paths."""
        removed = []
        backup = self.backup_dir
        if os.path.isdir(backup):
            for name in os.listdir(backup):
                path = os.path.join(backup, name)
                ours = BACKUP_FILE.match(name) or _TEMP.match(name)
                if ours and os.path.isfile(path):
                    os.remove(path)
                    removed.append(path)
            if not os.listdir(backup):
                os.rmdir(backup)
        return removed

    def open(
        self,
        config: dict,
        overwrite: bool = False,
        free: tuple = (),
        defaults: dict | None = None,
    ) -> tuple[str, dict | None]:
        """Claim the folder for the run `config` and say what it holds.

        Args:
            config: the run's `config.json` (`task`, `cell`, `settings`).
            overwrite: clear what an earlier run wrote.
            free: settings that may differ from the stored run's.
            defaults: the value of a setting a stored run lacks.

        Returns:
            `("finished", result)`, `("resume", None)` (an unfinished run
            with a checkpoint) or `("fresh", None)`.

        Raises:
            SettingError (`out`): the folder is not ours or is busy, or it
                holds a run with different settings (without `overwrite`).
        """
        self.claim()
        try:
            old = None if overwrite else self.config()
            if old is not None:
                changed = _changed(old, config, free, defaults or {})
                if changed:
                    raise _error(
                        f"{self.path!r} holds a run with different settings "
                        f"({', '.join(changed)}); pass --overwrite to replace "
                        "it, or choose another folder with --out."
                    )
                result = self.result()
                if result is not None:
                    return "finished", result
                from tf_nnrnn.experiments.checkpoints import has_backup

                if has_backup(self.backup_dir):
                    return "resume", None
            self.clear()  # nothing of value, or --overwrite
            return "fresh", None
        except BaseException:
            self.release()
            raise


def _changed(old: dict, config: dict, free, defaults: dict) -> list[str]:
    """Settings (or task/cell) in which a stored run differs from `config`;
    a setting the stored run lacks (an older version) counts as its
    default."""
    before = old.get("settings", {})
    changed = [
        k
        for k, v in config["settings"].items()
        if k not in free and before.get(k, defaults.get(k)) != v
    ]
    changed += [k for k in ("task", "cell") if old.get(k) != config[k]]
    return sorted(changed)

