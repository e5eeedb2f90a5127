"""The ``perf:`` section of ``params.yaml`` (stage ``python -m benchmark.perf``)."""

from __future__ import annotations

from dataclasses import dataclass

from benchmark.config import ConfigError
from benchmark.data.layout import MACHINE_TYPES


@dataclass
class PerfParams:
    """``perf:`` section of ``params.yaml`` (stage ``python -m benchmark.perf``)."""

    models: list[str]  # registered names to measure; [] = every registered model
    num_clips: int  # clips for the feature-path comparison
    feature_repeats: int  # interleaved rounds of the feature paths (best and median reported)
    feature_chunk_clips: int  # our cache builder's chunk (keep equal to features.chunk_clips)
    clips_dir: str | None  # DCASE-layout folder of real clips; null = generated synthetic clips
    sample_rate: int  # Hz
    clip_samples: int  # samples per clip (160,000 = 10 s)
    feature_workers: list[int]  # decoding workers to compare (ours: threads, peer: processes)
    threads: list[int]  # torch CPU threads per configuration; 0 = the machine's default
    device: str  # auto | cpu | cuda
    amp: bool  # mixed precision (bf16, or fp16 + GradScaler) on CUDA
    compile: bool  # torch.compile the model on CUDA
    train_batch_cpu: int  # clips per training step on CPU
    train_batch_cuda: int  # clips per training step on CUDA
    train_steps: int  # timed training steps (after warm-up)
    latency_repeats: int  # timed batch-1 inferences (the median is reported)
    throughput_batch_cpu: int  # clips per inference batch on CPU
    throughput_batch_cuda: int  # clips per inference batch on CUDA
    throughput_repeats: int  # timed throughput batches
    warmup: int  # untimed calls before each measurement
    max_seconds: float  # stop repeating a measurement after this long (>= 1 timed call)
    isolate: bool  # each (model, threads) in a fresh process: exact peak RSS per model
    train_stage: bool  # also time the real training stage (benchmark.train) and project the paper
    train_stage_epochs: int  # epochs of that stage per model; the last one's rate is reported
    train_stage_clips_cpu: int  # training clips (= clips per epoch) of the stage on CPU
    train_stage_clips_cuda: int  # training clips (= clips per epoch) of the stage on CUDA
    projection_profile: str  # profiles/<name>.yaml whose recipes (epochs, seeds) are projected
    projection_train_clips: int  # DCASE 2020 training clips per epoch; 0 = the documented count
    seed: int
    out_json: str
    out_md: str

    def validate(self) -> None:
        positive = ("num_clips", "feature_repeats", "feature_chunk_clips", "sample_rate",
                    "clip_samples",
                    "train_batch_cpu", "train_batch_cuda", "train_steps", "latency_repeats",
                    "throughput_batch_cpu", "throughput_batch_cuda", "throughput_repeats")
        for key in positive:
            if getattr(self, key) <= 0:
                raise ConfigError(f"'perf.{key}' must be > 0, got {getattr(self, key)}")
        if self.warmup < 0 or not self.max_seconds > 0:
            raise ConfigError("'perf.warmup' must be >= 0 and 'perf.max_seconds' > 0")
        if not self.feature_workers or min(self.feature_workers) <= 0:
            raise ConfigError(
                f"'perf.feature_workers' must be >= 1 each, got {self.feature_workers}"
            )
        if not self.threads or min(self.threads) < 0:
            raise ConfigError(f"'perf.threads' must be >= 0 each, got {self.threads}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"'perf.device' must be auto, cpu or cuda, got {self.device!r}")
        self._validate_train_stage()

    def _validate_train_stage(self) -> None:
        if self.train_stage_epochs < 2:
            raise ConfigError("'perf.train_stage_epochs' must be >= 2 (the first epoch includes "
                              f"warm-up), got {self.train_stage_epochs}")
        for key in ("train_stage_clips_cpu", "train_stage_clips_cuda"):
            if getattr(self, key) < len(MACHINE_TYPES):
                raise ConfigError(f"'perf.{key}' must be >= {len(MACHINE_TYPES)} (one clip per "
                                  f"machine type), got {getattr(self, key)}")
        if self.projection_train_clips < 0:
            raise ConfigError(
                f"'perf.projection_train_clips' must be >= 0, got {self.projection_train_clips}"
            )
        if not self.projection_profile:
            raise ConfigError("'perf.projection_profile' must name a profile, e.g. paper")

    def train_batch(self, device_type: str) -> int:
        """Clips per training step on ``device_type`` (``cpu`` or ``cuda``)."""
        return self.train_batch_cuda if device_type == "cuda" else self.train_batch_cpu

    def train_stage_clips(self, device_type: str) -> int:
        """Training clips (= clips per epoch) of the timed training stage on ``device_type``."""
        return self.train_stage_clips_cuda if device_type == "cuda" else self.train_stage_clips_cpu
