"""GPU catalogue: the datasheet numbers every model in dcsim starts from.

Each entry cites its source beside the values. Peak FLOP/s are *dense* BF16 (no
structured sparsity). Bandwidths are bytes per second; NVLink (AMD: Infinity Fabric)
is the per-GPU bidirectional aggregate as quoted by the vendor, of which half flows
each way.

Idle power is not on datasheets. It is measured: the AcmeTrace telemetry of two
A100 LLM clusters (Hu et al., NSDI 2024; ../shared/data/telemetry/acme,
gpu_power_*_cdf.csv) shows idle GPUs at 58-66 W out of a 400 W TDP (the 5-25th
percentiles, before the busy mode). We carry that idle share of TDP, 0.155, to the
other SXM and OAM parts, an assumption recorded in DATA_SOURCES.md until a measurement of
each part replaces it.
"""

from __future__ import annotations

from dataclasses import dataclass

from dcsim.core.units import GB_B, TB_B, TFLOPS

# Share of TDP an idle SXM GPU draws: AcmeTrace A100 clusters, 62 W / 400 W.
IDLE_SHARE_OF_TDP = 62.0 / 400.0


@dataclass(frozen=True, slots=True)
class GpuSpec:
    """Datasheet description of one GPU model."""

    name: str
    peak_bf16_flops: float  # dense, FLOP/s
    hbm_bytes: float
    hbm_bw_bytes_per_s: float
    tdp_w: float
    idle_w: float
    nvlink_bw_bytes_per_s: float  # per GPU, both directions together
    source: str
    # Dense peak FLOP/s of each precision the tensor cores run natively, bf16 among them
    # (None: bf16 only). Datasheets quote FP8/FP4 with 2:4 sparsity: halved to dense.
    low_precision_flops: tuple[tuple[str, float], ...] = ()

    @property
    def peak_flops_per_s(self) -> dict[str, float]:
        """Dense peak FLOP/s by precision name."""
        return {"bf16": self.peak_bf16_flops, **dict(self.low_precision_flops)}

    @property
    def native_precisions(self) -> tuple[str, ...]:
        """Precisions the tensor cores run natively."""
        return tuple(self.peak_flops_per_s)

    def peak_flops(self, precision: str) -> float:
        """Dense peak FLOP/s at ``precision``; a precision the GPU cannot run natively is an error."""
        peaks = self.peak_flops_per_s
        if precision not in peaks:
            raise ValueError(f"GPU {self.name} does not run {precision} natively; it runs {list(peaks)}")
        return peaks[precision]

    def __post_init__(self) -> None:
        for field in ("peak_bf16_flops", "hbm_bytes", "hbm_bw_bytes_per_s", "tdp_w", "nvlink_bw_bytes_per_s"):
            if getattr(self, field) <= 0:
                raise ValueError(f"GpuSpec {self.name}: {field} must be > 0")
        if not 0 <= self.idle_w < self.tdp_w:
            raise ValueError(f"GpuSpec {self.name}: idle_w must be in [0, tdp_w)")


# A module (SXM or OAM) GPU: datasheet units in, SI units out.
def _sxm(name: str, tflops: float, hbm_gb: float, hbm_tb_s: float, tdp_w: float, nvlink_gb_s: float, source: str,
         low_tflops: tuple[tuple[str, float], ...] = ()) -> GpuSpec:
    return GpuSpec(
        name=name,
        peak_bf16_flops=tflops * TFLOPS,
        hbm_bytes=hbm_gb * GB_B,
        hbm_bw_bytes_per_s=hbm_tb_s * TB_B,
        tdp_w=tdp_w,
        idle_w=IDLE_SHARE_OF_TDP * tdp_w,
        nvlink_bw_bytes_per_s=nvlink_gb_s * GB_B,
        source=source,
        low_precision_flops=tuple((p, t * TFLOPS) for p, t in low_tflops),
    )


