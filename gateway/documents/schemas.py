"""Response models of the documents API."""

from __future__ import annotations

from pydantic import BaseModel, Field


class FormatInfo(BaseModel):
    id: str
    title: str
    version: str
    syntax: str
    detected: bool = Field(description="false for rendering profiles, which are only used when named")
    precedence: int
    profile_of: str | None
    document_types: list[str]
    digest: str


class FormatList(BaseModel):
    formats: list[FormatInfo]
