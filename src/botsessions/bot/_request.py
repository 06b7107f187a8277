"""How the parameters of a Bot API call become a request body.

Without files, a call is one JSON object (``None`` values left out). With files
anywhere in the parameters it becomes ``multipart/form-data``, as the Bot API asks:
a file parameter (``photo=...``) is sent as a file part under its own name; a file
nested in an object or array (the ``media`` of ``sendMediaGroup``) is replaced by
``"attach://fileN"`` and sent as the part ``fileN``; every other value is a text part,
objects and arrays (``reply_markup``) as JSON text.

A file is an ``InputFile``, or directly ``bytes``, a ``pathlib.Path`` or an open
binary file. Strings are never files: a string is a ``file_id`` or a URL, which
Telegram fetches itself.

``multipart_body()`` writes the multipart body (RFC 7578): one part per parameter,
each with its ``Content-Disposition`` (the name, and the ``filename`` of a file part) and
``Content-Type``.
"""

from __future__ import annotations

import asyncio
import datetime
import io
import os
from collections.abc import Mapping, Sequence
from typing import Any, BinaryIO

import orjson

from botsessions.bot._objects import TelegramObject

__all__ = ["FilePart", "InputFile", "as_input_file", "encode_params", "multipart_body"]

FilePart = tuple[str, "InputFile"]
"""A file to upload and the name of its multipart part."""


class InputFile:
    """A file to upload with a Bot API call (``send_photo``, ``send_document``, ...).

    Args:
        source: the content (``bytes``), a path to read (``pathlib.Path`` or ``os.PathLike``),
            or an open binary file (read from its current position when the call is made).
        filename: the name Telegram shows (default: the path's or file's name, else
            ``"file"``).

    A path or file is read when the request is sent (in a worker thread), so building
    an ``InputFile`` does no I/O. A file object is read once: to upload it again, pass a
    new ``InputFile`` (or the ``file_id`` Telegram returned).
    """

    __slots__ = ("filename", "source")

    def __init__(
        self, source: bytes | os.PathLike[str] | BinaryIO, filename: str | None = None
    ) -> None:
        if isinstance(source, str):
            raise TypeError(
                "InputFile takes bytes, a pathlib.Path or an open binary file; a string is "
                "a file_id or URL: pass it to the method directly"
            )
        if not isinstance(source, bytes | bytearray | os.PathLike) and not hasattr(source, "read"):
            raise TypeError(
                f"InputFile takes bytes, a pathlib.Path or an open binary file, "
                f"got {type(source).__name__}"
            )
        self.source = source
        if filename is None:
            name = os.fspath(source) if isinstance(source, os.PathLike) else None
            if name is None:
                name = getattr(source, "name", None)
            filename = os.path.basename(name) if isinstance(name, str) and name else "file"
        self.filename = filename

    def __repr__(self) -> str:
        return f"InputFile(filename={self.filename!r})"

    async def read(self) -> bytes:
        """The file's content (paths and file objects are read in a worker thread)."""
        source = self.source
        if isinstance(source, bytes | bytearray):
            return bytes(source)
        if isinstance(source, os.PathLike):
            path = os.fspath(source)
            return await asyncio.to_thread(_read_path, path)
        data = await asyncio.to_thread(source.read)
        if isinstance(data, str):
            raise TypeError("InputFile needs a file opened in binary mode ('rb'), not text mode")
        return bytes(data)


def _read_path(path: str) -> bytes:
    with open(path, "rb") as file:
        return file.read()


def as_input_file(value: Any) -> InputFile | None:
    """``value`` as an ``InputFile`` when it is a file to upload, else None."""
    if isinstance(value, InputFile):
        return value
    if isinstance(value, bytes | bytearray | os.PathLike | io.IOBase):
        return InputFile(value)  # type: ignore[arg-type]  # IOBase: a binary file, checked on read
    return None


