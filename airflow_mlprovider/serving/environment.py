"""The environment model code runs in: what a process needs to run Python and libraries, and no secret.

`mlprovider serve` reads its admin token, then re-executes itself with this environment (the token travels
through a pipe), so neither os.environ nor /proc/self/environ of the serving process holds a connection,
an Airflow variable or setting, a cloud key or the token.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

#: names a Python process and common numeric libraries use; everything else is left out unless passed
RUNTIME_NAMES = frozenset({
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "TERM", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TEMP", "TMP",
    "VIRTUAL_ENV", "LD_LIBRARY_PATH", "PYTHONPATH", "PYTHONHASHSEED", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE",
    "PYTHONIOENCODING", "PYTHONWARNINGS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
})
RUNTIME_PREFIXES = ("LC_",)


def model_environment(environ: Mapping[str, str], passed: Iterable[str] = (), secret: Iterable[str] = ()) -> dict[str, str]:
    """The runtime variables of `environ`, plus the `passed` names, minus the `secret` ones (which always go)."""
    passed, secret = set(passed), set(secret)
    return {
        name: value
        for name, value in environ.items()
        if name not in secret and (name in RUNTIME_NAMES or name.startswith(RUNTIME_PREFIXES) or name in passed)
    }
