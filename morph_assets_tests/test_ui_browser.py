"""The Dagster UI in a real browser: what a user does after ``make demo`` and ``make ui``.

Chromium (Debian's package, driven by Playwright) against ``dagster dev`` started here on
127.0.0.1 with two small generated plates. Plate 2 is fully processed beforehand; plate 1 has
only its plate-level assets. The test opens the asset graph, materializes plate 1's per-well
assets from the catalog (Materialize, that plate's partitions), waits for the automation to
build plate 1's profiles and then the study, and reads the study report and the mAP report's
``top_treatments`` table as the browser renders them. GraphQL is used only to wait for state.

It also opens every plot of the mAP report and the VAE in the browser and checks that the
latest ``plot_*`` entry of every asset is an embedded PNG.

Run it alone with ``.venv/bin/python -m pytest -m browser``. It skips when /usr/bin/chromium or
the ``playwright`` package is absent (``.ci/run`` installs both, so CI never skips it).
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import pytest

from morph_assets.lib.schema import TableLevel, assets_at

try:
    from playwright.sync_api import Page, expect, sync_playwright
except ImportError:  # the test extra installs it; without it the test says so and skips
    sync_playwright = None

CHROMIUM = Path("/usr/bin/chromium")
REPOSITORY = Path(__file__).resolve().parents[1]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is absent: apt-get install -y chromium"),
    pytest.mark.skipif(sync_playwright is None, reason="the playwright package is absent: pip install -e '.[test]'"),
]

#: Four wells of JUMP-Target-1: two compounds (A01, A03) and two DMSO wells (A02, A09), so each
#: plate has a negative-control reference and each compound a replicate on the other plate.
WELLS = ("A01", "A02", "A03", "A09")
PLATES = ("SYNJT0001", "SYNJT0002")
#: The plate the test materializes from the UI; the other one is processed before the UI starts.
UI_PLATE, READY_PLATE = PLATES
#: The assets a user ticks in the catalog: every per-well asset, as the schema declares them.
PER_WELL_ASSETS = assets_at(TableLevel.WELL)
#: What the automation must rebuild after the click, each after the asset it reads (or it may
#: have read a stale input): the plate's profiles, then the study and a SQL view over each level.
FOLLOWS = {
    "well_profiles": None,  # after the click
    "treatment_profiles": "well_profiles",
    "map_report": "treatment_profiles",
    "study_report": "map_report",
    "image_tensor_index": "well_profiles",
    "single_cell_crop_index": "well_profiles",
    "sql/map_summary": "map_report",
    "sql/wells_failing_qc": "well_profiles",
}
#: Assets whose plots the browser opens (unpartitioned: their page shows the latest metadata).
PLOT_ASSETS = ("map_report", "vae_model")
#: Bounds on each wait (seconds). Measured on the 2-core machine: the automation brings the
#: plate's profiles and the study up to date ~3 minutes after the click (the backfill daemon
#: takes ~30-60 s to start the wells run; the 384-well run ~1 minute; one study run).
SERVER_START_S = 180
AUTOMATION_S = 600
#: Chromium flags: no sandbox (root in CI), no GPU, and nothing that phones out.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _prepare_platform(root: Path) -> dict[str, str]:
    """Generate both plates and bring the platform where ``make demo`` would leave it, but for
    the UI plate, which has only its plate-level assets.

    Runs in process on the instance in ``root/dagster_home`` (the one ``dagster dev`` opens
    next): plate-level runs for both plates; for the ready plate one per-well run over its
    imaged wells (A01..A09: enough for its profiles, and far cheaper than 384 well partitions)
    and its profiles; then the study and the SQL views. Returns the environment of the platform.
    """
    import dagster as dg

    from morph_assets.definitions import build_definitions
    from morph_assets.defs.jobs import LEVEL_TAG
    from morph_assets.defs.partitions import plate_range_tags, plates_partitions
    from morph_assets.lib.synthetic import SyntheticConfig, generate_plates
    from morph_assets.resources import LakeResource

    environment = {"MORPH_ASSETS_LAKE_ROOT": str(root / "lake"), "MORPH_ASSETS_SOURCE_ROOT": str(root / "source"),
                   "DAGSTER_HOME": str(root / "dagster_home")}
    home = Path(environment["DAGSTER_HOME"])
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    generate_plates(SyntheticConfig(n_plates=len(PLATES), wells=WELLS, sites_per_well=1, image_size=96, seed=5),
                    root / "source")
    # Definitions are built inside the instance's block: loading them reads Dagster's current
    # defs-state storage (a ContextVar an entered instance sets), which must be this live one.
    with dg.DagsterInstance.from_config(str(home)) as instance:
        defs = build_definitions(LakeResource(lake_root=environment["MORPH_ASSETS_LAKE_ROOT"],
                                              source_root=environment["MORPH_ASSETS_SOURCE_ROOT"], workers=1))
        graph = defs.resolve_asset_graph()

        def at_level(level: str) -> list:
            return [key for key in graph.get_all_asset_keys() if graph.get(key).tags.get(LEVEL_TAG) == level]

        def execute(keys: list, **where) -> None:
            result = defs.resolve_implicit_job_def_def_for_assets(keys).execute_in_process(
                instance=instance, asset_selection=keys, raise_on_error=False, **where,
                run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}})
            assert result.success, f"setup run of {[key.to_user_string() for key in keys]} {where} failed"

        instance.add_dynamic_partitions(plates_partitions.name, list(PLATES))
        for plate in PLATES:
            execute(at_level("plate"), partition_key=plate)
        execute(at_level("well"), tags=plate_range_tags(READY_PLATE, WELLS[0], WELLS[-1]))
        execute(at_level("plate_profiles"), partition_key=READY_PLATE)
        # The study and the SQL views over the ready plate, as `make demo` leaves them (networks
        # included: the automation retrains those only nightly, so they must exist already).
        execute(at_level("study") + [key for key in graph.get_all_asset_keys() if key.path[0] == "sql"])
    return environment


class DagsterDev:
    """``dagster dev`` on 127.0.0.1 in its own process group, stopped (SIGTERM, then SIGKILL) on close."""

    def __init__(self, environment: dict[str, str], log_path: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        dagster = Path(sys.executable).with_name("dagster")
        command = [str(dagster)] if dagster.exists() else [sys.executable, "-m", "dagster"]
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            [*command, "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(self.port)],
            cwd=REPOSITORY, env={**os.environ, **environment}, stdout=self._log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
            # dagster dev copies SIGINT's handler onto SIGTERM; a non-interactive shell leaves SIGINT
            # ignored, so reset it or SIGTERM would be ignored too.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def graphql(self, query: str, **variables) -> dict:
        """Run a GraphQL query against the webserver; its ``data``, or AssertionError on errors."""
        request = urllib.request.Request(f"{self.url}/graphql", data=json.dumps(
            {"query": query, "variables": variables}).encode(), headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.load(response)
        assert not answer.get("errors"), f"GraphQL errors: {answer['errors']}"
        return answer["data"]

    def wait_until_loaded(self) -> None:
        """Until the webserver answers and the code location has loaded (bounded)."""
        deadline = time.monotonic() + SERVER_START_S
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"dagster dev exited ({self.process.returncode}):\n{self.log_tail()}"
            try:
                workspace = self.graphql("{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus "
                                         "locationOrLoadError { __typename } } } } }")["workspaceOrError"]
                entries = workspace["locationEntries"]
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                entries = []
            if entries and all(entry["loadStatus"] == "LOADED" for entry in entries):
                failed = [entry["name"] for entry in entries
                          if entry["locationOrLoadError"]["__typename"] != "RepositoryLocation"]
                assert not failed, f"code location(s) {failed} failed to load:\n{self.log_tail()}"
                return
            time.sleep(2)
        raise AssertionError(f"dagster dev did not load within {SERVER_START_S} s:\n{self.log_tail()}")

    def close(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        self._log.close()


@pytest.fixture()
def dagster_ui(tmp_path: Path) -> Iterator[DagsterDev]:
    environment = _prepare_platform(tmp_path)
    server = DagsterDev(environment, tmp_path / "dagster_dev.log")
    try:
        server.wait_until_loaded()
        yield server
    finally:
        server.close()


def _latest_materialization(server: DagsterDev, asset: str, partition: str | None = None) -> dict | None:
    """The latest materialization event (``timestamp`` in ms as text, ``runId``) of an asset (partition)."""
    data = server.graphql(
        "query($key: AssetKeyInput!, $partitions: [String!]) { assetOrError(assetKey: $key) { ... on Asset { "
        "assetMaterializations(partitions: $partitions, limit: 1) { timestamp runId partition } } } }",
        key={"path": asset.split("/")}, partitions=[partition] if partition else None)
    events = data["assetOrError"].get("assetMaterializations") or []
    return events[0] if events else None


def _runs_since(server: DagsterDev, started: float, statuses: list[str] | None = None) -> list[str]:
    """Runs created after ``started`` (epoch seconds), newest first, one line each: id, status,
    seconds after ``started`` it was created and ended, and its assets."""
    data = server.graphql(
        "query($filter: RunsFilter) { runsOrError(filter: $filter) { ... on Runs { results { runId status "
        "creationTime endTime assetSelection { path } } } } }",
        filter={"createdAfter": started, **({"statuses": statuses} if statuses else {})})
    return [f"{run['runId'][:8]} {run['status']} created +{run['creationTime'] - started:.0f} s, ended "
            + (f"+{run['endTime'] - started:.0f} s" if run["endTime"] else "-") + ": "
            + ", ".join(sorted("/".join(asset["path"]) for asset in run["assetSelection"] or []))
            for run in data["runsOrError"]["results"]]


def _wait_for_automation(server: DagsterDev, clicked: float) -> dict[str, dict]:
    """Until the UI plate's profiles are materialized after ``clicked``, and every asset of
    :data:`FOLLOWS` after the asset it reads (a study run that started before the profiles landed
    does not count).

    Returns the latest materialization of each, by asset name; raises AssertionError (with every
    run since the click) when ``AUTOMATION_S`` passes first.
    """
    deadline = time.monotonic() + AUTOMATION_S
    latest: dict[str, dict | None] = {}
    late: list[str] = list(FOLLOWS)
    while time.monotonic() < deadline:
        latest = {asset: _latest_materialization(server, asset, UI_PLATE if asset == "well_profiles" else None)
                  for asset in FOLLOWS}

        def when(asset: str | None) -> float:
            if asset is None:
                return clicked
            return int(latest[asset]["timestamp"]) / 1000 if latest[asset] else 0.0

        late = [asset for asset, after in FOLLOWS.items() if when(asset) <= when(after)]
        if not late:
            return latest
        time.sleep(5)
    runs = "\n".join(_runs_since(server, clicked))
    raise AssertionError(f"after {AUTOMATION_S} s the automation had not rebuilt {', '.join(late)} after what they "
                         f"read; latest materializations: {latest}; runs since the click:\n{runs}")


def _materialize_plate_from_catalog(page: Page, server: DagsterDev, plate: str) -> None:
    """Catalog -> filter the per-well assets by their level tag -> select all -> Materialize
    selected -> that plate and every well -> Launch backfill."""
    from morph_assets.defs.jobs import LEVEL_TAG

    page.goto(f"{server.url}/assets")
    # The search box is a code editor: its text input is a hidden textarea, so focus it and type.
    page.get_by_role("textbox", name="Search and filter assets").focus()
    page.keyboard.type(f'tag:"{LEVEL_TAG}"="well"')
    page.keyboard.press("Enter")
    for asset in PER_WELL_ASSETS:
        expect(page.locator(f'a[href="/assets/{asset}"]')).to_be_visible()
    expect(page.locator('a[href="/assets/well_profiles"]')).to_have_count(0)
    # The header's box selects every listed asset; the input itself is hidden behind its label.
    page.get_by_role("checkbox").first.locator("xpath=..").click()
    page.get_by_role("button", name=f"Materialize selected ({len(PER_WELL_ASSETS)})").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text(f"Launch runs to materialize {len(PER_WELL_ASSETS)} assets")).to_be_visible()
    dialog.get_by_text("Select a partition or create one").first.click()  # the plate dimension
    page.get_by_role("menuitem", name=plate).click()
    page.keyboard.press("Escape")  # closes the plate menu, not the dialog
    dialog.get_by_role("button", name="All", exact=True).nth(1).click()  # the well dimension
    expect(dialog.get_by_text("384 partitions selected")).to_be_visible()
    dialog.get_by_role("button", name="Launch backfill").click()
    # No "Are you sure?" or upstream-missing dialog on the default path: the backfill starts.
    expect(page.get_by_text("Created backfill")).to_be_visible()


def _metadata_row(page: Page, key: str):
    return page.get_by_role("row").filter(has=page.get_by_role("cell", name=key, exact=True))


def _check_study_report(page: Page, server: DagsterDev) -> None:
    """The report's metadata opens whole: every figure loads, the last section is there."""
    page.goto(f"{server.url}/assets/study_report")
    _metadata_row(page, "report").get_by_text("[Show Markdown]").click()
    report = page.get_by_role("dialog")
    headings = report.get_by_role("heading")
    expect(headings.last).to_have_text("What differs from the study, and why")
    expect(report.get_by_role("heading", name="Which treatments are retrieved")).to_be_visible()
    images = report.locator("img")
    expect(images.first).to_be_attached()
    # Wait for every image to finish loading; a relative link (no figures/ folder here) stays 0 wide.
    report.locator("img").evaluate_all("images => Promise.all(images.map(image => image.decode().catch(() => null)))")
    widths = images.evaluate_all("images => images.map(image => [image.getAttribute('alt'), image.naturalWidth])")
    assert widths and all(width > 0 for _, width in widths), f"study_report images that did not load: {widths}"


