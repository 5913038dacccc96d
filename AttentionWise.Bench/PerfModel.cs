using System.Globalization;

namespace AttentionWise.Bench;

/// <summary>
/// A GPU as the performance model sees it: the geometry the layers choose launch shapes by, the peaks of a roofline
/// (FP32 without tensor cores, DRAM bandwidth), the limits of a multiprocessor that decide occupancy, and fixed costs
/// of a launch, a blocking download and an allocation. <see cref="Arch"/> names the ptxas column (sm_75 or sm_90)
/// whose registers and shared memory the model uses.
/// </summary>
public sealed record GpuSpec(
    string Name, string Arch, int Multiprocessors, double Fp32Tflops, double MemoryTbs,
    int MaxWarpsPerMultiprocessor, int MaxGroupsPerMultiprocessor, int SharedBytesPerMultiprocessor, int SharedReservePerGroup,
    double LaunchMicroseconds = 3.0, double DownloadMicroseconds = 15.0, double AllocationMicroseconds = 30.0,
    int RegistersPerMultiprocessor = 65536)
{
    public const int Warp = 32;

    /// <summary>Tesla T4 (Turing, sm_75): data sheet peaks, CUDA's limits for compute capability 7.5.</summary>
    public static readonly GpuSpec T4 = new("T4", "sm_75", 40, 8.1, 0.32, 32, 16, 64 * 1024, 0, LaunchMicroseconds: 4.0);

    /// <summary>H200 SXM (Hopper, sm_90): data sheet peaks, CUDA's limits for compute capability 9.0.</summary>
    public static readonly GpuSpec H200 = new("H200", "sm_90", 132, 67.0, 4.8, 64, 32, 228 * 1024, 1024);

    /// <summary>The GPUs the model knows by name.</summary>
    public static readonly IReadOnlyList<GpuSpec> Known = [T4, H200];

    /// <summary>The geometry a recording device reports to the layers for this GPU.</summary>
    public GpuGeometry Geometry => new(Name, Multiprocessors, MaxWarpsPerMultiprocessor * Warp, 1024, Warp);

    /// <summary>A known GPU by name (case-insensitive).</summary>
    public static GpuSpec Named(string name) =>
        Known.FirstOrDefault(g => string.Equals(g.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"unknown GPU '{name}' (known: {string.Join(", ", Known.Select(g => g.Name.ToLowerInvariant()))})");

    /// <summary>Any CUDA GPU from its properties (as <see cref="GpuPeaks.FromProperties"/>), with the multiprocessor
    /// limits of its compute capability; registers and shared memory are taken from the nearer ptxas column (sm_75
    /// before Ampere, sm_90 from it). Null when the capability is not known.</summary>
    public static GpuSpec? FromProperties(string name, int major, int minor, int multiprocessors, int clockKHz, int memoryClockKHz, int busWidthBits)
    {
        var peaks = GpuPeaks.FromProperties(major, minor, multiprocessors, clockKHz, memoryClockKHz, busWidthBits);
        if (peaks is null)
            return null;
        (int warps, int groups, int shared, int reserve)? limits = (major, minor) switch
        {
            (7, 0) => (64, 32, 96 * 1024, 0),
            (7, 5) => (32, 16, 64 * 1024, 0),
            (8, 0) => (64, 32, 164 * 1024, 1024),
            (8, 6) or (8, 7) => (48, 16, 100 * 1024, 1024),
            (8, 9) => (48, 24, 100 * 1024, 1024),
            (9, 0) => (64, 32, 228 * 1024, 1024),
            _ => null,
        };
        if (limits is not { } l)
            return null;
        return new GpuSpec(name, major < 8 ? "sm_75" : "sm_90", multiprocessors, peaks.Fp32Tflops, peaks.MemoryTbs, l.warps, l.groups, l.shared, l.reserve);
    }
}

/// <summary>Registers per thread and static shared memory per group of each kernel, per architecture, as ptxas reported
/// them (reports/ptxas.tsv, written by scripts/ptxas).</summary>
public sealed class KernelResources
{
    private readonly Dictionary<(string Arch, string Kernel), (int Registers, int SharedBytes)> _rows = new();

    /// <summary>Registers assumed for a kernel ptxas did not report (the table is older than the kernel).</summary>
    public const int DefaultRegisters = 32;

    public int Count => _rows.Count;

    public void Add(string arch, string kernel, int registers, int sharedBytes) => _rows[(arch, kernel)] = (registers, sharedBytes);

    /// <summary>The registers and shared memory of a kernel; <c>Known</c> false (and defaults) when not in the table.</summary>
    public (int Registers, int SharedBytes, bool Known) Of(string arch, string kernel) =>
        _rows.TryGetValue((arch, kernel), out var r) ? (r.Registers, r.SharedBytes, true) : (DefaultRegisters, 0, false);

    /// <summary>Parses scripts/ptxas's TSV (a header line, then arch, kernel, registers, spill stores, spill loads, shared bytes).</summary>
    public static KernelResources Parse(string tsv)
    {
        var resources = new KernelResources();
        foreach (string raw in tsv.Split('\n'))
        {
            string line = raw.TrimEnd('\r');
            if (line.Length == 0 || line.StartsWith("arch\t", StringComparison.Ordinal))
                continue;
            var f = line.Split('\t');
            if (f.Length < 6)
                throw new FormatException($"ptxas table: expected 6 tab-separated fields, got {f.Length}: '{line}'");
            resources.Add(f[0], f[1], int.Parse(f[2], CultureInfo.InvariantCulture), int.Parse(f[5], CultureInfo.InvariantCulture));
        }
        return resources;
    }
}

/// <summary>The model's figures for one launch.</summary>
public sealed record LaunchPrediction(
    RecordedLaunch Launch, int GroupThreads, long Groups, int Registers, int SharedBytes, bool ResourcesKnown,
    int GroupsPerMultiprocessor, double Occupancy, string Limiter, long Waves, double ActiveWarpFraction,
    double Flops, bool FlopsStated, double RooflineMicroseconds, double Efficiency, double Microseconds);

/// <summary>The model's figures for one recorded training step.</summary>
public sealed record StepPrediction(
    string Model, int Batch, GpuSpec Gpu, IReadOnlyList<LaunchPrediction> Launches, int Downloads, int Allocations)
{
    public double LaunchMicroseconds => Launches.Sum(l => l.Microseconds);
    public double HostMicroseconds => Downloads * Gpu.DownloadMicroseconds + Allocations * Gpu.AllocationMicroseconds;
    public double Microseconds => LaunchMicroseconds + HostMicroseconds;
    public double RooflineMicroseconds => Launches.Sum(l => l.RooflineMicroseconds);
    public double Flops => Launches.Sum(l => l.Flops);
    public double Bytes => Launches.Sum(l => (double)l.Launch.Bytes);

    /// <summary>The kernels ranked by their total predicted time in the step (launches of one kernel added up).</summary>
    public IReadOnlyList<(string Kernel, int Launches, double Microseconds, double RooflineMicroseconds, double Occupancy)> Ranking() =>
        Launches.GroupBy(l => l.Launch.Kernel)
            .Select(g => (g.Key, g.Count(), g.Sum(l => l.Microseconds), g.Sum(l => l.RooflineMicroseconds),
                g.Sum(l => l.Occupancy * l.Microseconds) / Math.Max(1e-12, g.Sum(l => l.Microseconds))))
            .OrderByDescending(r => r.Item3).ThenBy(r => r.Key, StringComparer.Ordinal).ToList();
}

/// <summary>
/// The static performance model: every launch of a recorded step, predicted on a GPU from its geometry, the kernel's
/// registers and shared memory, and the least work it must do. Per launch:
/// <list type="bullet">
/// <item>Group size: the launch's own when explicitly grouped; for an implicitly grouped one, the power of two from 32 to
/// 1024 threads that gives the highest occupancy (the larger on ties), as the CUDA driver's occupancy-based choice that
/// ILGPU's auto-grouped launches use.</item>
/// <item>Groups resident per multiprocessor: the least of what registers (allocated per warp in units of 256), shared
/// memory (per group, rounded to 256 bytes, plus the per-group reserve), warp slots and group slots allow; occupancy is
/// their warps over the multiprocessor's warp slots.</item>
/// <item>Waves: groups over (resident groups × multiprocessors), rounded up. The active warp fraction is the launch's
/// warps over the warp slots of all its waves: it is low when the launch is small or its last wave is thin.</item>
/// <item>Roofline: the larger of the FLOPs over the FP32 peak and the least DRAM bytes (every distinct buffer argument
/// once) over the bandwidth. FLOPs are the launching layer's own count where it states one, else one per 4-byte element
/// touched (element-wise work: memory-bound either way).</item>
/// <item>Efficiency: each wave does its groups' share of the work at the rate its resident warps allow: their fraction of
/// the GPU's warp slots over the fraction that saturates it (<see cref="SaturatingWarpFraction"/>), at most 1. Full waves
/// of a well-occupied kernel run at the roofline; a launch of few groups, or a thin last wave, is derated. The time is the
/// roofline over the efficiency plus a fixed launch cost.</item>
/// </list>
/// The step adds a fixed cost per blocking download and per allocation. The model ignores caches (bytes read twice count
/// once), tensor cores and instruction mix; it is a prediction to be checked by the first GPU run (scripts/gpu-check prints
/// it beside the measurement).
/// </summary>
public static class PerfModel
{
    /// <summary>Resident warps, as a fraction of a multiprocessor's slots, that reach its peak (latency hidden).</summary>
    public const double SaturatingWarpFraction = 0.5;

    /// <summary>Groups of <paramref name="groupThreads"/> threads resident on one multiprocessor, and what limits them.</summary>
    public static (int Groups, string Limiter) ResidentGroups(GpuSpec gpu, int groupThreads, int registers, int sharedBytes)
    {
        int warps = (groupThreads + GpuSpec.Warp - 1) / GpuSpec.Warp;
        int perWarp = (registers * GpuSpec.Warp + 255) / 256 * 256;
        int byRegisters = registers <= 0 ? int.MaxValue : gpu.RegistersPerMultiprocessor / perWarp / warps;
        int byShared = sharedBytes <= 0 ? int.MaxValue
            : gpu.SharedBytesPerMultiprocessor / ((sharedBytes + 255) / 256 * 256 + gpu.SharedReservePerGroup);
        int byWarps = gpu.MaxWarpsPerMultiprocessor / warps;
        int groups = byWarps;
        string limiter = "warps";
        if (byRegisters < groups) { groups = byRegisters; limiter = "registers"; }
        if (byShared < groups) { groups = byShared; limiter = "shared memory"; }
        if (gpu.MaxGroupsPerMultiprocessor < groups) { groups = gpu.MaxGroupsPerMultiprocessor; limiter = "groups"; }
        return (groups, limiter);
    }

    /// <summary>The group size the driver would pick for an implicitly grouped kernel (see the class notes).</summary>
    public static int ImplicitGroup(GpuSpec gpu, int registers, int sharedBytes)
    {
        int best = 256;
        double bestOccupancy = -1;
        for (int threads = 32; threads <= 1024; threads *= 2)
        {
            var (groups, _) = ResidentGroups(gpu, threads, registers, sharedBytes);
            double occupancy = groups * (threads / GpuSpec.Warp) / (double)gpu.MaxWarpsPerMultiprocessor;
            if (occupancy >= bestOccupancy)
            {
                bestOccupancy = occupancy;
                best = threads;
            }
        }
        return best;
    }

    public static LaunchPrediction Predict(GpuSpec gpu, KernelResources resources, RecordedLaunch launch)
    {
        bool isKernel = launch.Kernel is not ("memset" or "copy");
        var (registers, shared, known) = isKernel ? resources.Of(gpu.Arch, launch.Kernel) : (16, 0, true);
        int groupThreads = launch.Grouping == KernelGrouping.Explicit && launch.GroupThreads > 0
            ? launch.GroupThreads
            : ImplicitGroup(gpu, registers, shared);
        long groups = launch.Grouping == KernelGrouping.Explicit && launch.Groups > 0
            ? launch.Groups
            : (launch.Threads + groupThreads - 1) / groupThreads;
        var (resident, limiter) = ResidentGroups(gpu, groupThreads, registers, shared);
        if (resident < 1)
            throw new InvalidOperationException($"{launch.Kernel}: a group of {groupThreads} threads with {registers} registers and {shared} B of shared memory does not fit a {gpu.Name} multiprocessor.");
        int warpsPerGroup = (groupThreads + GpuSpec.Warp - 1) / GpuSpec.Warp;
        double occupancy = resident * warpsPerGroup / (double)gpu.MaxWarpsPerMultiprocessor;
        long slots = (long)resident * gpu.Multiprocessors;
        long waves = (groups + slots - 1) / slots;
        double active = groups * (double)warpsPerGroup / (waves * (double)gpu.Multiprocessors * gpu.MaxWarpsPerMultiprocessor);
        double flops = launch.Flops ?? launch.Bytes / 4.0;
        double roofline = Math.Max(flops / (gpu.Fp32Tflops * 1e12), launch.Bytes / (gpu.MemoryTbs * 1e12)) * 1e6;
        // Full waves run at the saturated rate (or their occupancy's share of it); the last, partial wave does its share
        // of the work at the rate its fewer warps allow, so a thin last wave costs nearly as long as a full one.
        double slotWarps = (double)gpu.Multiprocessors * gpu.MaxWarpsPerMultiprocessor;
        long fullWaves = groups / slots, tail = groups % slots;
        double Rate(long waveGroups) => Math.Min(1.0, waveGroups * warpsPerGroup / slotWarps / SaturatingWarpFraction);
        double scaled = fullWaves * (slots / (double)groups) / Rate(slots) + (tail > 0 ? tail / (double)groups / Rate(tail) : 0);
        double efficiency = 1.0 / scaled;
        double micro = gpu.LaunchMicroseconds + roofline * scaled;
        return new LaunchPrediction(launch, groupThreads, groups, registers, shared, known, resident, occupancy, limiter, waves, active,
            flops, launch.Flops is not null, roofline, efficiency, micro);
    }

    public static StepPrediction Predict(string model, int batch, GpuSpec gpu, KernelResources resources, IReadOnlyList<RecordedLaunch> launches,
        int downloads, int allocations) =>
        new(model, batch, gpu, launches.Select(l => Predict(gpu, resources, l)).ToList(), downloads, allocations);
}
