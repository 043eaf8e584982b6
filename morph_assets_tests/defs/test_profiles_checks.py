"""The profiles stage's asset checks on hand-made tables."""

import numpy as np
import polars as pl

from morph_assets.defs.profiles.checks import dmso_wells_result, positive_controls_result


def _wells(z_of_dmso: list[float]) -> pl.DataFrame:
    rng = np.random.default_rng(0)
    n = len(z_of_dmso)
    features = {f"f{i}": np.asarray(z_of_dmso) * np.sign(rng.normal(size=n)) for i in range(6)}
    return pl.DataFrame({"Metadata_Well": [f"A{i + 1:02d}" for i in range(n)], "Metadata_control_type": ["negcon"] * n,
                         **features})


def test_dmso_check_flags_outlying_dmso_wells():
    calm = dmso_wells_result(_wells([0.2, 0.5, 0.8, 1.0, 0.4, 0.3, 0.6, 0.9, 0.7, 0.1]), "P1")
    assert calm.passed and calm.metadata["outlier_wells"].value == "none"
    noisy = dmso_wells_result(_wells([0.2, 5.0, 0.8, 7.0, 0.4, 0.3, 0.6, 0.9, 0.7, 0.1]), "P1")
    assert not noisy.passed and noisy.metadata["outlier_wells"].value == "A02, A04"
    assert not dmso_wells_result(_wells([0.1, 0.2]), "P1").passed  # two DMSO wells cannot anchor a plate


def test_positive_control_check_counts_retrieved_controls():
    layout = pl.DataFrame({
        "Metadata_broad_sample": ["c1", "c2", "c3", None],
        "Metadata_pert_iname": ["a", "b", "c", "DMSO"],
        "Metadata_control_type": ["poscon_cp", "poscon_cp", None, "negcon"],
    })
    rows = {"representation": "cellprofiler", "level": "well", "normalization": "mad_robustize", "setting": "pooled"}
    per_treatment = pl.DataFrame([
        {**rows, "Metadata_treatment": "c1", "mean_average_precision": 0.9, "below_corrected_p": True},
        {**rows, "Metadata_treatment": "c2", "mean_average_precision": 0.1, "below_corrected_p": False},
        {**rows, "Metadata_treatment": "c3", "mean_average_precision": 0.9, "below_corrected_p": True},
    ])
    result = positive_controls_result(per_treatment, layout)
    assert result.metadata["fraction_retrieved"].value == 0.5 and result.passed
    worse = per_treatment.with_columns(pl.lit(False).alias("below_corrected_p"))
    assert not positive_controls_result(worse, layout).passed


def test_positive_control_check_names_why_nothing_was_scored():
    layout = pl.DataFrame({
        "Metadata_Plate": ["P1"] * 4, "Metadata_Well": ["A01", "A02", "B01", "B02"],
        "Metadata_broad_sample": ["c1", "c2", "c3", None], "Metadata_pert_iname": ["a", "b", "c", "DMSO"],
        "Metadata_control_type": ["poscon_cp", "poscon_cp", None, "negcon"],
    })
    nothing = pl.DataFrame(schema={"representation": pl.String, "level": pl.String, "normalization": pl.String,
                                   "setting": pl.String, "Metadata_treatment": pl.String,
                                   "mean_average_precision": pl.Float64, "below_corrected_p": pl.Boolean})
    # one plate, each positive control in one well: nothing to retrieve, and the check says why
    one_well_each = positive_controls_result(nothing, layout)
    assert one_well_each.passed and "none of the 2 profiled has a replicate well" in one_well_each.description
    # only B01 and B02 have profiles: no positive control among them
    profiled = pl.DataFrame({"Metadata_Plate": ["P1", "P1"], "Metadata_Well": ["B01", "B02"]})
    assert "none on the profiled wells" in positive_controls_result(nothing, layout, profiled).description


def test_dmso_check_names_a_plate_without_usable_features():
    constant = _wells([0.0] * 5)
    result = dmso_wells_result(constant, "P1")
    assert not result.passed and "no feature is finite and varying across its 5 DMSO wells" in result.description