def _check_top_treatments(page: Page, server: DagsterDev) -> None:
    """``top_treatments`` renders as a table whose cells keep their columns, best mAP first."""
    page.goto(f"{server.url}/assets/map_report")
    row = _metadata_row(page, "top_treatments")
    expect(row).to_have_count(1)
    link = row.get_by_text("[Show Markdown]")
    if link.count():  # over ~1,000 characters Dagster puts Markdown behind a link; shorter renders inline
        link.click()
        table = page.get_by_role("dialog").get_by_role("table").first
    else:
        table = row.get_by_role("table").first
    expect(table).to_be_visible()
    header = table.get_by_role("columnheader").all_inner_texts()
    rows = [cells for cells in (line.get_by_role("cell").all_inner_texts() for line in table.get_by_role("row").all())
            if cells]  # the header row has column headers, no cells
    assert header == ["Metadata_treatment", "Metadata_pert_iname", "Metadata_target_list", "mean_average_precision",
                      "p_value", "corrected_p_value"], header
    assert len(rows) >= 2 and all(len(cells) == len(header) for cells in rows), rows
    columns = {name: [cells[index] for cells in rows] for index, name in enumerate(header)}
    for name in ("mean_average_precision", "p_value", "corrected_p_value"):
        # A gene name here means a '|' of a target list split the row into extra cells.
        assert all(_is_fraction(value) for value in columns[name]), f"{name}: {columns[name]}"
    scores = [float(value) for value in columns["mean_average_precision"]]
    assert scores == sorted(scores, reverse=True), f"top_treatments is not best first: {scores}"
    assert any("|" in targets for targets in columns["Metadata_target_list"]), "no multi-target list kept whole"


