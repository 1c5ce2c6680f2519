"""Reading a credential's value: a file, stdin or hidden prompts, field by field as its kind says.

NOTE: a secret never comes from argv (other processes can read it). A plain
value comes from ``--value-file FILE`` (``-`` for stdin) or a hidden prompt; a
structured kind (:mod:`app.credential_kinds`) takes its public fields as flags
and its secret fields from ``--value-file`` (a JSON object) or one hidden
prompt each.

Usage::

    secret = read_value(value_file, ask=interactive)
    fields = read_fields(kind, {"region": "us-east-1"}, value_file, ask=interactive)
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import click

from app.credential_kinds import CredentialKind
from app.secret import Secret
from tools.cli.errors import CliError

MAX_VALUE_FILE_BYTES: Final = 1024 * 1024


def prompt(text: str, **kwargs: Any) -> Any:
    """``click.prompt``, with end of input as one clear line instead of 'Aborted!'."""
    try:
        return click.prompt(text, **kwargs)
    except click.Abort:
        raise CliError(f"input ended before {text.lower()} was given") from None


def read_file_text(value_file: Path) -> str:
    """The text of ``value_file`` (``-``: stdin), stripped. Raises CliError; never echoes it."""
    try:
        if str(value_file) == "-":
            text = sys.stdin.read(MAX_VALUE_FILE_BYTES + 1)
        else:
            with value_file.open() as handle:
                text = handle.read(MAX_VALUE_FILE_BYTES + 1)
    except OSError as exc:
        raise CliError(f"cannot read the value file {value_file}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise CliError(f"the value file {value_file} is not UTF-8 text") from None
    if len(text) > MAX_VALUE_FILE_BYTES:
        raise CliError(f"the value file {value_file} is larger than a credential value can be")
    return text.strip()


def read_value(value_file: Path | None, *, ask: bool = False) -> Secret:
    """The secret from ``--value-file``, else a hidden prompt (at a terminal, or when ``ask``).

    Raises CliError; NOTE: never echoes the value.
    """
    if value_file is not None:
        return Secret(read_file_text(value_file))
    if not ask and not sys.stdin.isatty():
        raise CliError(
            "no value given: use --value-file FILE (or - to read stdin), or run in a terminal "
            "to be prompted"
        )
    return Secret(prompt("Value (hidden)", hide_input=True))


def read_fields(
    kind: CredentialKind,
    flags: Mapping[str, str],
    value_file: Path | None,
    *,
    ask: bool = False,
) -> Secret:
    """A structured value: public fields from ``flags`` (or prompts), secret ones from
    ``value_file`` (a JSON object) or hidden prompts; checked against ``kind``.

    Raises:
        CliError: a flag is given twice over (flag and file), the file is not a
            JSON object, or input ends; InvalidCredentialValue from the kind's
            own check, naming the field.
    """
    fields: dict[str, str] = dict(flags)
    if value_file is not None:
        try:
            loaded = json.loads(read_file_text(value_file))
        except ValueError:
            loaded = None
        if not isinstance(loaded, dict):
            raise CliError(
                f"--value-file: a {kind.name} credential reads a JSON object of its fields "
                f"({', '.join(kind.secret_fields())})"
            )
        for name, item in loaded.items():
            if name in fields:
                raise CliError(f"value.{name}: given both as a flag and in --value-file")
            fields[str(name)] = item
    else:
        if not ask and not sys.stdin.isatty():
            raise CliError(
                f"no secret fields given: put {', '.join(kind.secret_fields())} in a JSON object "
                "in --value-file FILE (or - for stdin), or run in a terminal to be prompted"
            )
        for spec in kind.fields:
            if spec.name in fields:
                continue
            optional = "" if spec.required else ", optional: Enter to skip"
            label = f"{spec.name} ({spec.help.rstrip('.')}{optional})"
            text = _hidden(label) if spec.secret else prompt_text(label, spec.required)
            if text:
                fields[spec.name] = text
    checked = kind.validate(fields)
    return Secret(json.dumps(checked))


def prompt_text(label: str, required: bool) -> str:
    text: str = prompt(label, default="" if not required else None, show_default=False)
    return text.strip()


def _hidden(label: str) -> str:
    text: str = prompt(label, hide_input=True, default="", show_default=False)
    return text
