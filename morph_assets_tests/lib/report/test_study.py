"""Side-by-side study tables and the on-disk report."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import polars as pl
import pytest

from morph_assets.lib.report import (
    STUDY_TABLE1,
    STUDY_TABLE2,
    embed_figures,
    figure_link,
    render_report,
    table1_markdown,
    table2_markdown,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


def _table_rows(markdown: str) -> list[list[str]]:
    lines = [line for line in markdown.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]


def test_study_constants_are_the_published_tables():
    assert [(row["model"], row["accuracy"]) for row in STUDY_TABLE1] == [
        ("Random Forest", 0.12), ("Random Forest", 0.18), ("CNN", 0.18), ("CNN", 0.16)
    ]
    assert STUDY_TABLE1[1]["f1"] == 0.11 and STUDY_TABLE1[3]["precision"] == 0.02
    assert STUDY_TABLE2["No Well Position Distinction"] == {"features": 0.0548, "vae": 0.0434}
    assert STUDY_TABLE2["Same Position Only"] == {"features": 0.0256, "vae": 0.0174}
    assert STUDY_TABLE2["Different Position Only"] == {"features": 0.0515, "vae": 0.0378}


def test_table1_markdown_puts_ours_beside_the_study():
    ours = pl.DataFrame(
        {
            "model": ["Random Forest", "CNN", "Random Forest"],
            "version": ["Baseline (grayscale only)", "Enhanced (grayscale + mask)", "CellProfiler Mean_"],
            "accuracy": [0.2345, 0.1111, 0.4],
            "precision_weighted": [0.1, 0.05, 0.3],
            "recall_weighted": [0.2345, 0.1111, 0.4],
            "f1_weighted": [0.15, 0.07, None],
            "balanced_accuracy": [0.05, 0.02, 0.1],
            "majority_accuracy": [0.2, 0.2, 0.2],
        }
    )
    markdown = table1_markdown(ours)
    rows = _table_rows(markdown)
    assert len(rows) == 5
    assert rows[0][:6] == ["Random Forest", "Baseline (grayscale only)", "0.12", "0.06 / 0.12 / 0.08", "0.234",
                           "0.100 / 0.234 / 0.150"]  # fmt: skip
    assert rows[1][2:5] == ["0.18", "0.08 / 0.18 / 0.11", "not run"]
    assert rows[2][2:4] == ["0.18", "0.03 / 0.18 / 0.06"]
    assert rows[3][2:5] == ["0.16", "0.02 / 0.16 / 0.04", "0.111"]
    assert rows[4][:5] == ["Random Forest", "CellProfiler Mean_", "—", "—", "0.400"]
    assert rows[4][5] == "0.300 / 0.400 / —"
    assert "Majority baseline" in markdown.splitlines()[0]
    with pytest.raises(ValueError, match="lacks"):
        table1_markdown(ours.drop("majority_accuracy"))
    with pytest.raises(ValueError, match="more than one row"):
        table1_markdown(pl.concat([ours, ours.head(1)]))


def test_table2_markdown_puts_like_for_like_columns_first():
    rows = []
    for setting, value in (("pooled", 0.06), ("same", 0.03), ("different", 0.05)):
        for representation, offset in (("regionprops", 0.0), ("vae", -0.01)):
            rows.append((setting, representation, "image", False, value + offset, 0.1))
            rows.append((setting, representation, "well", True, value + offset + 0.2, 0.5))
    rows.append(("pooled", "cellprofiler", "well", True, 0.41, None))
    ours = pl.DataFrame(
        rows,
        schema=["setting", "representation", "level", "normalised", "mean_average_precision", "fraction_retrieved"],
        orient="row",
    )
    markdown = table2_markdown(ours)
    header = [cell.strip() for cell in markdown.splitlines()[0].strip("|").split("|")]
    assert header[:7] == [
        "Evaluation Setting",
        "Study: Extracted Features",
        "Study: VAE Embeddings",
        "Ours: Extracted Features (image, raw)",
        "Ours: VAE Embeddings (image, raw)",
        "Ours: Extracted Features (well, normalised)",
        "Ours: VAE Embeddings (well, normalised)",
    ]
    table = _table_rows(markdown)
    assert table[0][:5] == ["No Well Position Distinction", "0.0548", "0.0434", "0.0600 (FR 0.10)", "0.0500 (FR 0.10)"]
    assert table[1][:3] == ["Same Position Only", "0.0256", "0.0174"]
    assert table[2][:3] == ["Different Position Only", "0.0515", "0.0378"]
    assert table[0][5] == "0.2600 (FR 0.50)"
    assert table[0][7] == "0.4100" and table[1][7] == "not run"
    assert "Like-for-like" in markdown


def test_table2_markdown_names_settings_without_replicate_pairs():
    ours = pl.DataFrame(
        [("pooled", "regionprops", "image", False, 0.31, 0.2, "scored"),
         ("same", "regionprops", "image", False, None, None, "no replicate pairs")],
        schema=["setting", "representation", "level", "normalised", "mean_average_precision", "fraction_retrieved",
                "status"],
        orient="row",
    )
    table = _table_rows(table2_markdown(ours))
    assert table[0][3] == "0.3100 (FR 0.20)"
    assert table[1][3] == "no replicate pairs"  # said, not a bare dash
    assert table[2][3] == "not run"


def test_render_report_writes_files_with_resolving_links(tmp_path: Path):
    out_dir = tmp_path / "report"
    sections = [("Clustering", f"Best k = 2.\n\n{figure_link('umap', 'UMAP')}"), ("Tables", "| a |\n|---|\n| 1 |")]
    report = render_report(sections, {"umap": PNG, "extra": PNG}, out_dir)
    assert report == out_dir / "report.md"
    text = report.read_text()
    assert text.startswith("## Clustering")
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert sorted(links) == ["figures/extra.png", "figures/umap.png"]
    for link in links:
        assert (out_dir / link).read_bytes() == PNG
    assert not [path for path in out_dir.rglob("*.tmp")]
    # a second run replaces the report in place
    render_report([("Only", "text")], {}, out_dir)
    assert (out_dir / "report.md").read_text().startswith("## Only")
    with pytest.raises(ValueError, match="not in images"):
        render_report([("x", figure_link("missing"))], {}, out_dir)
    with pytest.raises(ValueError, match="figure name"):
        render_report([], {"../evil": PNG}, out_dir)
    with pytest.raises(ValueError, match="PNG"):
        render_report([], {"fig": b"GIF89a"}, out_dir)


def test_render_report_writes_the_title_first(tmp_path):
    report = render_report([("Data", "text")], {}, tmp_path, title="A title")
    assert report.read_text().splitlines()[0] == "# A title"


def test_embed_figures_puts_each_png_in_the_text(tmp_path: Path):
    other = b"\x89PNG\r\n\x1a\n" + b"\x01" * 16
    sections = [("Retrieval", figure_link("map", "mAP vs p")), ("Clusters", figure_link("umap")),
                ("Last", "text")]
    text = render_report(sections, {"map": PNG, "umap": other}, tmp_path).read_text()
    shown = embed_figures(text, {"map": PNG, "umap": other})
    assert "figures/" not in shown and shown.rstrip().endswith("## Last\n\ntext")
    encoded = re.findall(r"!\[([^\]]*)\]\(data:image/png;base64,([^)]+)\)", shown)
    assert [(alt, base64.b64decode(data)) for alt, data in encoded] == [("mAP vs p", PNG), ("umap", other)]
    with pytest.raises(ValueError, match=r"not in images: \['umap'\]"):
        embed_figures(text, {"map": PNG})
