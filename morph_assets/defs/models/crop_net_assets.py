"""crop_network: a weakly supervised single-cell CNN, cross-fitted over replicate plates; its class
profiles scored like every other representation and its pooled predictions in Table 1."""

import time

import dagster as dg
import numpy as np
import polars as pl
import torch
from pydantic import Field

from morph_assets.defs.automation import NETWORK_CODE_VERSION, NIGHTLY
from morph_assets.defs.jobs import STUDY_LEVEL
from morph_assets.defs.models.inputs import labelled_index
from morph_assets.lib.io import atomic_write
from morph_assets.lib.models import (
    CropNetSettings,
    MIN_TEST_LABELS,
    cross_fitted_log_probabilities,
    evaluate,
    held_out_shortfall,
    pooled_probabilities,
    reports_table,
    split_log_probabilities,
)
from morph_assets.lib.plot import confusion_heatmap, to_png
from morph_assets.lib.profiles import IMAGE_KEYS, annotate, plate_profiles
from morph_assets.lib.report import figure_markdown, frame_to_markdown, png_markdown
from morph_assets.lib.schema import (
    CROP_CLASSIFIER_METRICS,
    CROP_EMBEDDINGS,
    CROP_REPRESENTATION,
    LEVELS,
    OBJECT_NUMBER,
    PLATE,
    PLATE_LAYOUT,
    SINGLE_CELL_CROPS,
    SITE,
    TREATMENT,
    WELL,
    profile_table,
)
from morph_assets.lib.tasks import load_crops, skip_row, write_skipped
from morph_assets.resources import LakeResource

MODELS_FOLDER = "models/crop_network"
#: Table 1's version names of the pooled predictions (the split: replicate plates held out).
POOLED_VERSIONS = {"image": "Single-cell crops, pooled per image (held-out plates)",
                   "well": "Single-cell crops, pooled per well (held-out plates)",
                   "by_well_image": "Single-cell crops, pooled per image (split by well)",
                   "by_well_well": "Single-cell crops, pooled per well (split by well)",
                   "study": "Single-cell crops, pooled per image (the study's split: by image)"}
IMAGE_BY, WELL_BY = list(IMAGE_KEYS), [PLATE, WELL]
#: Train and test shares of the held-out splits (by well, by image), as the study's CNNs' 70 + 15 / 15.
HELD_OUT = (0.85, 0.15)


class CropNetworkConfig(dg.Config):
    """Size and training of the crop network (defaults: small enough for two CPU cores)."""

    width: int = Field(default=CropNetSettings.width, description="Channels of the first convolution block.")
    view_size: int = Field(default=CropNetSettings.view_size,
                           description="Side (px) the stored crops are area-averaged to; divides their side.")
    max_epochs: int = Field(default=CropNetSettings.max_epochs, description="Upper bound on epochs per fold.")
    patience: int = Field(default=CropNetSettings.patience,
                          description="Epochs without validation gain before stopping.")
    n_folds: int = Field(default=CropNetSettings.n_folds,
                         description="Folds of replicate plates; each is embedded by a network trained on the others.")
    seed: int = Field(default=0, description="Seed of validation wells, initialisation, sampling and augmentation.")
    device: str = Field(default="auto", description="'auto' (CUDA when present), 'cpu' or 'cuda'.")
    held_out_splits: bool = Field(default=True, description="Also train one network on 85 % of the wells "
                                  "(split by well, as the forests) and one on 85 % of the images (the study's "
                                  "split, sites of a well on both sides), each scored on the rest.")

    def settings(self) -> CropNetSettings:
        """The library's settings object (its checks give one clear line on a bad value)."""
        try:
            return CropNetSettings(width=self.width, view_size=self.view_size, max_epochs=self.max_epochs,
                                   patience=self.patience, n_folds=self.n_folds, seed=self.seed, device=self.device)
        except ValueError as error:
            raise dg.Failure(description=f"crop_network config: {error}") from error


def _remove_stale(store, reason: str) -> None:  # noqa: ANN001
    # a network of other plates must not leave its profiles beside these plates' other representations
    for table in (CROP_EMBEDDINGS, *(profile_table(level, CROP_REPRESENTATION) for level in LEVELS)):
        for plate in store.plates_present(table):
            store.plate_file(table, plate).unlink(missing_ok=True)
    if store.has_table(CROP_CLASSIFIER_METRICS):
        store.study_file(CROP_CLASSIFIER_METRICS).unlink(missing_ok=True)
    for old in (store.root / MODELS_FOLDER).glob("fold_*.pt"):
        old.unlink()
    write_skipped(store, "crop_network", [skip_row("crop_network", "cross-fitted", "", reason)])


