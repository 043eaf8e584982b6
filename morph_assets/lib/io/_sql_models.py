"""A small dbt-style runner: SQL models in files, built as DuckDB views in dependency order.

Each ``.sql`` file under the models folder is one model; its view takes the file's stem as name.
Two macros, in dbt's spelling, link models to each other and to the lake:

- ``{{ ref('model_name') }}`` refers to another model (and orders the build);
- ``{{ lake('table') }}`` reads every compacted plate file of a lake table.

A model whose lake tables have no file yet is skipped (with the reason), and so is everything
downstream of it, so the views build on a lake that holds only the first stages.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import duckdb

from morph_assets.lib.io._lake import Lake

_REF = re.compile(r"\{\{\s*ref\(\s*['\"]([A-Za-z0-9_]+)['\"]\s*\)\s*\}\}")
_LAKE = re.compile(r"\{\{\s*lake\(\s*['\"]([A-Za-z0-9_/]+)['\"]\s*\)\s*\}\}")


class ModelError(ValueError):
    """A SQL model that cannot be built; the message names the file."""


@dataclass(frozen=True)
class SqlModel:
    """One SQL model file.

    Attributes
    ----------
    name : str
        The view's name (the file's stem).
    path : pathlib.Path
        The file.
    sql : str
        Its text, with ``{{ ref('model') }}`` and ``{{ lake('table') }}`` macros.
    """

    name: str
    path: Path
    sql: str

    @property
    def refs(self) -> list[str]:
        """Models this one reads."""
        return sorted(set(_REF.findall(self.sql)))

    @property
    def lake_tables(self) -> list[str]:
        """Lake tables this one reads."""
        return sorted(set(_LAKE.findall(self.sql)))

    def render(self, lake: Lake) -> str:
        """Return the SQL with the macros replaced by view names and ``read_parquet`` calls."""
        sql = _REF.sub(lambda match: match.group(1), self.sql)
        return _LAKE.sub(
            lambda match: f"read_parquet('{lake.table_glob(match.group(1))}', union_by_name = true)", sql
        )


@dataclass(frozen=True)
class BuildReport:
    """What :func:`build_views` did: views built and models skipped, with reasons.

    Attributes
    ----------
    built : list of str
        Views built, in build order.
    skipped : dict of str to str
        Model -> why it was not built (a lake table or a model it reads is missing).
    failed : dict of str to str
        Model -> the error DuckDB raised for it.
    """

    built: list[str]
    skipped: dict[str, str]
    failed: dict[str, str] = field(default_factory=dict)


def load_models(models_dir: Path | str) -> dict[str, SqlModel]:
    """Read every ``*.sql`` file under ``models_dir`` (recursively), one model per file.

    Parameters
    ----------
    models_dir : pathlib.Path or str
        Folder of the SQL models (``dbt_style_sql/``).

    Returns
    -------
    dict of str to SqlModel
        Models by name.

    Raises
    ------
    ModelError
        If two files share a stem, a file is empty, or a ``ref`` names no model.
    """
    models: dict[str, SqlModel] = {}
    for path in sorted(Path(models_dir).rglob("*.sql")):
        sql = path.read_text().strip().rstrip(";")
        if not sql:
            raise ModelError(f"{path}: empty model")
        if path.stem in models:
            raise ModelError(f"{path}: model name {path.stem!r} is also used by {models[path.stem].path}")
        models[path.stem] = SqlModel(name=path.stem, path=path, sql=sql)
    for model in models.values():
        unknown = [name for name in model.refs if name not in models]
        if unknown:
            raise ModelError(f"{model.path}: ref() to unknown model(s) {unknown}")
    return models


def build_order(models: dict[str, SqlModel]) -> list[str]:
    """Return model names so that every model comes after the models it refers to.

    Parameters
    ----------
    models : dict of str to SqlModel
        The models, as :func:`load_models` returns them.

    Returns
    -------
    list of str
        Model names in dependency order.
    """
    try:
        return list(TopologicalSorter({name: model.refs for name, model in models.items()}).static_order())
    except CycleError as error:
        raise ModelError(f"models refer to each other in a cycle: {error.args[1]}") from error


def build_views(lake: Lake, models_dir: Path | str, only: Iterable[str] | None = None) -> BuildReport:
    """Create or replace one DuckDB view per model in ``lake.duckdb``.

    Parameters
    ----------
    lake : Lake
        The lake whose tables the models read and whose database receives the views.
    models_dir : path-like
        Folder of ``.sql`` model files.
    only : iterable of str, optional
        Build just these models (in dependency order); the views they refer to must exist.

    Returns
    -------
    BuildReport
        Built view names in build order, skipped models with the reason, and models DuckDB
        rejected with its error (their dependants are skipped; the rest are still built).
    """
    models = load_models(models_dir)
    built: list[str] = []
    skipped: dict[str, str] = {}
    failed: dict[str, str] = {}
    lake.root.mkdir(parents=True, exist_ok=True)
    wanted = set(models) if only is None else set(only)
    unknown = sorted(wanted - set(models))
    if unknown:
        raise ModelError(f"no model file for {unknown} under {models_dir}")
    with duckdb.connect(str(lake.duckdb_path)) as connection:
        for name in build_order(models):
            if name not in wanted:
                continue
            model = models[name]
            absent = [table for table in model.lake_tables if not lake.has_table(table)]
            blocked = [ref for ref in model.refs if ref in skipped or ref in failed]
            if absent or blocked:
                skipped[name] = (
                    f"no data yet in lake table(s) {absent}" if absent else f"depends on skipped model(s) {blocked}"
                )
                connection.execute(f'drop view if exists "{name}"')
                continue
            try:
                connection.execute(f'create or replace view "{name}" as {model.render(lake)}')
            except duckdb.Error as error:
                # One broken model must not take the other views down; the caller reports it.
                failed[name] = f"{model.path}: {error}"
                connection.execute(f'drop view if exists "{name}"')
                continue
            built.append(name)
    return BuildReport(built=built, skipped=skipped, failed=failed)
