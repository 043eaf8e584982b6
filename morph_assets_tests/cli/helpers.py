"""What the command's tests share: the runs a command made, by what they were for."""

from pathlib import Path

from morph_assets.cli import CLI_RUN_TAG


def _runs_by_label(isolated_platform: Path) -> dict[str, list]:
    """The command's runs by what they were for (its run tag: plate-level, wells, profiles, study, views)."""
    import dagster as dg

    runs: dict[str, list] = {}
    with dg.DagsterInstance.get() as instance:
        for run in instance.get_runs():
            runs.setdefault(run.tags[CLI_RUN_TAG], []).append(run)
    return runs
