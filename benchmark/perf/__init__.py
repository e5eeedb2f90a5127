"""Stage ``perf``: measured speed of the pipeline, ``python -m benchmark.perf [--params ...]``.

Reads the ``perf`` section of ``params.yaml`` (plus the ``features:`` settings perf does not set
itself and, for the training stage, ``train:``, ``models:`` and the projection profile) and
writes ``reports/performance.json`` and ``reports/performance.md``. Every figure carries the
machine it was measured on.

- **feature path** (:mod:`.features`): clips/s decoded and featurised by our cache builder
  (:func:`benchmark.features.cache.build_cache`: threaded ``load_clip`` + batched front ends
  into memory-mapped arrays) for each worker count, against the per-item path of the official
  STgram-MFN and paper codes (a ``Dataset`` whose ``__getitem__`` runs
  ``librosa.load(sr=16000)`` + a per-clip torchaudio ``MelSpectrogram``, in a ``DataLoader`` with
  as many worker processes), on the same clips in the same run; and the rate at which training
  reads batches back from the cache;
- **training step** (:mod:`.training`): clips/s of one optimiser step (forward, loss, backward,
  AdamW step) per model on random inputs of the model's own kind (waveforms, or 5-frame log-Mel
  vectors), with AMP on CUDA;
- **inference** (:mod:`.inference`): latency of one 10-s clip at batch 1 (median after warm-up,
  under ``torch.inference_mode``, the full scoring path of
  :func:`benchmark.evaluation.scores.anomaly_scores` from the waveform), throughput at a larger
  batch and the real-time factor (processing time / audio duration);
- **training stage** (:mod:`.train_stage`): clips/s of the real stage
  (:func:`benchmark.train.train_model`) over a few short epochs on a generated data set, GPU
  busy % and peak memory; and (:mod:`.projection`) the projected wall time of the paper
  profile's recipes on this machine: epochs x DCASE 2020 training clips / that rate;
- **peak memory** (:mod:`.machine`): the process's peak RSS (each model in its own fresh process
  when ``perf.isolate``) or ``torch.cuda.max_memory_allocated`` on CUDA.

Modules: :mod:`.params` (``PerfParams``), :mod:`.machine` (machine info, timing, memory, GPU
utilisation), :mod:`.clips` (the clips measured on), :mod:`.models` (per-model runs, fresh
processes), :mod:`.stage` (:func:`run_perf`, :func:`write_reports`), :mod:`.report` (markdown),
:mod:`.cli` (the command line, run by ``__main__``).
"""

from benchmark.perf.cli import apply_overrides, main
from benchmark.perf.clips import index_real_clips, write_synthetic_clips, write_training_set
from benchmark.perf.features import (
    OUR_PATH,
    PEER_PATH,
    PeerClips,
    cache_read_rate,
    feature_benchmark,
    our_feature_path,
    peer_feature_path,
)
from benchmark.perf.inference import bench_inference
from benchmark.perf.machine import (
    THREAD_ENV,
    GpuBusySampler,
    cpu_model,
    current_rss_mb,
    machine_info,
    peak_rss_mb,
    reset_peak_rss,
    resolve_device,
    resolve_threads,
    time_calls,
    torch_threads,
)
from benchmark.perf.models import bench_model, import_models, model_benchmarks
from benchmark.perf.params import PerfParams
from benchmark.perf.projection import (
    DCASE2020_TRAIN_CLIPS,
    DCASE2020_TRAIN_CLIPS_PER_ID,
    DCASE2020_TRAIN_IDS,
    profile_recipes,
    projected_seconds,
    projection,
)
from benchmark.perf.report import format_duration, render_markdown
from benchmark.perf.stage import run_perf, write_reports
from benchmark.perf.train_stage import bench_train_stage, train_stage_benchmarks
from benchmark.perf.training import bench_training

__all__ = [
    "DCASE2020_TRAIN_CLIPS", "DCASE2020_TRAIN_CLIPS_PER_ID", "DCASE2020_TRAIN_IDS", "OUR_PATH",
    "PEER_PATH", "THREAD_ENV", "apply_overrides", "bench_inference", "bench_model",
    "bench_train_stage", "bench_training", "cache_read_rate", "cpu_model", "current_rss_mb",
    "feature_benchmark", "format_duration", "GpuBusySampler", "import_models",
    "index_real_clips", "machine_info", "main", "model_benchmarks", "our_feature_path",
    "peak_rss_mb", "peer_feature_path", "PeerClips", "PerfParams", "profile_recipes",
    "projected_seconds", "projection", "render_markdown", "reset_peak_rss", "resolve_device",
    "resolve_threads", "run_perf", "time_calls", "torch_threads", "train_stage_benchmarks",
    "write_reports", "write_synthetic_clips", "write_training_set",
]