def _plain(value: Any, files: list[FilePart]) -> Any:
    """``value`` as JSON-ready data; nested files become ``attach://`` references."""
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, dict):
        return {key: _plain(item, files) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item, files) for item in value]
    file = as_input_file(value)
    if file is not None:
        name = f"file{len(files)}"
        files.append((name, file))
        return f"attach://{name}"
    if isinstance(value, TelegramObject):
        return _plain(value.raw, files)
    if isinstance(value, datetime.datetime):
        return int(value.timestamp())  # the Bot API takes dates as Unix time
    dump = getattr(value, "model_dump", None)
    if callable(dump):  # a pydantic model, e.g. aiogram's InlineKeyboardMarkup
        return _plain(dump(mode="json", exclude_none=True, by_alias=True), files)
    return value  # left to orjson (enums, dataclasses, ...)


def encode_params(params: Mapping[str, Any]) -> bytes | list[tuple[str, str | InputFile]]:
    """The JSON body of a call, or its multipart parts when it uploads files.

    Raises:
        TypeError: a value cannot be encoded as JSON.
    """
    files: list[FilePart] = []
    fields: dict[str, Any] = {}
    top_files: list[FilePart] = []
    for key, value in params.items():
        if value is None:
            continue
        file = as_input_file(value)
        if file is not None:
            top_files.append((key, file))
        else:
            fields[key] = _plain(value, files)
    if not files and not top_files:
        return orjson.dumps(fields)
    parts: list[tuple[str, str | InputFile]] = []
    for key, value in fields.items():
        if isinstance(value, str):
            parts.append((key, value))
        elif isinstance(value, bool):
            parts.append((key, "true" if value else "false"))
        else:
            parts.append((key, orjson.dumps(value).decode()))
    parts.extend(top_files)
    parts.extend(files)
    return parts


# The escapes HTML forms use in quoted names (RFC 7578 section 4.2 defers to them).
_QUOTED_ESCAPES = str.maketrans({'"': "%22", "\r": "%0D", "\n": "%0A"})
# The bytes RFC 5987 lets through unescaped in an extended value (its attr-char)
_ATTR_CHARS = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$&+-.^_`|~"
)


def _disposition(name: str, filename: str | None) -> str:
    header = f'form-data; name="{name.translate(_QUOTED_ESCAPES)}"'
    if filename is None:
        return header
    quoted = filename.translate(_QUOTED_ESCAPES)
    header = f'{header}; filename="{quoted}"'
    if quoted == filename and filename.isascii():
        return header
    # the UTF-8 name as browsers send it, and the exact name for servers that read
    # RFC 6266's filename* (which takes precedence where understood)
    encoded = "".join(chr(b) if b in _ATTR_CHARS else f"%{b:02X}" for b in filename.encode())
    return f"{header}; filename*=utf-8''{encoded}"


async def multipart_body(parts: Sequence[tuple[str, str | InputFile]]) -> tuple[bytes, str]:
    """The ``multipart/form-data`` body of ``parts``, and its ``Content-Type`` header.

    Text parts are sent as UTF-8 ``text/plain``, files as ``application/octet-stream``
    under their ``filename``; files are read here (see ``InputFile.read()``).
    """
    heads: list[bytes] = []
    contents: list[bytes] = []
    for name, value in parts:
        if isinstance(value, InputFile):
            disposition = _disposition(name, value.filename)
            content_type = "application/octet-stream"
            contents.append(await value.read())
        else:
            disposition = _disposition(name, None)
            content_type = "text/plain; charset=utf-8"
            contents.append(value.encode())
        heads.append(
            f"Content-Disposition: {disposition}\r\nContent-Type: {content_type}\r\n\r\n".encode()
        )
    boundary = os.urandom(16).hex()
    while any(boundary.encode() in content for content in contents):  # as good as never
        boundary = os.urandom(16).hex()
    delimiter = f"--{boundary}\r\n".encode()
    chunks: list[bytes] = []
    for head, content in zip(heads, contents, strict=True):
        chunks += (delimiter, head, content, b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"
