"""Segment stage: illumination correction per plate, a Cellpose model, and masks per well."""

import json
import time
from collections.abc import Iterator

import dagster as dg
import numpy as np
import polars as pl
import tifffile
from pydantic import Field

from morph_assets.defs.automation import PER_PLATE
from morph_assets.defs.jobs import PLATE_LEVEL, WELL_LEVEL
from morph_assets.defs.partitions import plate_well_partitions, plates_partitions
from morph_assets.defs.segment.checks import (
    OBJECTS_PER_SITE,
    SEGMENTATION_QUALITY,
    objects_per_site_result,
    quality_result,
)
from morph_assets.defs.well_runs import plate_tables, read_plate_or_fail, run_per_well, summary_metadata
from morph_assets.lib import schema, tasks
from morph_assets.lib.features import load_site
from morph_assets.lib.io import Lake, atomic_write_parquet, atomic_write_tiff
from morph_assets.lib.plates import ImageReadError, PlateIndex, read_scaled_image, site_prefix
from morph_assets.lib.plot import illumination_functions, to_png
from morph_assets.lib.report import figure_markdown, frame_to_markdown, png_markdown, segmentation_montage_png
from morph_assets.lib.schema import ILLUMINATION
from morph_assets.lib.segment import (
    SegmentationSettings,
    compare_to_truth,
    estimate_illumination_function,
    illumination_files,
    match_masks,
)
from morph_assets.resources import LakeResource

MODELS_FOLDER = "models"
CELLPOSE_MODEL_NAME = "cellpose"


class IlluminationConfig(dg.Config):
    """How the flat-field functions are estimated."""

    max_sites: int = Field(default=400, description="Sites sampled evenly over the plate per channel (0: all).")


def _readable_images(context: dg.AssetExecutionContext, paths: list[str]) -> Iterator[np.ndarray]:
    """The images of ``paths`` on the intensity contract (float64), skipping unreadable files with
    a warning: their wells are reported by ``raw_images``, and the rest of the plate goes on."""
    for path in paths:
        try:
            yield read_scaled_image(path, np.float64)
        except ImageReadError as error:
            context.log.warning(f"illumination_correction leaves this image out: {error}")


@dg.asset(
    description="Per plate and channel: the flat-field (illumination) function that corrects uneven lighting.",
    partitions_def=plates_partitions,
    tags=PLATE_LEVEL,
    group_name="segment",
    kinds={"tiff", "parquet"},
)
def illumination_correction(context: dg.AssetExecutionContext, config: IlluminationConfig, lake: LakeResource) -> dg.MaterializeResult:
    """One flat-field function per channel of a plate (CellProfiler's CorrectIlluminationCalculate).

    A robust average over the plate's sites (each clipped at its 99.9th percentile), smoothed
    with a Gaussian of a sixth of the image side and scaled to mean 1; segmentation and
    measurements divide each image by it. Where the plate folder carries the generator's true
    field (``GroundTruth/illumination-ch<n>.tiff``), the agreement is reported.
    """
    plate = context.partition_key
    store = lake.lake()
    index = read_plate_or_fail(lake, plate)
    folder = store.plate_folder(ILLUMINATION, plate)
    records, functions = [], {}
    for (channel, name), rows in index.images.group_by("channel", "channel_name", maintain_order=True):
        paths = rows.sort(schema.WELL, schema.SITE)["path"].to_list()
        if config.max_sites and len(paths) > config.max_sites:
            paths = [paths[i] for i in np.linspace(0, len(paths) - 1, config.max_sites).astype(int)]
        started = time.perf_counter()
        # float64 contract values: the normalised function equals the raw counts' one (bit for bit on the synthetic plates)
        function = estimate_illumination_function(_readable_images(context, paths))
        atomic_write_tiff(function.astype(np.float32), folder / f"illumination-{name}.tiff")
        functions[name] = function
        truth_path = index.folder / "GroundTruth" / f"illumination-ch{channel}.tiff"
        agreement = compare_to_truth(function, tifffile.imread(truth_path)) if truth_path.exists() else {}
        records.append({schema.PLATE: plate, "channel": channel, "channel_name": name, "n_sites": len(paths),
                        "min": float(function.min()), "max": float(function.max()),
                        "truth_pearson_r": agreement.get("pearson_r"), "truth_relative_rmse": agreement.get("relative_rmse")})
        context.log.info(f"plate {plate} {name}: {len(paths)} sites in {time.perf_counter() - started:.1f} s"
                         + (f", r = {agreement['pearson_r']:.3f} vs the true field" if agreement else ""))
    table = pl.DataFrame(records)
    atomic_write_parquet(table, store.plate_file(ILLUMINATION, plate))
    return dg.MaterializeResult(metadata={
        "dagster/row_count": table.height,
        "functions": dg.MetadataValue.md(frame_to_markdown(table.drop(schema.PLATE))),
        "plot_illumination_functions": dg.MetadataValue.md(figure_markdown(png_markdown(
            to_png(illumination_functions(functions, title=f"{plate} illumination functions")[0].figure),
            "illumination"),
            f"{plate}: the flat-field function of each channel on one colour scale (bright = more light reached the "
            "camera there); images are divided by it.")),
        "folder": dg.MetadataValue.path(str(folder)),
    })


