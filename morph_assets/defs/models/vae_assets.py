"""vae_model and vae_embeddings: the study's VAE on image + mask, and its latent means as profiles."""

import time

import dagster as dg
import numpy as np
import polars as pl
from pydantic import Field

from morph_assets.defs.automation import NETWORK_CODE_VERSION, NIGHTLY, STUDY
from morph_assets.defs.jobs import STUDY_LEVEL
from morph_assets.defs.models.inputs import labelled_tensor_index
from morph_assets.lib.features import CHANNEL_ORDER, with_mask
from morph_assets.lib.models import latent_means, load_vae, reconstruct, save_vae, train_vae
from morph_assets.lib.plot import reconstructions, to_png
from morph_assets.lib.profiles import IMAGE_KEYS, annotate, plate_profiles
from morph_assets.lib.report import figure_markdown, frame_to_markdown, png_markdown
from morph_assets.lib.schema import PLATE, PLATE_LAYOUT, VAE_EMBEDDINGS, WELL, profile_table
from morph_assets.lib.tasks import load_tensors, read_skipped, skip_row, write_skipped
from morph_assets.resources import LakeResource

VAE_FILE = "models/vae/vae.pt"
#: Wells needed to hold one out for validation (early stopping) and train on the rest.
MIN_VAE_WELLS = 2


class VaeConfig(dg.Config):
    """The study's settings by default: latent 32, early stopping, at most 30 epochs."""

    inputs: str = Field(default="channels+mask",
                        description="'grayscale+mask' (the study's input) or 'channels+mask' (all five channels + mask).")
    latent_dim: int = Field(default=32, description="Latent dimensions.")
    max_epochs: int = Field(default=30, description="Upper bound on epochs.")
    patience: int = Field(default=3, description="Epochs without validation improvement before stopping.")
    learning_rate: float = Field(default=3e-4, description="Adam step size; 1e-3 made the validation loss jump "
                                 "after two epochs on the embedded plates while the training loss kept falling.")
    seed: int = Field(default=0, description="Seed of the split and the initialisation.")
    device: str = Field(default="auto", description="'auto' (CUDA when present), 'cpu' or 'cuda'.")


def _inputs(tensors: np.ndarray, kind: str) -> np.ndarray:
    if kind not in ("grayscale+mask", "channels+mask"):
        raise dg.Failure(description=f"inputs must be 'grayscale+mask' or 'channels+mask', not {kind!r}")
    return with_mask(tensors, len(CHANNEL_ORDER), grayscale=kind == "grayscale+mask")


# Costly: retrained on request or nightly when the tensors changed, never after each plate.
@dg.asset(description="A variational autoencoder trained on the image tensors of every plate.",
          deps=["image_tensor_index"], tags=STUDY_LEVEL, group_name="models", kinds={"pytorch"}, pool="gpu",
          automation_condition=NIGHTLY, code_version=NETWORK_CODE_VERSION)