def _check_plots(page: Page, server: DagsterDev) -> None:
    """Each plot of :data:`PLOT_ASSETS` opens from its ``[Show Markdown]`` link and its image loads."""
    for asset in PLOT_ASSETS:
        page.goto(f"{server.url}/assets/{asset}")
        keys = page.get_by_role("cell").filter(has_text="plot_")
        expect(keys.first).to_be_visible()
        names = [name.strip() for name in keys.all_inner_texts() if name.strip().startswith("plot_")]
        assert names, f"{asset} shows no plot_* metadata"
        for name in names:
            row = _metadata_row(page, name)
            link = row.get_by_text("[Show Markdown]")
            if link.count():
                link.click()
                scope = page.get_by_role("dialog")
            else:
                scope = row
            images = scope.locator("img")
            expect(images.first).to_be_attached()
            images.evaluate_all("images => Promise.all(images.map(image => image.decode().catch(() => null)))")
            widths = images.evaluate_all("images => images.map(image => image.naturalWidth)")
            assert widths and all(width > 0 for width in widths), f"{asset} {name}: images did not load: {widths}"
            if link.count():
                page.keyboard.press("Escape")
                expect(page.get_by_role("dialog")).to_have_count(0)


def _every_plot_is_a_png(server: DagsterDev) -> list[str]:
    """Every ``plot_*`` entry of every asset's latest materialization (any partition): decoded
    from its data URI, each must be a PNG with a non-empty size. Returns the entries checked."""
    nodes = server.graphql("{ assetNodes { assetKey { path } } }")["assetNodes"]
    checked = []
    for node in nodes:
        path = node["assetKey"]["path"]
        data = server.graphql(
            "query($key: AssetKeyInput!) { assetOrError(assetKey: $key) { ... on Asset { "
            "assetMaterializations(limit: 1) { metadataEntries { label ... on MarkdownMetadataEntry { mdStr } } } } } }",
            key={"path": path})
        events = data["assetOrError"].get("assetMaterializations") or []
        for entry in events[0]["metadataEntries"] if events else []:
            if not entry["label"].startswith("plot_"):
                continue
            name = f"{'/'.join(path)} {entry['label']}"
            uris = re.findall(r"\(data:image/png;base64,([A-Za-z0-9+/=]+)\)", entry.get("mdStr") or "")
            # An empty figure says so in words ("no sites"); a link to a file would not load.
            assert uris or "](" not in (entry.get("mdStr") or ""), f"{name}: an image that is not embedded"
            for uri in uris:
                png = base64.b64decode(uri)
                assert png[:8] == b"\x89PNG\r\n\x1a\n", f"{name}: not a PNG"
                width, height = struct.unpack(">II", png[16:24])
                assert width > 0 and height > 0, f"{name}: {width} x {height} px"
            checked.append(name)
    return checked