class SegmentationModelConfig(dg.Config):
    """Training a Cellpose model from the generator's ground-truth masks (CPU minutes)."""

    n_training_sites: int = Field(default=24, description="Sites with ground truth used (20 % held out).")
    n_epochs: int = Field(default=40, description="Training epochs per model (nuclei, cells).")
    cell_channel: str = Field(default="AGP", description="Channel the cell model segments, with DNA.")


@dg.asset(description="Cellpose models trained on the generated plates' ground truth (only the cellpose method uses"
                      " them).",
          group_name="segment", kinds={"pytorch"})
def segmentation_model(context: dg.AssetExecutionContext, config: SegmentationModelConfig, lake: LakeResource) -> dg.MaterializeResult:
    """Cellpose nuclei and cell models trained from scratch on sites with ground-truth masks.

    Nothing is downloaded: the embedded plates carry their true masks, so Cellpose really runs on
    the default data. For real plates, copy a trained model folder (or cellpose's own weights)
    to a local path and give it as the ``masks`` asset's ``cellpose_model_path``.
    """
    from morph_assets.lib.segment import train_cellpose_models

    store = lake.lake()
    source = lake.source()
    plates = sorted(folder for folder in source.glob("*/GroundTruth") if folder.is_dir()) if source.is_dir() else []
    if not plates:
        raise dg.Failure(description=f"no plate under {source} has ground-truth masks (GroundTruth/) to train from; "
                                     "train elsewhere and set the masks asset's cellpose_model_path instead")
    index: PlateIndex = read_plate_or_fail(lake, plates[0].parent.name)
    site_keys = index.images.select(schema.WELL, schema.SITE).unique().sort(schema.WELL, schema.SITE)
    chosen = site_keys[np.linspace(0, site_keys.height - 1, min(config.n_training_sites, site_keys.height)).astype(int)]
    sites = []
    for well, site in chosen.iter_rows():
        rows = index.images.filter((pl.col(schema.WELL) == well) & (pl.col(schema.SITE) == site)).to_dicts()
        prefix = site_prefix(rows[0]["path"])
        sites.append((load_site(rows), tifffile.imread(plates[0] / f"{prefix}-nuclei.tiff"), tifffile.imread(plates[0] / f"{prefix}-cells.tiff")))
    save_dir = store.root / MODELS_FOLDER / CELLPOSE_MODEL_NAME
    context.log.info(f"training Cellpose nuclei and cell models on {len(sites)} sites of {index.barcode}, {config.n_epochs} epochs each")
    report = train_cellpose_models(
        sites, save_dir, n_epochs=config.n_epochs, cell_channel=config.cell_channel,
        progress=lambda step, total, what: context.log.info(f"segmentation_model: {step}/{total} {what}"),
    )
    summary = {key: value for key, value in vars(report).items() if not isinstance(value, tuple)}
    (save_dir / "training_report.json").write_text(json.dumps(vars(report), indent=2, default=str))
    return dg.MaterializeResult(metadata={
        "model_dir": dg.MetadataValue.path(report.model_dir),
        "held_out_nuclei_ap50": report.consistent_nuclei_ap50,
        "held_out_cells_ap50": report.consistent_cell_ap50,
        "training_seconds": round(report.nuclei_seconds + report.cell_seconds, 1),
        "report": dg.MetadataValue.md(frame_to_markdown(pl.DataFrame([{"field": k, "value": str(v)} for k, v in summary.items()]), max_rows=40)),
    })


class MasksConfig(dg.Config):
    """Choose the segmenter per run (Launchpad in the UI)."""

    method: str = Field(default="classical", description="classical | cellpose | imported")
    cellpose_model_path: str = Field(default="", description="Cellpose model folder or file; empty: the segmentation_model asset's.")
    cellpose_diameter: float = Field(default=0.0, description="Cell diameter in pixels for Cellpose; 0: the model's own.")
    cell_channel: str = Field(default="AGP", description="Channel cells are grown in (classical).")
    nucleus_diameter_min: float = Field(default=8.0, description="Smallest nucleus diameter in pixels.")
    nucleus_diameter_max: float = Field(default=40.0, description="Largest nucleus diameter in pixels.")
    discard_border_objects: bool = Field(default=True, description="Drop objects touching the image border.")
    imported_masks_folder: str = Field(default="Masks", description="For imported: folder in the plate folder with <site>_cp_masks files.")

    def settings(self, lake: Lake) -> SegmentationSettings:
        model = self.cellpose_model_path or str(lake.root / MODELS_FOLDER / CELLPOSE_MODEL_NAME)
        return SegmentationSettings(
            cell_channel=self.cell_channel, nucleus_diameter_range=(self.nucleus_diameter_min, self.nucleus_diameter_max),
            discard_border_objects=self.discard_border_objects,
            cellpose_model_path=model if self.method == "cellpose" else None,
            cellpose_diameter=self.cellpose_diameter or None,
        )


