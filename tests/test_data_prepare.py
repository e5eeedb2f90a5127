"""The prepare stage: ``python -m benchmark.prepare --params FILE`` for each source."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import yaml

from benchmark.data.index import read_index
from benchmark.prepare import main, prepare


def test_main_reads_only_the_data_section(data_params, tmp_path):
    params = data_params(machine_types=["slider"], synthetic={"ids_per_type": 1})
    params_file = tmp_path / "params.yaml"
    params_file.write_text(yaml.safe_dump({"data": asdict(params), "train": {"anything": 1}}))
    main(["--params", str(params_file)])
    index = read_index(Path(params.root) / "index.csv")
    assert len(index) == 4 and set(index["machine_type"]) == {"slider"}


def test_prepare_dispatches_on_source(data_params, real_clips):
    local = data_params(source="local", local={"path": str(real_clips / "dcase2020-sample")})
    assert len(read_index(prepare(local))) == 12
    synthetic = data_params(machine_types=["valve"], synthetic={"ids_per_type": 1})
    assert set(read_index(prepare(synthetic))["split"]) == {"train", "test"}