def _group_labels(keys: pl.DataFrame, by: list[str]) -> np.ndarray:
    return keys.select(*by, TREATMENT).unique(subset=by).sort(by)[TREATMENT].to_numpy().astype(str)


def _pooled_report(keys: pl.DataFrame, log_probabilities: np.ndarray, label_names: np.ndarray, by: list[str],
                   version: str, train_labels: np.ndarray | None = None,
                   pooled: pl.DataFrame | None = None):  # noqa: ANN202
    """The treatment of each group (image, well) is the class with the highest mean probability
    (``pooled``: the groups' :func:`pooled_probabilities` when the caller has them already)."""
    pooled = pooled_probabilities(keys, log_probabilities, by) if pooled is None else pooled
    truth = _group_labels(keys, by)
    predicted = label_names[pooled.drop(*by, "n_cells").to_numpy().argmax(axis=1)]
    # cross-fitted: every group was training data for the other folds, so all labels are the train labels
    train = truth if train_labels is None else train_labels
    return evaluate("crop_cnn", POOLED_VERSIONS[version], "balanced", train, truth, predicted)


def _save_models(store, fit, settings: CropNetSettings) -> list[str]:  # noqa: ANN001
    paths = []
    for old in (store.root / MODELS_FOLDER).glob("fold_*.pt"):  # a run with more folds must not leave its networks
        old.unlink()
    for index, (model, plates) in enumerate(zip(fit.models, fit.folds, strict=True)):
        # plain Python values only, so torch.load(..., weights_only=True) reads the file back
        bundle = {"state_dict": model.cpu().state_dict(), "label_names": [str(name) for name in fit.label_names],
                  "embedded_plates": [str(plate) for plate in plates], "settings": dict(settings.__dict__),
                  "history": [{key: float(value) for key, value in row.items()} for row in fit.histories[index]]}
        path = store.root / MODELS_FOLDER / f"fold_{index + 1}.pt"
        atomic_write(path, lambda temporary, bundle=bundle: torch.save(bundle, temporary))
        paths.append(str(path))
    return paths


# Costly: retrained on request or nightly when the crops changed, never after each plate.
@dg.asset(description="A single-cell CNN trained on crops, cross-fitted over replicate plates: class profiles "
                      "per site and well (scored by map_report) and pooled treatment predictions (Table 1).",
          deps=["single_cell_crop_index", "plate_layout"], tags=STUDY_LEVEL, group_name="models",
          kinds={"pytorch", "parquet"}, pool="gpu", automation_condition=NIGHTLY, code_version=NETWORK_CODE_VERSION)