GPUS: dict[str, GpuSpec] = {
    # NVIDIA A100 Tensor Core GPU datasheet (2021), SXM 80GB column: BF16 312 TFLOPS
    # dense, 80 GB HBM2e, 2,039 GB/s, max TDP 400 W, NVLink 600 GB/s.
    "A100-80GB": _sxm("A100-80GB", 312.0, 80.0, 2.039, 400.0, 600.0, "NVIDIA A100 datasheet (SXM 80GB)"),
    # NVIDIA H100 Tensor Core GPU datasheet, H100 SXM column: BF16 1,979 TFLOPS with
    # sparsity = 989.4 dense, 80 GB HBM3, 3.35 TB/s, up to 700 W, NVLink 900 GB/s.
    # FP8 3,958 TFLOPS with sparsity -> 1,979 dense.
    "H100-SXM": _sxm("H100-SXM", 989.4, 80.0, 3.35, 700.0, 900.0, "NVIDIA H100 datasheet (SXM)", (("fp8", 1979.0),)),
    # NVIDIA H200 Tensor Core GPU datasheet, H200 SXM column: BF16 1,979 TFLOPS with
    # sparsity = 989.4 dense, 141 GB HBM3e, 4.8 TB/s, up to 700 W, NVLink 900 GB/s.
    # FP8 3,958 TFLOPS with sparsity -> 1,979 dense.
    "H200": _sxm("H200", 989.4, 141.0, 4.8, 700.0, 900.0, "NVIDIA H200 datasheet (SXM)", (("fp8", 1979.0),)),
    # NVIDIA DGX B200 datasheet: 8 GPUs, 72 PFLOPS FP8 training (sparse) -> 2.25 PFLOPS
    # dense BF16 per GPU; 1,440 GB HBM3e total (180 GB per GPU), 64 TB/s total (8 TB/s
    # per GPU); NVLink 5 1.8 TB/s per GPU; HGX B200 GPU TDP 1,000 W.
    # HGX B200 datasheet, per GPU: FP8 9 PFLOPS and FP4 18 PFLOPS with sparsity -> 4.5 and 9 dense.
    "B200": _sxm("B200", 2250.0, 180.0, 8.0, 1000.0, 1800.0, "NVIDIA DGX B200 / HGX B200 datasheets",
                 (("fp8", 4500.0), ("fp4", 9000.0))),
    # One Blackwell GPU of a GB200 superchip (2 GPUs + 1 Grace CPU), as in GB200 NVL72.
    # NVIDIA GB200 NVL72 specifications (72 GPUs): FP16/BF16 Tensor Core 360 PFLOPS with
    # sparsity -> 2.5 PFLOPS dense per GPU; up to 13.4 TB HBM3e, 576 TB/s -> 186 GB
    # (as MLPerf submissions list "GB200-186GB") and 8 TB/s per GPU; NVLink 130 TB/s ->
    # NVLink 5 1.8 TB/s per GPU. Power: not on the NVL72 spec sheet; 1,200 W per GPU is
    # NVIDIA's liquid-cooled Blackwell figure from the GTC 2024 launch (GB200 superchip up
    # to 2,700 W with its Grace CPU), an assumption until a datasheet gives it.
    # NVL72: FP8 720 PFLOPS and FP4 1,440 PFLOPS with sparsity -> 5 and 10 PFLOPS dense per GPU.
    "GB200": _sxm("GB200", 2500.0, 186.0, 8.0, 1200.0, 1800.0,
                  "NVIDIA GB200 NVL72 specifications (per-rack totals / 72); GPU power: NVIDIA GTC 2024",
                  (("fp8", 5000.0), ("fp4", 10000.0))),
    # AMD Instinct MI300X (OAM module) product page and footnote MI300-17: BF16 1,307.4
    # TFLOPS dense (2,614.9 with sparsity), 192 GB HBM3, 5.3 TB/s (5.325 exact), 750 W
    # peak typical board power; 8 Infinity Fabric links of 128 GB/s peak each, 7 of
    # which join the peers of an 8-GPU platform: 7 x 128 = 896 GB/s aggregate. Unlike
    # NVLink through NVSwitch, each link reaches one peer only: collectives reach the
    # aggregate only by running several rings over the mesh at once. Idle share of TDP
    # carried over from the A100 (see above).
    # FP8 2,614.9 TFLOPS dense (5,229.8 with sparsity), same footnote.
    "MI300X": _sxm("MI300X", 1307.4, 192.0, 5.3, 750.0, 896.0,
                   "AMD Instinct MI300X product page / datasheet (footnote MI300-17)", (("fp8", 2614.9),)),
}


def gpu_names() -> list[str]:
    """Names accepted wherever a GPU is chosen."""
    return sorted(GPUS)
