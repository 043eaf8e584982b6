"""Tests of the dbt-style SQL model runner."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pytest

from morph_assets.lib.io import Lake, ModelError, atomic_write_parquet, build_order, build_views, load_models
from morph_assets.lib.plates import embedded_layout
from morph_assets.lib.tasks import RAW_IMAGES_SCHEMA

REAL_MODELS = Path(__file__).resolve().parents[3] / "dbt_style_sql"


def _write_models(folder: Path, models: dict[str, str]) -> Path:
    for relative, sql in models.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(sql)
    return folder


def _query(lake: Lake, sql: str) -> list[tuple]:
    with duckdb.connect(str(lake.duckdb_path), read_only=True) as connection:
        return connection.execute(sql).fetchall()


def test_build_order_respects_ref(tmp_path):
    models = load_models(_write_models(tmp_path, {
        "c.sql": "select * from {{ ref('b') }} join {{ ref('a') }} using (x)",
        "sub/b.sql": "select * from {{ ref('a') }}",
        "a.sql": "select 1 as x;\n",
        "d.sql": "select 2 as y",
    }))
    assert models["a"].sql == "select 1 as x"
    assert models["c"].refs == ["a", "b"]
    order = build_order(models)
    assert sorted(order) == ["a", "b", "c", "d"]
    for name, model in models.items():
        for ref in model.refs:
            assert order.index(ref) < order.index(name)


def test_cycle(tmp_path):
    models = load_models(_write_models(tmp_path, {
        "a.sql": "select * from {{ ref('b') }}",
        "b.sql": "select * from {{ ref( \"a\" ) }}",
    }))
    with pytest.raises(ModelError, match="cycle"):
        build_order(models)
    with pytest.raises(ModelError, match="cycle"):
        build_views(Lake(tmp_path / "lake"), tmp_path)


def test_unknown_ref(tmp_path):
    _write_models(tmp_path, {"a.sql": "select 1", "b.sql": "select * from {{ ref('nope') }}"})
    with pytest.raises(ModelError, match=r"ref\(\) to unknown model\(s\) \['nope'\]") as caught:
        load_models(tmp_path)
    assert str(tmp_path / "b.sql") in str(caught.value)


def test_duplicate_name(tmp_path):
    _write_models(tmp_path, {"one/a.sql": "select 1", "two/a.sql": "select 2"})
    with pytest.raises(ModelError, match="model name 'a' is also used by") as caught:
        load_models(tmp_path)
    assert str(tmp_path / "one" / "a.sql") in str(caught.value)
    assert str(tmp_path / "two" / "a.sql") in str(caught.value)


def test_empty_model(tmp_path):
    _write_models(tmp_path, {"a.sql": "  ;\n"})
    with pytest.raises(ModelError, match="empty model") as caught:
        load_models(tmp_path)
    assert str(tmp_path / "a.sql") in str(caught.value)


def test_sql_error_names_file_and_spares_the_other_views(tmp_path):
    models = _write_models(tmp_path / "models", {
        "a.sql": "select * from no_such_table",
        "b.sql": "select * from {{ ref('a') }}",
        "c.sql": "select 1 as one",
    })
    report = build_views(Lake(tmp_path / "lake"), models)
    assert str(models / "a.sql") in report.failed["a"]
    assert "no_such_table" in report.failed["a"]
    assert "skipped model" in report.skipped["b"]
    assert report.built == ["c"]


def _models(folder: Path) -> Path:
    return _write_models(folder, {
        "things.sql": "select plate_label, well, value from {{ lake('things') }}",
        "totals.sql": "select plate_label, sum(value) as total, count(*) as n from {{ ref('things') }} group by plate_label",
        "others.sql": "select * from {{ lake('others') }}",
        "joined.sql": "select * from {{ ref('totals') }} cross join {{ ref('others') }}",
        "constant.sql": "select 42 as answer",
    })


def test_skips_models_without_data(tmp_path):
    lake = Lake(tmp_path / "lake")
    models = _models(tmp_path / "models")
    lake.write_well("things", "P1", "A01", pl.DataFrame({"plate_label": ["P1"], "well": ["A01"], "value": [1.5]}))
    lake.write_well("things", "P1", "A02", pl.DataFrame({"plate_label": ["P1"], "well": ["A02"], "value": [2.0]}))
    lake.compact_plate("things", "P1")
    lake.write_well("things", "P2", "B01", pl.DataFrame({"plate_label": ["P2"], "well": ["B01"], "value": [10.0]}))
    # P2 is not compacted yet: only compacted files are read.
    report = build_views(lake, models)
    assert sorted(report.built) == ["constant", "things", "totals"]
    assert report.skipped == {
        "others": "no data yet in lake table(s) ['others']",
        "joined": "depends on skipped model(s) ['others']",
    }
    assert _query(lake, "select * from totals") == [("P1", 3.5, 2)]
    assert _query(lake, "select answer from constant") == [(42,)]

    lake.compact_plate("things", "P2")
    lake.write_well("others", "P1", "A01", pl.DataFrame({"label": ["x"]}))
    lake.compact_plate("others", "P1")
    report = build_views(lake, models)
    assert report.skipped == {}
    assert report.built.index("joined") > report.built.index("others")
    assert _query(lake, "select plate_label, total, n, label from joined order by plate_label") == [
        ("P1", 3.5, 2, "x"), ("P2", 10.0, 1, "x"),
    ]


def test_skipped_view_is_dropped(tmp_path):
    lake = Lake(tmp_path / "lake")
    models = _models(tmp_path / "models")
    lake.write_well("others", "P1", "A01", pl.DataFrame({"label": ["x"]}))
    lake.compact_plate("others", "P1")
    assert "others" in build_views(lake, models).built
    (lake.root / "others/plate=P1/part-0.parquet").unlink()
    assert "others" in build_views(lake, models).skipped
    names = {row[0] for row in _query(lake, "select view_name from duckdb_views() where not internal")}
    assert "others" not in names and "constant" in names


def _raw_images_frame(plate: str, wells: list[str]) -> pl.DataFrame:
    rows = []
    for well in wells:
        for site in (1, 2):
            for channel, name in ((1, "Mito"), (5, "DNA")):
                rows.append({
                    "Metadata_Plate": plate, "Metadata_Well": well, "Metadata_Site": site, "channel": channel,
                    "channel_name": name, "path": f"/src/{plate}/{well}-{site}-{channel}.tiff", "height": 96, "width": 96,
                    "dtype": "uint16", "mean_intensity": 100.0 * channel, "std_intensity": 5.0, "min_intensity": 0.0,
                    "max_intensity": 65535.0 if well == "A01" else 900.0,
                    "saturated_fraction": 0.02 if well == "A01" else 0.0, "power_log_log_slope": -2.0,
                })
    return pl.DataFrame(rows, schema=RAW_IMAGES_SCHEMA)


def test_real_models_build(tmp_path):
    lake = Lake(tmp_path / "lake")
    layout = embedded_layout()
    for plate, wells in (("P1", ["A01", "A02", "A03"]), ("P2", ["A01"])):
        for well in wells:
            frame = _raw_images_frame(plate, [well])
            lake.write_well("raw_images", plate, well, frame)
        lake.compact_plate("raw_images", plate)
        plate_layout = layout.select(pl.lit(plate).alias("Metadata_Plate"), pl.all())
        atomic_write_parquet(plate_layout, lake.plate_file("plate_layout", plate))
    lake.write_errors("raw_images", "P1", [
        {"table": "raw_images", "Metadata_Plate": "P1", "Metadata_Well": "B01", "file": "/x.tiff", "error": "bad"},
        {"table": "raw_images", "Metadata_Plate": "P1", "Metadata_Well": None, "file": "/y.tiff", "error": "name"},
    ])
    lake.write_errors("raw_images", "P2", [])
    # A later stage's failure is in errors (every stage), not in ingest_errors; its reason on one line.
    lake.write_errors("masks", "P1", [
        {"table": "masks", "Metadata_Plate": "P1", "Metadata_Well": "A03", "file": "", "error": "ValueError:\n  bad"}])

    # The ingest stage's models build; later stages' models wait for their tables, with a reason.
    expected = {"raw_images", "plate_layout", "errors", "ingest_errors", "images_annotated", "plate_ingest_status",
                "image_qc_by_plate_channel"}
    report = build_views(lake, REAL_MODELS)
    assert set(report.built) == expected
    assert set(report.skipped) == {path.stem for path in REAL_MODELS.rglob("*.sql")} - expected
    assert all("no data yet" in reason or "skipped model" in reason for reason in report.skipped.values())

    assert _query(lake, "select * from plate_ingest_status") == [
        ("P1", 384, 64, 3, 1, 6, 12),
        ("P2", 384, 64, 1, 0, 2, 4),
    ]
    # A02 is a DMSO well of JUMP-Target-1: only its images count in the *_dmso column.
    qc = _query(lake, "select Metadata_Plate, channel, images, mean_intensity_dmso, images_over_1pct_saturated "
                      "from image_qc_by_plate_channel")
    assert qc == [("P1", 1, 6, 100.0, 2), ("P1", 5, 6, 500.0, 2), ("P2", 1, 2, None, 2), ("P2", 5, 2, None, 2)]
    annotated = _query(lake, "select distinct Metadata_Well, Metadata_pert_iname from images_annotated "
                             "where Metadata_Plate = 'P1' order by 1")
    by_well = dict(layout.select("Metadata_Well", "Metadata_pert_iname").iter_rows())
    assert annotated == [(well, by_well[well]) for well in ("A01", "A02", "A03")]
    assert _query(lake, "select count(*) from ingest_errors") == [(2,)]
    assert _query(lake, "select lake_table, Metadata_Well, error from errors where lake_table = 'masks'") == [
        ("masks", "A03", "ValueError: bad")]


def test_real_models_on_lake_with_raw_images_only(tmp_path):
    lake = Lake(tmp_path / "lake")
    lake.write_well("raw_images", "P1", "A01", _raw_images_frame("P1", ["A01"]))
    lake.compact_plate("raw_images", "P1")
    report = build_views(lake, REAL_MODELS)
    assert report.built == ["raw_images"]
    assert {"plate_layout", "ingest_errors", "images_annotated", "plate_ingest_status",
            "image_qc_by_plate_channel"} <= set(report.skipped)
    assert set(report.skipped) == {path.stem for path in REAL_MODELS.rglob("*.sql")} - {"raw_images"}
    assert _query(lake, "select count(*) from raw_images") == [(4,)]
