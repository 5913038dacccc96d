using AttentionWise.Bench;
using AttentionWise.Layers;

namespace AttentionWise.Tests.Bench;

/// <summary>
/// The static performance model (<see cref="PerfModel"/>) on fixed inputs, and the launch recording it reads
/// (<see cref="LaunchRecorder"/>, the loader's hook, the model command's step recording).
/// </summary>
public sealed class PerfModelTests
{
    private static RecordedLaunch Grouped(string kernel, long groups, int groupThreads, long bytes, double? flops = null) =>
        new(kernel, KernelGrouping.Explicit, groups * groupThreads, groupThreads, groups, bytes, flops, [bytes]);

    [Fact]
    public void ResidentGroupsFollowRegistersSharedMemoryAndSlots()
    {
        // GemmWide on a T4 (92 registers, 16,512 B): registers allow 21 warps, so 2 groups of 256 (ptxas.md: 50 %).
        Assert.Equal((2, "registers"), PerfModel.ResidentGroups(GpuSpec.T4, 256, 92, 16512));
        // 32-thread groups reserving 16.5 KB: shared memory allows 3 per T4 multiprocessor.
        Assert.Equal((3, "shared memory"), PerfModel.ResidentGroups(GpuSpec.T4, 32, 32, 16512));
        // Small kernels: warp slots (8 groups of 256 on an H200), or group slots (32 of 32 threads).
        Assert.Equal((8, "warps"), PerfModel.ResidentGroups(GpuSpec.H200, 256, 32, 0));
        Assert.Equal((32, "groups"), PerfModel.ResidentGroups(GpuSpec.H200, 32, 32, 0));
        // H200: 1 KiB reserved per group: 32,768 B groups → 233,472 / 33,792 = 6.
        Assert.Equal((6, "shared memory"), PerfModel.ResidentGroups(GpuSpec.H200, 256, 32, 32768));
        // A group that cannot fit at all.
        Assert.Equal(0, PerfModel.ResidentGroups(GpuSpec.T4, 1024, 255, 0).Groups);
    }

    [Fact]
    public void ImplicitGroupsTakeTheBestOccupancyLargestOnTies()
    {
        Assert.Equal(1024, PerfModel.ImplicitGroup(GpuSpec.H200, 32, 0));
        // 92 registers on a T4: 64 and 128 threads both reach 20 of 32 warps; the larger wins.
        Assert.Equal(128, PerfModel.ImplicitGroup(GpuSpec.T4, 92, 0));
    }

    [Fact]
    public void AFullLaunchRunsAtItsRooflineAndASmallOneIsDeratedByItsIdleMultiprocessors()
    {
        var resources = new KernelResources();
        resources.Add("sm_90", "K.Full", 32, 0);
        var full = PerfModel.Predict(GpuSpec.H200, resources, Grouped("K.Full", 1000, 256, 48_000_000));
        Assert.True(full.ResourcesKnown);
        Assert.Equal(10.0, full.RooflineMicroseconds, 9);            // 48 MB at 4.8 TB/s
        Assert.Equal(1, full.Waves);
        Assert.Equal(1.0, full.Efficiency);
        Assert.Equal(13.0, full.Microseconds, 9);                     // + the 3 µs launch

        var small = PerfModel.Predict(GpuSpec.H200, resources, Grouped("K.Full", 4, 256, 48_000_000));
        double active = 4 * 8 / (132.0 * 64);
        Assert.Equal(active, small.ActiveWarpFraction, 12);
        Assert.Equal(3.0 + 10.0 / (active / PerfModel.SaturatingWarpFraction), small.Microseconds, 6);

        // One group more than a wave holds: two waves, the second nearly empty, doing 1/1057 of the work at 1/528 of the rate.
        var spill = PerfModel.Predict(GpuSpec.H200, resources, Grouped("K.Full", 8 * 132 + 1, 256, 48_000_000));
        Assert.Equal(2, spill.Waves);
        Assert.Equal(3.0 + 10.0 * (1056.0 / 1057 + 1.0 / 1057 * 528), spill.Microseconds, 6);
    }

    [Fact]
    public void StatedFlopsMakeALaunchComputeBoundAndUnknownKernelsTakeDefaults()
    {
        var resources = new KernelResources();
        var gemm = PerfModel.Predict(GpuSpec.T4, resources, Grouped("K.Unknown", 40 * 4, 256, 3_200_000, flops: 8.1e9));
        Assert.False(gemm.ResourcesKnown);
        Assert.Equal(KernelResources.DefaultRegisters, gemm.Registers);
        Assert.Equal(1000.0, gemm.RooflineMicroseconds, 6);           // 8.1 GFLOP at 8.1 TFLOP/s, not 10 µs of traffic
        var elementwise = PerfModel.Predict(GpuSpec.T4, resources,
            new RecordedLaunch("K.Unknown", KernelGrouping.Implicit, 1 << 20, 0, 0, 32_000_000, null, [32_000_000]));
        Assert.Equal(100.0, elementwise.RooflineMicroseconds, 6);     // 32 MB at 0.32 TB/s
        Assert.Equal(8_000_000, elementwise.Flops);                   // one per float touched
    }

