"""treatment_classifiers: the study's Random Forests and CNNs, evaluated honestly."""

import time

import dagster as dg
import joblib
import numpy as np
import polars as pl
from pydantic import Field

from morph_assets.defs.automation import NETWORK_CODE_VERSION, NIGHTLY
from morph_assets.defs.jobs import STUDY_LEVEL
from morph_assets.defs.models.inputs import image_profiles, labelled_tensor_index
from morph_assets.lib.devices import pick_device
from morph_assets.lib.features import CHANNEL_ORDER, grayscale, with_mask
from morph_assets.lib.io import atomic_write
from morph_assets.lib.models import (
    CLASS_WEIGHTINGS,
    held_out_shortfall,
    reports_table,
    save_model,
    train_cnn,
    train_random_forest,
)
from morph_assets.lib.plot import confusion_heatmap, to_png
from morph_assets.lib.profiles import drop_incomplete_rows
from morph_assets.lib.report import figure_markdown, frame_to_markdown, png_markdown
from morph_assets.lib.schema import CLASSIFIER_METRICS, PLATE, TREATMENT, WELL
from morph_assets.lib.tasks import load_tensors, skip_row, write_skipped
from morph_assets.resources import LakeResource

MODELS_FOLDER = "models/classifiers"

#: (study version, representation, normalisation): the study's two forests and ours on CellProfiler.
FOREST_INPUTS = (
    ("Baseline (grayscale only)", "pixel_statistics", "none"),
    ("Enhanced (grayscale + mask)", "regionprops", "none"),
    ("CellProfiler Mean_ (DMSO-normalised)", "cellprofiler", "mad_robustize"),
)
#: (study version, grayscale?, class weightings): the study's two CNNs, and one on all five channels.
CNN_INPUTS = (
    ("Baseline (grayscale only)", "grayscale", CLASS_WEIGHTINGS),
    ("Enhanced (grayscale + mask)", "grayscale+mask", CLASS_WEIGHTINGS),
    ("Five channels + mask", "channels+mask", ("balanced",)),
)
#: The CNNs' train / validation / test shares by well (the study's 70/15/15).
CNN_FRACTIONS = (0.7, 0.15, 0.15)


class ClassifierConfig(dg.Config):
    """Training settings (the study's splits are fixed: 80/20 forests, 70/15/15 CNNs)."""

    n_estimators: int = Field(default=200, description="Trees per Random Forest.")
    max_epochs: int = Field(default=30, description="Upper bound on CNN epochs (early stopping on validation loss).")
    patience: int = Field(default=3, description="Epochs without validation improvement before stopping.")
    seed: int = Field(default=0, description="Seed of splits, forests and network initialisation.")
    device: str = Field(default="auto", description="'auto' (CUDA when present), 'cpu' or 'cuda'.")


def _cnn_images(tensors: np.ndarray, kind: str) -> np.ndarray:
    n_channels = len(CHANNEL_ORDER)
    if kind == "grayscale":
        return grayscale(tensors, n_channels)
    return with_mask(tensors, n_channels, grayscale=kind == "grayscale+mask")


# Costly (the CNNs): retrained on request or nightly when an input changed, never after each plate.
@dg.asset(description="Random Forest and CNN classifiers of treatment, split by well, with metrics.",
          deps=["well_profiles", "treatment_profiles", "image_tensor_index"], tags=STUDY_LEVEL, group_name="models",
          kinds={"sklearn", "pytorch", "parquet"}, pool="gpu", automation_condition=NIGHTLY,
          code_version=NETWORK_CODE_VERSION)
