"""A downloaded export file, as both clients return it."""

from __future__ import annotations

import dataclasses

import httpx


@dataclasses.dataclass(frozen=True)
class ExportFile:
    """A downloaded export: the bytes as stored, their type and the file's name."""

    content: bytes
    content_type: str
    filename: str | None


def _filename(response: httpx.Response) -> str | None:
    disposition = response.headers.get("content-disposition", "")
    for part in disposition.split(";"):
        key, _, value = part.strip().partition("=")
        if key.lower() == "filename":
            return value.strip('"')
    return None


def export_file(response: httpx.Response) -> ExportFile:
    return ExportFile(response.content, response.headers.get("content-type", ""), _filename(response))