    [Fact]
    public void TheStepAddsHostCostsAndRanksKernelsByTime()
    {
        var resources = new KernelResources();
        var launches = new[]
        {
            Grouped("A", 1000, 256, 48_000_000),
            Grouped("B", 1000, 256, 96_000_000),
            Grouped("A", 1000, 256, 48_000_000),
            Grouped("C", 1000, 256, 4_800_000),
        };
        var step = PerfModel.Predict("m", 1, GpuSpec.H200, resources, launches, downloads: 2, allocations: 1);
        Assert.Equal(step.Launches.Sum(l => l.Microseconds) + 2 * 15.0 + 30.0, step.Microseconds, 9);
        var ranking = step.Ranking();
        Assert.Equal(["A", "B", "C"], ranking.Select(r => r.Kernel));
        Assert.Equal(2, ranking[0].Launches);
        Assert.Equal(26.0, ranking[0].Microseconds, 9);
        string text = ModelCommand.Describe(step, top: 2, launches: true);
        Assert.Contains("| 1 | A | 2 |", text);
        Assert.DoesNotContain("| 3 | C |", text);
    }

    [Fact]
    public void ThePtxasTableParsesAndABrokenLineIsAnError()
    {
        var r = KernelResources.Parse("arch\tkernel\tregisters\tspill_store_bytes\tspill_load_bytes\tshared_bytes\nsm_75\tK.A\t92\t0\t0\t16512\nsm_90\tK.A\t90\t0\t0\t16512\n");
        Assert.Equal(2, r.Count);
        Assert.Equal((92, 16512, true), r.Of("sm_75", "K.A"));
        Assert.Equal((90, 16512, true), r.Of("sm_90", "K.A"));
        Assert.False(r.Of("sm_90", "K.B").Known);
        Assert.Throws<FormatException>(() => KernelResources.Parse("sm_75\tK.A\t92\n"));
    }

    [Fact]
    public void GpusComeByNameOrFromTheirProperties()
    {
        Assert.Same(GpuSpec.H200, GpuSpec.Named("h200"));
        Assert.Throws<ArgumentException>(() => GpuSpec.Named("nonesuch"));
        // A T4's properties: 40 multiprocessors at 1.59 GHz, 5 GHz GDDR6 on a 256-bit bus.
        var t4 = GpuSpec.FromProperties("Tesla T4", 7, 5, 40, 1_590_000, 5_001_000, 256);
        Assert.NotNull(t4);
        Assert.Equal("sm_75", t4.Arch);
        Assert.Equal(32, t4.MaxWarpsPerMultiprocessor);
        Assert.Equal(8.1, t4.Fp32Tflops, 1);
        Assert.Null(GpuSpec.FromProperties("x", 1, 0, 40, 1_590_000, 5_001_000, 256));
        Assert.Equal(132 * 2048, GpuSpec.H200.Geometry.MaxThreads);
    }

    [Fact]
    public void BatchesAreOneForAllOrPerModel()
    {
        Assert.Equal(64, ModelCommand.BatchFor("64", "control"));
        Assert.Equal(256, ModelCommand.BatchFor("attention-b=4096,control=256", "control"));
        Assert.Throws<ArgumentException>(() => ModelCommand.BatchFor("attention-b=4096", "control"));
        Assert.Throws<ArgumentException>(() => ModelCommand.BatchFor("control=0", "control"));
    }

    [Fact]
    public void LinearWeightGradientsAreSlicedToFillTheGpu()
    {
        // attention-b's classifier at batch 4096 (784 → 10: 980 threads a slice) on an H200: 128 slices of 32 images.
        Assert.Equal((128, 32), AttentionWise.Kernels.LinearWeightSlices.Choose(4096, 784, 10, GpuSpec.H200.Geometry.MaxThreads));
        // On a T4 the resident threads allow 41 slices of 100 images (the last 96).
        Assert.Equal((41, 100), AttentionWise.Kernels.LinearWeightSlices.Choose(4096, 784, 10, GpuSpec.T4.Geometry.MaxThreads));
        // A small batch is one slice; the partials never exceed 16 M floats.
        Assert.Equal((1, 20), AttentionWise.Kernels.LinearWeightSlices.Choose(20, 784, 10, 1 << 20));
        var (slices, _) = AttentionWise.Kernels.LinearWeightSlices.Choose(1 << 20, 4096, 4096, 1 << 30);
        Assert.Equal(1, slices);
        Assert.Equal((7, 29), AttentionWise.Kernels.LinearWeightSlices.Choose(200, 9, 3, 1 << 20));
    }

