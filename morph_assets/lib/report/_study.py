"""The study's published numbers, side-by-side tables with ours, and a Markdown report on disk.

The study is Wang (2025), "Deep Morphological Profiling for Chemical Perturbation Analysis in the
CPJUMP1 Dataset": Table 1 (treatment classification) and Table 2 (mAP of image-level profiles).
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import polars as pl

from morph_assets.lib.io import atomic_write
from morph_assets.lib.report._markdown import markdown_table

#: Table 1 of the study: test-set accuracy and weighted precision / recall / F1 (plate BR00116991).
STUDY_TABLE1: list[dict[str, str | float]] = [
    {"model": "Random Forest", "version": "Baseline (grayscale only)", "accuracy": 0.12,
     "precision": 0.06, "recall": 0.12, "f1": 0.08},
    {"model": "Random Forest", "version": "Enhanced (grayscale + mask)", "accuracy": 0.18,
     "precision": 0.08, "recall": 0.18, "f1": 0.11},
    {"model": "CNN", "version": "Baseline (grayscale only)", "accuracy": 0.18,
     "precision": 0.03, "recall": 0.18, "f1": 0.06},
    {"model": "CNN", "version": "Enhanced (grayscale + mask)", "accuracy": 0.16,
     "precision": 0.02, "recall": 0.16, "f1": 0.04},
]  # fmt: skip

#: Table 2 of the study: image-level mAP by evaluation setting and representation.
STUDY_TABLE2: dict[str, dict[str, float]] = {
    "No Well Position Distinction": {"features": 0.0548, "vae": 0.0434},
    "Same Position Only": {"features": 0.0256, "vae": 0.0174},
    "Different Position Only": {"features": 0.0515, "vae": 0.0378},
}

#: Our evaluation-setting codes and the study's row names for them.
STUDY_SETTINGS: dict[str, str] = {
    "pooled": "No Well Position Distinction",
    "same": "Same Position Only",
    "different": "Different Position Only",
}

MISSING = "—"
_TABLE1_COLUMNS = ("model", "version", "accuracy", "precision_weighted", "recall_weighted", "f1_weighted",
                   "balanced_accuracy", "majority_accuracy")  # fmt: skip
_TABLE2_COLUMNS = ("setting", "representation", "level", "normalised", "mean_average_precision",
                   "fraction_retrieved")  # fmt: skip
_REPRESENTATION_NAMES = {"regionprops": "Extracted Features", "vae": "VAE Embeddings", "crop_cnn": "Crop CNN"}
_FIGURE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_FIGURE_LINK = re.compile(r"\]\(figures/([^)\s]+)\.png\)")


def _number(value: object, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    return f"{float(value):.{digits}f}"


def _require(frame: pl.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [name for name in columns if name not in frame.columns]
    if missing:
        raise ValueError(f"{what} lacks the column(s) {missing}")


def _reject_duplicates(frame: pl.DataFrame, keys: list[str], what: str) -> None:
    duplicated = frame.filter(pl.struct(keys).is_duplicated())
    if duplicated.height:
        raise ValueError(f"{what} has more than one row for {duplicated.select(keys).unique().rows()}")


def table1_markdown(ours: pl.DataFrame) -> str:
    """Table 1 of the study (classification) with our numbers beside the published ones.

    Parameters
    ----------
    ours : pl.DataFrame
        One row per (model, version) with columns ``model``, ``version``, ``accuracy``,
        ``precision_weighted``, ``recall_weighted``, ``f1_weighted``, ``balanced_accuracy`` and
        ``majority_accuracy`` (accuracy of always predicting the most frequent training class).

    Returns
    -------
    str
        Markdown table: the study's four rows in its order (ours "not run" where we have no
        such row), then our rows without a study counterpart (study columns "—").
    """
    _require(ours, _TABLE1_COLUMNS, "ours")
    _reject_duplicates(ours, ["model", "version"], "ours")
    by_key = {(row["model"], row["version"]): row for row in ours.iter_rows(named=True)}

    def our_cells(row: Mapping[str, object] | None) -> list[str]:
        if row is None:
            return ["not run"] * 4
        scores = " / ".join(_number(row[name], 3) for name in ("precision_weighted", "recall_weighted", "f1_weighted"))
        return [_number(row["accuracy"], 3), scores, _number(row["balanced_accuracy"], 3),
                _number(row["majority_accuracy"], 3)]  # fmt: skip

    rows: list[list[str]] = []
    study_keys = set()
    for study in STUDY_TABLE1:
        key = (study["model"], study["version"])
        study_keys.add(key)
        published = f"{study['precision']:.2f} / {study['recall']:.2f} / {study['f1']:.2f}"
        rows.append([str(key[0]), str(key[1]), f"{study['accuracy']:.2f}", published, *our_cells(by_key.get(key))])
    for key, row in by_key.items():
        if key not in study_keys:
            rows.append([str(key[0]), str(key[1]), MISSING, MISSING, *our_cells(row)])
    header = ["Model", "Version", "Study accuracy", "Study P / R / F1", "Ours accuracy", "Ours P / R / F1 (weighted)",
              "Ours balanced accuracy", "Majority baseline"]  # fmt: skip
    return markdown_table(header, rows)


def _column_order(combination: tuple[str, str, bool]) -> tuple[int, str, str, bool]:
    representation, level, normalised = combination
    known = {"regionprops": 0, "vae": 1}.get(representation, 2)
    if level == "image" and not normalised:
        return (0 if known < 2 else 4, representation, level, normalised)
    if level == "well" and normalised:
        return (2 if known < 2 else 5, representation, level, normalised)
    return (6, representation, level, normalised)


def table2_markdown(ours: pl.DataFrame) -> str:
    """Table 2 of the study (mAP by well-position setting) with our numbers beside the published ones.

    The like-for-like comparison with the study is our **image-level, un-normalised** rows
    (``level == "image"`` and ``normalised`` false), since the study ranked per-image vectors by
    cosine similarity without per-plate normalisation; those columns come first. Our well-level,
    normalised numbers (the CPJUMP1 recipe) follow as extra columns, then any other combination.
    Each cell is the mAP, the mean over treatments of each treatment's mean average precision
    (the field's headline number), with the fraction of treatments retrieved (significant mAP) in
    brackets.

    Parameters
    ----------
    ours : pl.DataFrame
        Columns ``setting`` ("pooled", "same", "different" or others), ``representation``
        ("regionprops", "vae" or others), ``level`` ("image", "well"...), ``normalised`` (bool),
        ``mean_average_precision`` (the mAP: ``map_summary.mean_map``, not the mean AP over
        profiles) and ``fraction_retrieved``; one row per combination. An optional
        ``status`` other than ``"scored"`` (e.g. ``"no replicate pairs"``) is shown in the cell.

    Returns
    -------
    str
        Markdown table, one row per setting (the study's three first, in its order), followed by
        a note on which columns are like-for-like.
    """
    _require(ours, _TABLE2_COLUMNS, "ours")
    keys = ["setting", "representation", "level", "normalised"]
    _reject_duplicates(ours, keys, "ours")
    cells: dict[tuple[str, tuple[str, str, bool]], str] = {}
    for row in ours.iter_rows(named=True):
        combination = (str(row["representation"]), str(row["level"]), bool(row["normalised"]))
        if row.get("status") not in (None, "scored"):  # e.g. "no replicate pairs": say so, not "—"
            cells[(str(row["setting"]), combination)] = str(row["status"])
            continue
        text = _number(row["mean_average_precision"], 4)
        if text != MISSING and _number(row["fraction_retrieved"], 2) != MISSING:
            text += f" (FR {_number(row['fraction_retrieved'], 2)})"
        cells[(str(row["setting"]), combination)] = text
    combinations = sorted({combination for _, combination in cells}, key=_column_order)
    settings = list(STUDY_SETTINGS) + sorted({setting for setting, _ in cells} - set(STUDY_SETTINGS))

    header = ["Evaluation Setting", "Study: Extracted Features", "Study: VAE Embeddings"]
    for representation, level, normalised in combinations:
        name = _REPRESENTATION_NAMES.get(representation, representation)
        header.append(f"Ours: {name} ({level}, {'normalised' if normalised else 'raw'})")
    rows: list[list[str]] = []
    for setting in settings:
        label = STUDY_SETTINGS.get(setting, setting)
        study = STUDY_TABLE2.get(label)
        row = [label, f"{study['features']:.4f}", f"{study['vae']:.4f}"] if study else [label, MISSING, MISSING]
        row += [cells.get((setting, combination), "not run") for combination in combinations]
        rows.append(row)
    note = (
        "\n\nLike-for-like with the study: the *(image, raw)* columns (per-image vectors, no plate "
        "normalisation, as the study ranked them). The *(well, normalised)* columns follow the CPJUMP1 "
        "recipe (well-level profiles normalised per plate) and are not directly comparable. mAP = the mean over "
        "treatments of each treatment's mean average precision (`mean_map` in `map_summary`); the mean AP over "
        "all query profiles (`mean_ap_over_profiles`) weights treatments by their number of profiles and is not "
        "shown here. FR = fraction of "
        "treatments whose mAP is significant (corrected p < 0.05). The study's three rows use its own "
        "definition of position (well distance at most the 10th percentile of non-zero distances); rows marked "
        "cpjump1 use CPJUMP1's (the same well on a replicate plate)."
    )
    return markdown_table(header, rows) + note


def figure_link(name: str, alt: str | None = None) -> str:
    """Markdown image link to ``figures/<name>.png``, for use inside :func:`render_report` sections.

    Parameters
    ----------
    name : str
        Figure name (a key of ``images`` in :func:`render_report`), without extension.
    alt : str, optional
        Alternative text; default the name.

    Returns
    -------
    str
        ``![alt](figures/<name>.png)``.

    Examples
    --------
    >>> figure_link("umap_vae", "UMAP of VAE clusters")
    '![UMAP of VAE clusters](figures/umap_vae.png)'
    """
    if not _FIGURE_NAME.match(name):
        raise ValueError(f"figure name {name!r} must be letters, digits, '_', '.', '-' (not starting with those)")
    return f"![{alt if alt is not None else name}](figures/{name}.png)"


def embed_figures(text: str, images: Mapping[str, bytes]) -> str:
    """The report's Markdown with each ``figures/<name>.png`` link replaced by the PNG itself.

    The file on disk links its figures relatively (they sit beside it); a copy shown anywhere
    else, such as Dagster's metadata view, has no ``figures/`` folder next to it and needs the
    pictures inside the text, as ``data:image/png;base64`` URIs.

    Parameters
    ----------
    text : str
        Markdown whose figure links come from :func:`figure_link`.
    images : mapping of str to bytes
        Figure name to PNG bytes, as given to :func:`render_report`.

    Returns
    -------
    str
        The same text, every figure link a data URI.

    Raises
    ------
    ValueError
        If a link names a figure that is not in ``images``.

    Examples
    --------
    >>> embed_figures("![a](figures/a.png)", {"a": b"PNG"})
    '![a](data:image/png;base64,UE5H)'
    """
    missing = sorted(set(_FIGURE_LINK.findall(text)) - set(images))
    if missing:
        raise ValueError(f"the report links to figures that are not in images: {missing}")

    def inline(match: re.Match) -> str:
        return f"](data:image/png;base64,{base64.b64encode(bytes(images[match.group(1)])).decode('ascii')})"

    return _FIGURE_LINK.sub(inline, text)


def render_report(
    sections: Sequence[tuple[str, str]], images: Mapping[str, bytes], out_dir: Path, *, title: str | None = None
) -> Path:
    """Write ``report.md`` and its figures (``figures/<name>.png``) into ``out_dir``.

    Sections reference figures with relative links (see :func:`figure_link`); figures no section
    references are appended under a final "Figures" heading. Each file is written to a temporary
    file and renamed into place, figures before the report, so a reader of ``report.md`` never
    meets a half-written file or a link to a figure not yet written. Other files in ``out_dir``
    (including figures of earlier runs) are left alone.

    Parameters
    ----------
    sections : sequence of (str, str)
        ``(heading, markdown body)`` pairs, rendered in order as ``## heading`` sections.
    images : mapping of str to bytes
        Figure name (letters, digits, ``_ . -``) to PNG bytes.
    out_dir : Path
        Output folder, created if needed.
    title : str, optional
        A top-level ``# title`` line above the sections.

    Returns
    -------
    Path
        Path of the written ``report.md``.
    """
    for name, png in images.items():
        figure_link(name)  # validates the name
        if not isinstance(png, bytes | bytearray) or not bytes(png[:8]) == b"\x89PNG\r\n\x1a\n":
            raise ValueError(f"image {name!r} is not PNG bytes")
    referenced = {match for _, body in sections for match in _FIGURE_LINK.findall(body)}
    dangling = sorted(referenced - set(images))
    if dangling:
        raise ValueError(f"sections link to figures that are not in images: {dangling}")
    parts = [f"# {title}\n"] if title else []
    parts += [f"## {heading}\n\n{body.strip()}\n" for heading, body in sections]
    unreferenced = [name for name in images if name not in referenced]
    if unreferenced:
        parts.append("## Figures\n\n" + "\n\n".join(figure_link(name) for name in unreferenced) + "\n")

    out_dir = Path(out_dir)
    figures_dir = out_dir / "figures"
    figures_dir.mkdir(parents=True, exist_ok=True)
    for name, png in images.items():
        atomic_write(figures_dir / f"{name}.png", lambda temporary, png=png: temporary.write_bytes(bytes(png)))
    report = out_dir / "report.md"
    text = "\n".join(parts)
    atomic_write(report, lambda temporary: temporary.write_text(text, encoding="utf-8"))
    return report
