"""The base of every domain model."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class DomainModel(BaseModel):
    """A pydantic model whose validator is built on first use, not at import.

    A handler module imports the models of every action it can run, but one invocation validates
    only a few of them: deferring the build keeps the others' schema generation out of the cold
    start (issue 16's import budget). Subclasses' own `model_config` merges with this one.
    """

    model_config = ConfigDict(defer_build=True)