def treatment_classifiers(context: dg.AssetExecutionContext, config: ClassifierConfig, lake: LakeResource) -> dg.MaterializeResult:
    """Predict each image's treatment, as the study did, but split by well (sites of one well
    never straddle train and test) and with a majority-class baseline beside every model.

    Random Forests (stratified 80/20 by well): the study's baseline (per-channel pixel mean, std,
    min, max), its enhanced model (regionprops aggregates) and one on DMSO-normalised, selected
    CellProfiler ``Mean_`` features. CNNs (two convolutions, one fully connected layer; 70/15/15
    by well, early stopping on validation loss): grayscale, grayscale + cell mask, and the five
    channels + mask. Each with and without class weights, so the effect of DMSO's 17 % share
    shows. Models go to ``data_lake/models/classifiers/``, metrics to ``classifier_metrics``.

    A model is skipped, with the reason in the metadata and in ``skipped_treatment_classifiers``,
    when a split by well cannot test it (e.g. one plate where every treatment but DMSO sits in a
    single well): an accuracy on DMSO alone would be a fake result.
    """
    store = lake.lake()
    folder = store.root / MODELS_FOLDER
    reports, skipped = [], []
    for version, representation, normalization in FOREST_INPUTS:
        profiles, features = image_profiles(store, representation, normalization)
        profiles, dropped = drop_incomplete_rows(profiles, features)
        labels = profiles[TREATMENT].to_numpy().astype(str)
        groups = (profiles[PLATE] + "|" + profiles[WELL]).to_numpy()
        shortfall = held_out_shortfall(labels, groups, (0.8, 0.2), config.seed) if features else "no usable feature"
        if shortfall:
            skipped.extend(skip_row("random_forest", version, weighting, shortfall) for weighting in CLASS_WEIGHTINGS)
            context.log.warning(f"Random Forest {version} skipped: {shortfall}")
            continue
        x = profiles.select(features).to_numpy()
        for weighting in CLASS_WEIGHTINGS:
            started = time.perf_counter()
            forest, report = train_random_forest(x, labels, groups, variant=version, class_weighting=weighting,
                                                 n_estimators=config.n_estimators, seed=config.seed,
                                                 n_jobs=lake.n_workers())
            bundle = {"model": forest, "features": features, "report": report.as_row()}
            atomic_write(folder / f"forest_{representation}_{weighting}.joblib",
                         lambda temporary, bundle=bundle: joblib.dump(bundle, temporary, compress=3))
            reports.append(report)
            context.log.info(f"Random Forest {version} ({weighting}): accuracy {report.accuracy:.3f} vs majority "
                             f"{report.majority_accuracy:.3f}, {len(features)} features, {dropped} rows without "
                             f"features, {time.perf_counter() - started:.0f} s")
    index = labelled_tensor_index(store)
    labels = index[TREATMENT].to_numpy().astype(str)
    groups = (index[PLATE] + "|" + index[WELL]).to_numpy()
    shortfall = held_out_shortfall(labels, groups, CNN_FRACTIONS, config.seed)
    if shortfall:
        skipped.extend(skip_row("small_cnn", version, weighting, shortfall)
                       for version, _, weightings in CNN_INPUTS for weighting in weightings)
        context.log.warning(f"CNNs skipped: {shortfall}")
    else:
        tensors = load_tensors(index)
        device = pick_device(config.device)
        context.log.info(f"CNNs on {len(index)} images of {tensors.shape[-1]} px, device {device}")
        for version, kind, weightings in CNN_INPUTS:
            images = _cnn_images(tensors, kind)
            for weighting in weightings:
                started = time.perf_counter()
                model, report, history = train_cnn(images, labels, groups, variant=version, class_weighting=weighting,
                                                   fractions=CNN_FRACTIONS, max_epochs=config.max_epochs,
                                                   patience=config.patience, seed=config.seed, device=str(device),
                                                   log=context.log.debug)
                save_model(model, folder / f"cnn_{kind.replace('+', '_')}_{weighting}.pt",
                           label_names=model.label_names, channel_mean=model.channel_mean,
                           channel_std=model.channel_std,
                           metadata={"variant": version, "class_weighting": weighting, "epochs": len(history)})
                reports.append(report)
                context.log.info(f"CNN {version} ({weighting}): accuracy {report.accuracy:.3f} vs majority "
                                 f"{report.majority_accuracy:.3f}, {len(history)} epochs, "
                                 f"{time.perf_counter() - started:.0f} s")
    table = reports_table(reports)
    store.write_study(CLASSIFIER_METRICS, table)
    write_skipped(store, "treatment_classifiers", skipped)
    wells_per_treatment = index.group_by(TREATMENT).agg(pl.struct(PLATE, WELL).n_unique())
    testable = int((wells_per_treatment[PLATE] >= 2).sum())
    metadata = {"dagster/row_count": table.height, "models_folder": dg.MetadataValue.path(str(folder)),
                "models_trained": len(reports), "models_skipped": len(skipped),
                # only treatments in two or more wells can reach a test split (splits are by well)
                "treatments_testable": f"{testable} of {wells_per_treatment.height} are in two or more wells"}
    if skipped:
        metadata["skipped"] = dg.MetadataValue.md(frame_to_markdown(pl.DataFrame(skipped), max_rows=20))
    if reports:
        best = max(reports, key=lambda report: report.balanced_accuracy)
        shown = table.select("model", "variant", "class_weighting", "accuracy", "balanced_accuracy", "f1_weighted",
                             "f1_macro", "majority_accuracy", "n_classes", "n_test")
        metadata.update({
            "metrics": dg.MetadataValue.md(frame_to_markdown(shown, max_rows=50, float_precision=3)),
            "best_model": f"{best.model} {best.variant} ({best.class_weighting})",
            "plot_confusion_matrix_best_model": dg.MetadataValue.md(figure_markdown(png_markdown(
                to_png(confusion_heatmap(best.confusion, best.labels, top=20,
                                         title=f"{best.model} / {best.variant} ({best.class_weighting})").figure),
                "confusion matrix"),
                f"Confusion matrix of the best model by balanced accuracy ({best.model} {best.variant}, "
                f"{best.class_weighting}) on the test wells: the 20 most frequent labels, each row as fractions "
                "of its true label.")),
        })
    return dg.MaterializeResult(metadata=metadata)
