using AttentionWise.Backends;
using AttentionWise.Kernels;
using AttentionWise.Tests.Infrastructure;

namespace AttentionWise.Tests.Kernels;

/// <summary>
/// The group combine of split weight gradients on GPU-shaped devices (<see cref="GpuPartialSumKernels.WeightGradCombineGroup"/>
/// through <see cref="GpuPartialSums.Combine"/>): gw += Σ_s partials[s] for the attention layer's 72-element weight, a
/// count that is no multiple of the lanes and a large one of many groups, over one to many slices, with every row
/// count and the device's own choice. Each against the float64 sum, and bit for bit against the kernel's fixed order
/// (row r sums slices r, r + R, … in order; the row sums are added in row order). Row counts beyond the device's groups
/// are left out (the simulator's groups of 16 threads take up to 8 rows; PoCL's take all of them).
/// </summary>
public abstract class PartialSumCombineSuite : DeviceTest
{
    public static TheoryData<int, int> Shapes() => new()
    {
        { 72, 256 },
        { 72, 5 },
        { 45, 33 },
        { 1, 7 },
        { 3_001, 1 },
        { 20_003, 9 },
    };

    /// <summary>0: the device's own choice.</summary>
    public static readonly int[] RowVariants = [0, 1, 2, 4, 8, 16, 32];

    [Theory]
    [MemberData(nameof(Shapes))]
    public void EveryRowCountMatchesTheFloat64SumInItsFixedOrder(int size, int slices)
    {
        var partials = Numerics.Uniform(700 + size, size * slices, -1f, 1f);
        var start = Numerics.Uniform(701 + size, size, -2f, 2f);
        var reference = new double[size];
        for (int e = 0; e < size; e++)
        {
            double s = start[e];
            for (int i = 0; i < slices; i++)
                s += partials[i * size + e];
            reference[e] = s;
        }
        using var dp = Device.Upload(Shape.Of(slices, size), partials);
        int tested = 0;
        foreach (int rows in RowVariants)
        {
            int? asked = rows == 0 ? null : rows;
            int limit = Math.Min(GpuPartialSumKernels.MaxRows, Math.Min(GpuPartialSumKernels.MaxGroupThreads, Device.MaxGroupThreads) / 2);
            if (asked > limit)
                continue;
            var (lanes, r) = GpuPartialSums.Groups(Device, size, slices, asked);
            Assert.True(lanes >= 2 && lanes * r <= Math.Min(GpuPartialSumKernels.MaxGroupThreads, Device.MaxGroupThreads), $"{lanes} × {r}");
            if (asked is int a)
                Assert.Equal(a, r);
            using var gw = Device.Upload(Shape.Of(size), start);
            GpuPartialSums.Combine(Device, gw, dp, slices, asked);
            var got = gw.Download();
            string what = $"{size} elements, {slices} slices, rows {(asked is null ? $"auto ({r})" : r)}";
            Numerics.AssertClose(got, reference, 1e-5, 1e-5, what);
            var ordered = FixedOrder(start, partials, size, slices, r);
            for (int e = 0; e < size; e++)
                Assert.True(ordered[e] == got[e], $"{what}: element {e} is {got[e]:R}, the fixed order gives {ordered[e]:R}.");
            tested++;
        }
        Assert.True(tested >= 2);
    }

    [Fact]
    public void RowCountsOutsideTheLimitAreRefused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => GpuPartialSums.Groups(Device, 72, 8, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => GpuPartialSums.Groups(Device, 72, 8, GpuPartialSumKernels.MaxRows + 1));
    }

    /// <summary>The kernel's order in float: row r's sum over slices r, r + R, …, the row sums added in row order to 0,
    /// then the total added to gw.</summary>
    private static float[] FixedOrder(float[] start, float[] partials, int size, int slices, int rows)
    {
        var result = new float[size];
        for (int e = 0; e < size; e++)
        {
            float total = 0f;
            for (int r = 0; r < rows; r++)
            {
                float s = 0f;
                for (int i = r; i < slices; i += rows)
                    s += partials[i * size + e];
                total += s;
            }
            result[e] = start[e] + total;
        }
        return result;
    }
}

public sealed class PartialSumCombineCpuSimTests : PartialSumCombineSuite
{
    protected override DeviceKind Kind => DeviceKind.CpuSimulator;
}

public sealed class PartialSumCombineCudaTests : PartialSumCombineSuite
{
    protected override DeviceKind Kind => DeviceKind.Cuda;
}

public sealed class PartialSumCombineOpenCLTests : PartialSumCombineSuite
{
    protected override DeviceKind Kind => DeviceKind.OpenCL;
}

/// <summary>The combine's group choice for the GPUs the performance model knows (a recording device reports their
/// geometry; nothing runs).</summary>
public sealed class PartialSumCombineGroupsTests
{
    [Theory]
    [InlineData(132, 2048, 72, 256, 32, 32)]        // H200, the attention layer's 8 → 1 convolution: many rows
    [InlineData(132, 2048, 72, 5, 128, 4)]          // no more rows than slices; lanes fill the group
    [InlineData(132, 2048, 270_336, 25, 1024, 1)]   // a weight that fills the device alone: one row of lanes
    [InlineData(40, 1024, 7_840, 40, 256, 4)]       // T4: rows that fill its 40,960 resident threads
    [InlineData(40, 1024, 3, 64, 4, 32)]            // lanes no more than the elements need
    public void TheGroupsFillTheDeviceWithinItsLimits(int multiprocessors, int threads, int size, int slices, int lanes, int rows)
    {
        var recorder = new LaunchRecorder(execute: false, new GpuGeometry("test", multiprocessors, threads));
        using var device = ComputeDevice.Open("cpu-sim", new DeviceOptions(Recorder: recorder));
        Assert.Equal((lanes, rows), GpuPartialSums.Groups(device, size, slices));
    }
}