def crop_network(context: dg.AssetExecutionContext, config: CropNetworkConfig,
                 lake: LakeResource) -> dg.MaterializeResult:
    """The Cell Painting CNN recipe (Moshkov et al. 2024) at demo scale, without label leakage.

    The plates are dealt into folds; each fold's network learns to tell treatments apart from the
    single-cell crops of the other folds' plates (class-balanced sampling, flips, 90-degree
    rotations, intensity jitter, early stopping on held-out wells) and then embeds its own
    plates' cells as log-probabilities over the treatments. The mean per site is the profile
    (``crop_embeddings``; ``profiles_image_crop_cnn`` and ``profiles_well_crop_cnn`` un-normalised
    and DMSO-normalised, so ``map_report`` scores it like CellProfiler features). The same
    outputs, pooled per image and per well, are held-out predictions of the treatment:
    ``crop_classifier_metrics``, Table 1's crop CNN rows. Skipped with the reason when fewer
    than two plates have crops: a plate's own labels would have to train its network.
    """
    settings = config.settings()
    store = lake.lake()
    index = labelled_index(store, SINGLE_CELL_CROPS, [PLATE, WELL, SITE, OBJECT_NUMBER])
    plates = index[PLATE].unique().sort().to_list()
    per_treatment = index.group_by(TREATMENT).agg(pl.col(PLATE).n_unique().alias("plates"))
    shared = per_treatment.filter(pl.col("plates") >= 2)[TREATMENT].sort().to_list()
    reason = None
    if len(plates) < 2:
        reason = (f"{len(plates)} plate(s) with crops: each plate is embedded by a network trained on other "
                  "replicate plates, so at least 2 are needed")
    elif len(shared) < MIN_TEST_LABELS:
        reason = (f"only {len(shared)} of {per_treatment.height} treatments ({', '.join(shared) or 'none'}) are on "
                  "two or more plates: a network trained on some plates cannot know the others' treatments "
                  "(add replicate plates)")
    if reason:
        _remove_stale(store, reason)
        context.log.warning(f"crop network not trained: {reason}")
        return dg.MaterializeResult(metadata={"skipped": reason, "cells": index.height})
    skipped = []
    started = time.perf_counter()
    crops = load_crops(index)
    context.log.info(f"{index.height} crops of {crops.shape[-1]} px from {len(plates)} plates, "
                     f"loaded in {time.perf_counter() - started:.0f} s")
    fit = cross_fitted_log_probabilities(crops, index[TREATMENT].to_numpy(), index[PLATE].to_numpy(),
                                         index[WELL].to_numpy(), settings, log=context.log.info)
    seconds = time.perf_counter() - started
    paths = _save_models(store, fit, settings)
    per_image = pooled_probabilities(index, fit.log_probabilities, IMAGE_KEYS)
    rows = []
    for (plate,), frame in per_image.group_by([PLATE], maintain_order=True):
        store.write_plate(CROP_EMBEDDINGS, plate, frame)
        annotated = annotate(frame.drop("n_cells"), pl.read_parquet(store.plate_file(PLATE_LAYOUT, plate)))
        for level in LEVELS:
            store.write_plate(profile_table(level, CROP_REPRESENTATION), plate, plate_profiles(annotated, level=level))
        rows.append({"plate": plate, "fold": int(fit.fold[(index[PLATE] == plate).to_numpy()][0]) + 1,
                     "images": frame.height, "cells": int(frame["n_cells"].sum())})
    reports = [_pooled_report(index, fit.log_probabilities, fit.label_names, IMAGE_BY, "image", pooled=per_image),
               _pooled_report(index, fit.log_probabilities, fit.label_names, WELL_BY, "well")]
    if config.held_out_splits:
        wells = (index[PLATE] + "|" + index[WELL]).to_numpy()
        images = wells + "|" + index[SITE].cast(pl.String).to_numpy()
        splits = (("split by well", wells, (("by_well_image", IMAGE_BY), ("by_well_well", WELL_BY))),
                  ("the study's split", images, (("study", IMAGE_BY),)))
        for name, groups, poolings in splits:
            shortfall = held_out_shortfall(index[TREATMENT].to_numpy(), groups, HELD_OUT, settings.seed)
            if shortfall:
                skipped.extend(skip_row("crop_cnn", POOLED_VERSIONS[version], "", shortfall) for version, _ in poolings)
                context.log.warning(f"crop CNN, {name}: not evaluated: {shortfall}")
                continue
            train, test, log_p = split_log_probabilities(
                crops, index[TREATMENT].to_numpy(), groups, settings, test_fraction=HELD_OUT[1],
                log=lambda line, name=name: context.log.info(f"{name}: {line}"))
            for version, by in poolings:
                reports.append(_pooled_report(index[test], log_p, fit.label_names, by, version,
                                              _group_labels(index[train], by)))
    metrics = reports_table(reports)
    store.write_study(CROP_CLASSIFIER_METRICS, metrics)
    write_skipped(store, "crop_network", skipped)
    history = pl.DataFrame([{"fold": fold + 1, **row} for fold, runs in enumerate(fit.histories) for row in runs])
    shown = metrics.select("variant", "accuracy", "balanced_accuracy", "f1_weighted", "majority_accuracy", "n_test")
    well_report = reports[1]
    context.log.info(f"crop network: {len(fit.folds)} folds in {seconds:.0f} s; held-out balanced accuracy per well "
                     f"{well_report.balanced_accuracy:.3f} (accuracy {well_report.accuracy:.3f})")
    return dg.MaterializeResult(metadata={
        "dagster/row_count": per_image.height,
        "cells": index.height, "folds": len(fit.folds), "classes": int(fit.label_names.size),
        "training_seconds": round(seconds, 1),
        "plates": dg.MetadataValue.md(frame_to_markdown(pl.DataFrame(rows))),
        "held_out_metrics": dg.MetadataValue.md(frame_to_markdown(shown, float_precision=3)),
        "history": dg.MetadataValue.md(frame_to_markdown(history, max_rows=60, float_precision=3)),
        "plot_confusion_matrix_per_well": dg.MetadataValue.md(figure_markdown(png_markdown(
            to_png(confusion_heatmap(well_report.confusion, well_report.labels, top=20,
                                     title="crop CNN, pooled per well, held-out plates").figure), "confusion matrix"),
            "Held-out wells: the 20 most frequent treatments, each row as fractions of its true label.")),
        "models": dg.MetadataValue.md("\n".join(f"- `{path}`" for path in paths)),
    })