def _is_fraction(text: str) -> bool:
    try:
        return 0.0 <= float(text) <= 1.0
    except ValueError:
        return False


def test_materializing_one_plate_from_the_catalog_brings_its_profiles_then_the_study(dagster_ui: DagsterDev,
                                                                                    tmp_path: Path):
    server = dagster_ui
    ready_before = _latest_materialization(server, "well_profiles", READY_PLATE)
    screenshot = tmp_path / "browser_failure.png"
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium_profile"), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 900})
        page = context.new_page()
        page.set_default_timeout(60_000)  # a loaded 2-core machine renders the UI slowly
        expect.set_options(timeout=60_000)
        # Dagster's first-visit newsletter prompt covers the page: skip it whenever it shows.
        page.add_locator_handler(page.get_by_text("Join the Dagster community"),
                                 lambda: page.get_by_role("button", name="Skip").click())
        try:
            page.goto(f"{server.url}/asset-groups")
            expect(page.get_by_text("Global asset lineage")).to_be_visible()
            for group in ("ingest", "segment", "features", "profiles", "models", "clusters", "report", "sql"):
                expect(page.get_by_text(group, exact=True).first).to_be_visible()

            clicked = time.time()
            _materialize_plate_from_catalog(page, server, UI_PLATE)
            latest = _wait_for_automation(server, clicked)

            _check_study_report(page, server)
            _check_top_treatments(page, server)
            _check_plots(page, server)
        except BaseException:
            try:
                page.screenshot(path=str(screenshot), full_page=True)
                print(f"browser screenshot: {screenshot}")
            except Exception as error:  # a dead browser must not hide the failure itself
                print(f"no browser screenshot: {error}".splitlines()[0])
            print(f"dagster dev log: {server.log_path}\n{server.log_tail()}")
            raise
        finally:
            context.close()

    plots = _every_plot_is_a_png(server)
    assert len(plots) >= 6, plots  # layout, illumination, masks, profiles, mAP report, VAE at least
    # One run over the plate's 384 wells (single-run backfill policy), never one run per well.
    per_well_runs = {_latest_materialization(server, asset, f"{UI_PLATE}|{well}")["runId"]
                     for asset in ("raw_images", "image_tensors") for well in ("A01", "A09", "P24")}
    assert len(per_well_runs) == 1, per_well_runs
    # The other plate was left alone, and no run failed on the way.
    assert _latest_materialization(server, "well_profiles", READY_PLATE) == ready_before
    assert _runs_since(server, clicked, ["FAILURE", "CANCELED"]) == []
    assert latest["well_profiles"]["runId"] not in per_well_runs