def _imported_masks(index: PlateIndex, folder_name: str, context: dg.AssetExecutionContext) -> dict[str, tuple[str, str | None]]:
    folder = index.folder / folder_name
    if not folder.is_dir():
        raise dg.Failure(description=f"{folder}: no such folder; imported segmentation needs the plate's masks there")
    report = match_masks(index.images["path"].to_list(), sorted(str(path) for path in folder.iterdir() if path.is_file()))
    context.log.info(f"plate {index.barcode}: {report.summary()}")
    return {match.stem: (str(match.cell_mask), str(match.nuclei_mask) if match.nuclei_mask else None) for match in report.matched}


@dg.asset(
    description="Nuclei, cells and cytoplasm label images per site, and objects found per site.",
    partitions_def=plate_well_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    tags=WELL_LEVEL,
    group_name="segment",
    kinds={"tiff", "parquet"},
    # Not segmentation_model: only the cellpose method reads it (from the lake, by path), and an
    # edge would block the classical default behind a model it never uses.
    deps=["raw_images", "illumination_correction"],
    automation_condition=PER_PLATE,
    check_specs=[
        dg.AssetCheckSpec(OBJECTS_PER_SITE, asset="masks", blocking=True,
                          description="Sites have cells: a plate where segmentation found nothing stops here."),
        dg.AssetCheckSpec(SEGMENTATION_QUALITY, asset="masks",
                          description="Average precision at IoU 0.5 against ground truth, where the plate has it."),
    ],
)
def masks(context: dg.AssetExecutionContext, config: MasksConfig, lake: LakeResource,
          worker_pool: dg.ResourceParam[tasks.WorkerPool]):
    """Nuclei, cells and cytoplasm label images of every site (cell k holds nucleus k).

    Segmented on illumination-corrected images by the configured method (classical CellProfiler
    recipe by default; ``cellpose`` with the trained or a local model; ``imported`` masks matched
    by file-name prefix; ``cellpose`` reads the ``segmentation_model`` asset's output unless
    ``cellpose_model_path`` names another). Label images are compressed TIFFs beside each well's index, which has
    object counts per site and, on plates with ground truth, AP@0.5 / F1 / count error.
    A montage of a few sites with outlines shows in the UI: judge it before trusting features.
    """
    store = lake.lake()
    settings = config.settings(store)
    imported: dict[str, dict] = {}

    def prepare(index: PlateIndex) -> None:
        if config.method == "imported":
            imported[index.barcode] = _imported_masks(index, config.imported_masks_folder, context)
        if not illumination_files(store, index.barcode):
            context.log.warning(f"plate {index.barcode}: no illumination functions yet; segmenting uncorrected images")

    def task(index: PlateIndex, well: str) -> tasks.SegmentTask:
        truth = index.folder / tasks.GROUND_TRUTH_FOLDER
        return tasks.SegmentTask(
            well=well, lake_root=str(store.root), plate=index.barcode, image_rows=index.well_images(well).to_dicts(),
            illumination_files=illumination_files(store, index.barcode), method=config.method, settings=settings,
            truth_dir=str(truth) if truth.is_dir() else None, imported_masks=imported.get(index.barcode),
        )

    summaries = run_per_well(context, lake, worker_pool, schema.MASKS, tasks.segment_well, task,
                             wells_needing="raw_images", before_plate=prepare)
    plates = [summary.plate for summary in summaries]
    table = plate_tables(lake, schema.MASKS, plates)
    montages = [png_markdown(segmentation_montage_png(store, plate, table.filter(pl.col(schema.PLATE) == plate)), f"{plate} montage")
                for plate in plates if table.height and table.filter(pl.col(schema.PLATE) == plate).height]
    yield dg.MaterializeResult(metadata={
        **summary_metadata(summaries, table.drop([c for c in table.columns if c.endswith("_path")]) if table.height else table),
        "method": config.method,
        **({"cellpose_model": dg.MetadataValue.path(settings.cellpose_model_path)} if settings.cellpose_model_path else {}),
        "median_cells_per_site": float(table[schema.COUNT_CELLS].median()) if table.height else 0.0,
        "plot_segmentation_montage": dg.MetadataValue.md(figure_markdown("\n\n".join(montages) or "no sites",
            "A few sites per plate: nucleus (yellow) and cell (magenta) outlines over DNA (blue) and AGP (green).")),
    })
    yield objects_per_site_result(table)
    yield quality_result(table)