    [Fact]
    public void LinearForwardRowsAreSlicedWhenTheyAreLongAndTheBatchSmall()
    {
        // control's classifier (9,800 → 10 at batch 256: 768 threads a slice) on an H200: 39 slices of 252 inputs.
        Assert.Equal((39, 252), AttentionWise.Kernels.LinearForwardSlices.Choose(256, 9800, 10, GpuSpec.H200.Geometry.MaxThreads));
        // attention-b's (784 → 10 at batch 4096): 4 slices of 196; a short row is one slice.
        Assert.Equal((4, 196), AttentionWise.Kernels.LinearForwardSlices.Choose(4096, 784, 10, GpuSpec.H200.Geometry.MaxThreads));
        Assert.Equal((1, 200), AttentionWise.Kernels.LinearForwardSlices.Choose(4096, 200, 10, GpuSpec.H200.Geometry.MaxThreads));
        Assert.Equal((3, 201), AttentionWise.Kernels.LinearForwardSlices.Choose(3, 601, 6, 1 << 20));
    }

    [Fact]
    public void TheCpuDeviceRefusesARecorder() =>
        Assert.Throws<ArgumentException>(() => ComputeDevice.Open("cpu", new DeviceOptions(Recorder: new LaunchRecorder())));

    /// <summary>A linear layer's step on the simulator: run and recorded, or only recorded, the launches are the same, with
    /// their buffers' sizes and the layer's FLOPs.</summary>
    [Fact]
    public void RecordingWithoutRunningSeesTheLaunchesARunSees()
    {
        static IReadOnlyList<RecordedLaunch> Record(bool execute)
        {
            var recorder = new LaunchRecorder(execute);
            using var device = ComputeDevice.Open("cpu-sim", new DeviceOptions(Recorder: recorder));
            using var linear = new Linear(device, 12, 5);
            Init.Apply(linear, new Rng(3));
            using var x = device.Upload(Shape.Of(6, 12), Enumerable.Range(0, 72).Select(i => i * 0.01f).ToArray());
            using var g = device.Upload(Shape.Of(6, 5), Enumerable.Range(0, 30).Select(i => 1 - i * 0.02f).ToArray());
            recorder.Clear();
            linear.Forward(x);
            linear.Backward(g);
            _ = linear.Weight.Gradient.Download();
            Assert.Equal(1, recorder.Downloads);
            return recorder.Launches;
        }
        var run = Record(execute: true);
        var recorded = Record(execute: false);
        Assert.Equal(run.Select(l => (l.Kernel, l.Threads, l.Groups, l.Bytes, l.Flops)), recorded.Select(l => (l.Kernel, l.Threads, l.Groups, l.Bytes, l.Flops)));
        var forward = Assert.Single(run, l => l.Kernel.StartsWith("LinearKernels.Forward", StringComparison.Ordinal));
        Assert.Equal(2.0 * 6 * 12 * 5, forward.Flops);
        // y, x, weight and bias, 4 bytes a float.
        Assert.Equal(4L * (6 * 5 + 6 * 12 + 5 * 12 + 5), forward.Bytes);
    }

    /// <summary>The model command's recording of a whole step: every launch a kernel ptxas knows (so the table is up to
    /// date), the GEMMs' FLOPs stated, grid-stride launches sized by the target GPU, one blocking download.</summary>
    [Fact]
    public void AStepRecordsEveryLaunchShapedForTheTargetGpu()
    {
        var (launches, downloads, allocations) = ModelCommand.RecordStep("control", 2, GpuSpec.T4.Geometry);
        Assert.NotEmpty(launches);
        Assert.Equal(1, downloads);
        Assert.Equal(0, allocations);
        Assert.Contains(launches, l => l.Kernel.StartsWith("GpuGemmKernels.", StringComparison.Ordinal) && l.Flops > 0);
        Assert.All(launches, l => Assert.True(l.Threads <= GpuSpec.T4.Geometry.MaxThreads || l.Grouping == KernelGrouping.Explicit || l.Kernel == "memset",
            $"{l.Kernel}: {l.Threads} threads"));
        var resources = ModelCommand.LoadResources(null);
        var unknown = launches.Where(l => l.Kernel is not ("memset" or "copy") && !resources.Of("sm_75", l.Kernel).Known).Select(l => l.Kernel).Distinct().ToList();
        Assert.True(unknown.Count == 0, "not in reports/ptxas.tsv (run scripts/ptxas): " + string.Join(", ", unknown));
    }
}