def vae_model(context: dg.AssetExecutionContext, config: VaeConfig, lake: LakeResource) -> dg.MaterializeResult:
    """A convolutional VAE trained on every site's image + cell mask (64 x 64), wells held out
    for validation, early stopping on validation loss, saved to ``data_lake/models/vae/vae.pt``.
    Skipped, with the reason in the metadata, when fewer than two wells have images."""
    store = lake.lake()
    index = labelled_tensor_index(store)
    groups = (index[PLATE] + "|" + index[WELL]).to_numpy()
    wells = len(set(groups))
    if wells < MIN_VAE_WELLS:
        reason = (f"{wells} well(s) with images: early stopping needs whole wells held out for validation, "
                  f"so at least {MIN_VAE_WELLS} are needed")
        (store.root / VAE_FILE).unlink(missing_ok=True)  # a model of other data must not embed these plates
        write_skipped(store, "vae_model", [skip_row("vae", config.inputs, "", reason)])
        context.log.warning(f"VAE not trained: {reason}")
        return dg.MaterializeResult(metadata={"skipped": reason, "images": len(index)})
    write_skipped(store, "vae_model", [])
    tensors = _inputs(load_tensors(index), config.inputs)
    started = time.perf_counter()
    model, history = train_vae(tensors, groups, latent_dim=config.latent_dim, max_epochs=config.max_epochs,
                               patience=config.patience, learning_rate=config.learning_rate, seed=config.seed,
                               device=config.device, log=context.log.info)
    seconds = time.perf_counter() - started
    best = min(history, key=lambda row: row["val_loss"])
    path = save_vae(model, store.root / VAE_FILE, {"inputs": config.inputs, "epochs": len(history),
                                                   "best_epoch": int(best["epoch"]), "seconds": round(seconds, 1)})
    return dg.MaterializeResult(metadata={
        "images": len(index), "epochs": len(history), "best_epoch": int(best["epoch"]),
        "best_validation_loss": float(best["val_loss"]), "training_seconds": round(seconds, 1),
        "history": dg.MetadataValue.md(frame_to_markdown(pl.DataFrame(history), max_rows=40, float_precision=2)),
        "plot_vae_reconstructions": dg.MetadataValue.md(figure_markdown(png_markdown(
            to_png(reconstructions(*reconstruct(model, tensors[:64], n=6))[0, 0].figure), "VAE reconstructions"),
            "Six site crops (top row, DNA channel) above the trained VAE's reconstructions from their latent means.")),
        "model_file": dg.MetadataValue.path(str(path)),
    })


# The tensors as a dep too: a new plate is embedded by the current model once its tensors exist.
@dg.asset(description="VAE latent means per site and well, scored like any other representation.",
          deps=["vae_model", "image_tensor_index", "plate_layout"], tags=STUDY_LEVEL, group_name="models",
          kinds={"parquet", "pytorch"}, pool="gpu", automation_condition=STUDY)
def vae_embeddings(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    """Each site's latent mean (``VAE_00`` .. ``VAE_31``) per plate, and the same as a profile
    representation (``profiles_image_vae``, ``profiles_well_vae``: un-normalised and
    DMSO-normalised) so the mAP report scores the embeddings like any other features."""
    store = lake.lake()
    if not (store.root / VAE_FILE).exists():
        skipped = read_skipped(store, "vae_model")
        reason = skipped["reason"][0] if skipped is not None and skipped.height else "vae_model has not run"
        for table in (VAE_EMBEDDINGS, profile_table("image", "vae"), profile_table("well", "vae")):
            for plate in store.plates_present(table):  # stale embeddings of an older model
                store.plate_file(table, plate).unlink(missing_ok=True)
        context.log.warning(f"no VAE model at {store.root / VAE_FILE}, no embeddings: {reason}")
        return dg.MaterializeResult(metadata={"skipped": f"no VAE model: {reason}"})
    model, metadata = load_vae(store.root / VAE_FILE)
    index = labelled_tensor_index(store)
    means = latent_means(model, _inputs(load_tensors(index), metadata["inputs"]))
    names = [f"VAE_{i:02d}" for i in range(means.shape[1])]
    embeddings = index.select(IMAGE_KEYS).with_columns(pl.DataFrame(means, schema=names).get_columns())
    rows = []
    for (plate,), frame in embeddings.group_by([PLATE], maintain_order=True):
        store.write_plate(VAE_EMBEDDINGS, plate, frame)
        per_image = annotate(frame, pl.read_parquet(store.plate_file(PLATE_LAYOUT, plate)))
        for level in ("image", "well"):
            store.write_plate(profile_table(level, "vae"), plate, plate_profiles(per_image, level=level))
        rows.append({"plate": plate, "images": frame.height})
    context.log.info(f"embedded {embeddings.height} images on {len(rows)} plates")
    return dg.MaterializeResult(metadata={"dagster/row_count": embeddings.height, "latent_dim": len(names),
                                          "plates": dg.MetadataValue.md(frame_to_markdown(pl.DataFrame(rows)))})
