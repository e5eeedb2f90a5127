"""The data layer: DCASE 2020 Task 2 layout, data sources, clip index and audio loading.

- :mod:`benchmark.data.layout`: file-name and folder facts of the DCASE layout;
- :mod:`benchmark.data.params`: the ``data`` section of ``params.yaml``;
- :mod:`benchmark.data.synthetic`: the synthetic data set (the default source);
- :mod:`benchmark.data.download`, :mod:`benchmark.data.archive`: the real data from Zenodo;
- :mod:`benchmark.data.local`: a local copy indexed in place, and ``data.root`` bookkeeping;
- :mod:`benchmark.data.index`: ``index.csv`` (``read_index``, ``write_index``, ``build_index``);
- :mod:`benchmark.data.audio`: ``load_clip`` (fixed-length mono float32 waveforms).
"""
