"""Reports: Markdown and terminal renderings of tables, and the study report on disk.

Tables as Markdown cells and as aligned text, CSV or JSON for the command line, the study's
published numbers beside ours, and the segmentation montages a scientist checks first.
"""

from morph_assets.lib.report._biology import (
    hierarchical_clusters_markdown,
    sister_compounds_markdown,
    truth_markdown,
)
from morph_assets.lib.report._markdown import (
    escape_cell,
    markdown_table,
    frame_to_markdown,
    figure_markdown,
    png_markdown,
    plates_label,
)
from morph_assets.lib.report._segmentation_review import (
    segmentation_montage_png,
)
from morph_assets.lib.report._study import (
    STUDY_TABLE1,
    STUDY_TABLE2,
    STUDY_SETTINGS,
    MISSING,
    table1_markdown,
    table2_markdown,
    figure_link,
    embed_figures,
    render_report,
)
from morph_assets.lib.report._table_text import (
    FORMATS,
    NULL_TEXT,
    text_cell,
    frame_to_text,
    frame_to_json,
    frame_to_csv,
    render,
)

__all__ = [
    "FORMATS",
    "MISSING",
    "NULL_TEXT",
    "STUDY_SETTINGS",
    "STUDY_TABLE1",
    "STUDY_TABLE2",
    "embed_figures",
    "escape_cell",
    "figure_link",
    "figure_markdown",
    "frame_to_csv",
    "frame_to_json",
    "frame_to_markdown",
    "hierarchical_clusters_markdown",
    "frame_to_text",
    "markdown_table",
    "plates_label",
    "png_markdown",
    "render",
    "render_report",
    "segmentation_montage_png",
    "sister_compounds_markdown",
    "table1_markdown",
    "table2_markdown",
    "text_cell",
    "truth_markdown",
]
