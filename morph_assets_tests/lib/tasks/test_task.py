"""The per-well task objects: keyword-only, immutable, and whole after a trip to a worker."""

import dataclasses
import pickle

import pytest

from morph_assets.lib.io import Lake
from morph_assets.lib.tasks import CorrectedWellTask, IngestTask, WellTask

ROWS = [{"Metadata_Site": 1, "channel": 5, "path": "/plates/P1/Images/r01c01f01p01-ch5sk1fk1fl1.tiff"}]


def test_a_task_is_keyword_only_and_immutable(tmp_path):
    with pytest.raises(TypeError):
        WellTask("A01", str(tmp_path), "P1", ROWS)  # positional packing is what the tasks replaced
    task = WellTask(well="A01", lake_root=str(tmp_path), plate="P1", image_rows=ROWS)
    with pytest.raises(dataclasses.FrozenInstanceError):
        task.well = "A02"


def test_a_task_pickles_whole_and_names_its_lake(tmp_path):
    task = CorrectedWellTask(well="B03", lake_root=str(tmp_path), plate="P1", image_rows=ROWS,
                             illumination_files={"DNA": str(tmp_path / "illumination-DNA.tiff")})
    again = pickle.loads(pickle.dumps(task))  # what a spawn worker receives
    assert again == task and isinstance(again, CorrectedWellTask)
    assert isinstance(again.lake(), Lake) and again.lake().root == tmp_path


def test_stage_tasks_extend_the_common_fields():
    common = {field.name for field in dataclasses.fields(WellTask)}
    assert common == {"well", "lake_root", "plate", "image_rows"}
    assert common <= {field.name for field in dataclasses.fields(IngestTask)}
