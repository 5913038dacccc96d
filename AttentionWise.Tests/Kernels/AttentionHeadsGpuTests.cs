using AttentionWise.Backends;
using AttentionWise.Host;
using AttentionWise.Ops;
using AttentionWise.Layers;
using AttentionWise.Tests.Infrastructure;
using AttentionWise.Tests.Reference;

namespace AttentionWise.Tests.Kernels;

/// <summary>
/// The plane kernels of GPU-shaped devices (Kernels/GpuHeadPlaneKernels.*.cs), each launch passed explicitly as a
/// <see cref="HeadsVariant"/>: teams with fewer lanes than rows or columns (a lane takes several), one lane, several
/// teams per group with a partly filled last group, backward groups of one thread to a full group; the per-row kernels,
/// which GPU-shaped devices keep for planes too large for shared memory; statistics groups of 2 threads; weight-gradient
/// groups of 1 to 4 rows. Forward and backward against the float64 reference each time.
/// </summary>
public abstract class AttentionHeadsGpuSuite : AttentionHeadsSuite
{
    /// <summary>"lanes planes backward-threads", the per-row kernels, or the chosen launch with batchnorm-statistics groups
    /// of 2 threads ("stats 2": the deepest tree per thread).</summary>
    public static TheoryData<string> Launches() => new() { "auto", "rows", "1 1 1", "2 3 3", "4 4 16", "16 1 5", "8 2 7", "stats 2" };

    [Theory]
    [MemberData(nameof(Launches))]
    public void EveryLaunchMatchesReference(string launch)
    {
        // 3 images × 2 heads × 2 channels = 12 planes of 7 × 6 (an even W: the shared row stride is padded to 7).
        var s = new HeadsShape(3, 2, 2, 7, 6);
        var variant = launch switch
        {
            "auto" => HeadsVariant.Chosen,
            "rows" => new HeadsVariant { RowKernels = true },
            "stats 2" => new HeadsVariant { StatsGroupSize = 2 },
            _ => launch.Split(' ').Select(int.Parse).ToArray() is var p ? new HeadsVariant { Tile = new HeadPlaneTile(p[0], p[1], p[2]) } : null!,
        };
        using var c = Make(s, true, 600, variant: variant);
        var d = new AttentionWise.Kernels.HeadDims(s.N, s.K, s.C, s.H, s.W);
        var used = Assert.IsType<GpuAttentionHeads>(c.Heads.Op).PlaneTile(d);
        if (launch == "rows")
            Assert.Null(used);
        else if (variant.Tile is { } asked)
            Assert.Equal(asked, used);
        else
            Assert.NotNull(used);
        var gz = Numerics.Uniform(601, s.OutputLength);
        var gs = Numerics.Uniform(602, s.InputLength);
        using var dgz = Device.Upload(Shape.Of(s.N, s.Q, s.H, s.W), gz);
        using var dgs = Device.Upload(c.Input.Shape, gs);
        var z = c.Heads.Forward(c.Input);
        c.Heads.ZeroGrad();
        var gx = c.Heads.Backward(dgz, dgs)!;
        var f = c.Reference(true, new double[s.Q], Ones(s.Q));
        var (rgx, rgwx, rgwy, rgbx, rgby) = AttentionReference.HeadsBackward(s, f, Numerics.ToDouble(c.X), Numerics.ToDouble(c.Wx),
            Numerics.ToDouble(c.Wy), Numerics.ToDouble(gz), true);
        for (int i = 0; i < rgx.Length; i++)
            rgx[i] += gs[i];
        Numerics.AssertClose(c.Heads.DownloadRowSoftmax(), f.Ox, 1e-6, 1e-5, $"{launch}: Ox");
        Numerics.AssertClose(c.Heads.DownloadColumnSoftmax(), f.Oy, 1e-6, 1e-5, $"{launch}: Oy");
        Numerics.AssertClose(z.Download(), f.Z, Atol, Rtol, $"{launch}: Z");
        Numerics.AssertClose(gx.Download(), rgx, Atol, Rtol, $"{launch}: dL/dX");
        Numerics.AssertClose(c.Heads.Wx.Gradient.Download(), rgwx, Atol, Rtol, $"{launch}: dL/dWx");
        Numerics.AssertClose(c.Heads.Wy.Gradient.Download(), rgwy, Atol, Rtol, $"{launch}: dL/dWy");
        Numerics.AssertClose(c.Heads.Bx!.Gradient.Download(), rgbx, Atol, Rtol, $"{launch}: dL/dBx");
        Numerics.AssertClose(c.Heads.By!.Gradient.Download(), rgby, Atol, Rtol, $"{launch}: dL/dBy");
        var (mean, invStd) = c.Heads.LastNormStatistics();
        Numerics.AssertClose(mean, f.Mean, Atol, Rtol, $"{launch}: batchnorm mean");
        Numerics.AssertClose(invStd, f.InvStd, Atol, Rtol, $"{launch}: batchnorm 1/std");
    }

    /// <summary>The weight gradients' group reduction over the backward pass's image blocks (GPU-shaped devices): 20
    /// images make 3 blocks; groups of 1, 2 and 4 rows (one row for every block, rows that share blocks, a row with none) and the
    /// device's own choice, each against the float64 reference.</summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    [InlineData(0)]
    public void WeightGradientGroupsOfEveryRowCountMatchReference(int rows)
    {
        var s = new HeadsShape(20, 2, 2, 7, 6);
        int? asked = rows > 0 ? rows : null;
        if (asked is int r)
            Assert.Equal(r, GpuHeadGroups.WeightGradients(Device, r).Rows);
        using var c = Make(s, true, 610, variant: new HeadsVariant { WeightGradRows = asked });
        var gz = Numerics.Uniform(611, s.OutputLength);
        using var dgz = Device.Upload(Shape.Of(s.N, s.Q, s.H, s.W), gz);
        c.Heads.Forward(c.Input);
        c.Heads.ZeroGrad();
        c.Heads.Backward(dgz);
        var f = c.Reference(true, new double[s.Q], Ones(s.Q));
        var (_, rgwx, rgwy, rgbx, rgby) = AttentionReference.HeadsBackward(s, f, Numerics.ToDouble(c.X), Numerics.ToDouble(c.Wx),
            Numerics.ToDouble(c.Wy), Numerics.ToDouble(gz), true);
        Numerics.AssertClose(c.Heads.Wx.Gradient.Download(), rgwx, Atol, Rtol, $"{rows} rows: dL/dWx");
        Numerics.AssertClose(c.Heads.Wy.Gradient.Download(), rgwy, Atol, Rtol, $"{rows} rows: dL/dWy");
        Numerics.AssertClose(c.Heads.Bx!.Gradient.Download(), rgbx, Atol, Rtol, $"{rows} rows: dL/dBx");
        Numerics.AssertClose(c.Heads.By!.Gradient.Download(), rgby, Atol, Rtol, $"{rows} rows: dL/dBy");
    }

    /// <summary>
    /// The head batchnorm's variance where E[R²] − E[R]² loses every digit in float32: tiny weights make both softmaxes
    /// nearly uniform, so R ≈ 1/(H·W)·(1 + ~1e-3 noise). The plane kernels sum each column's deviations from its mean,
    /// merge the columns of a plane with Chan's formula and the planes of a channel around the channel's mean, so the
    /// batch variance (seen in the running variance, which starts at 0) must match the float64 reference to 1 %; the
    /// backward, whose softmax coefficients use the same M2, must match it too. The test first checks that its case
    /// defeats the old formula (E[R²] − E[R]² in float32 off by more than 10 %). The chosen (plane) launch, statistics
    /// groups of 2, and the per-row kernels (planes too large for shared memory), whose stored softmaxes LineMoments and
    /// PlaneMoments turn into the same moments.
    /// </summary>
    [Theory]
    [InlineData("auto")]
    [InlineData("stats 2")]
    [InlineData("rows")]
    public void TinySpreadOfRGivesTheReferenceVariance(string launch)
    {
        var s = new HeadsShape(64, 1, 2, 6, 6);
        var variant = launch switch
        {
            "rows" => new HeadsVariant { RowKernels = true },
            "stats 2" => new HeadsVariant { StatsGroupSize = 2 },
            _ => HeadsVariant.Chosen,
        };
        using var c = Make(s, false, 620, weightScale: 1e-3f, variant: variant);
        var tile = Assert.IsType<GpuAttentionHeads>(c.Heads.Op).PlaneTile(new AttentionWise.Kernels.HeadDims(s.N, s.K, s.C, s.H, s.W));
        Assert.Equal(launch == "rows", tile is null);
        var zeros = new float[s.Q];
        c.Heads.RunningMean.Upload(zeros);
        c.Heads.RunningVar.Upload(zeros);
        c.Heads.Train(true);
        c.Heads.Forward(c.Input);
        var f = c.Reference(true, new double[s.Q], new double[s.Q]);
        for (int q = 0; q < s.Q; q++)
        {
            float s1 = 0f, s2 = 0f;
            for (int n = 0; n < s.N; n++)
            {
                for (int e = 0; e < s.Plane; e++)
                {
                    float r = (float)f.R[(n * s.Q + q) * s.Plane + e];
                    s1 += r;
                    s2 += r * r;
                }
            }
            float count = s.N * s.Plane;
            float naive = s2 / count - s1 / count * (s1 / count);
            Assert.True(Math.Abs(naive - f.BatchVar[q]) > 0.1 * f.BatchVar[q],
                $"channel {q}: E[R²] − E[R]² in float32 gives {naive:G4} against {f.BatchVar[q]:G4}: the case does not cancel.");
        }
        var (em, ev) = AttentionReference.UpdatedRunningStats(s, f, new double[s.Q], new double[s.Q]);
        Numerics.AssertClose(c.Heads.RunningMean.Download(), em, 0, 1e-5, $"{launch}: running mean");
        Numerics.AssertClose(c.Heads.RunningVar.Download(), ev, 0, 1e-2, $"{launch}: running var");
        var (mean, _) = c.Heads.LastNormStatistics();
        Numerics.AssertClose(mean, f.Mean, 0, 1e-5, $"{launch}: head BN mean");
    }

    /// <summary>A launch that does not fit the device is refused, not silently replaced.</summary>
    [Fact]
    public void ALaunchThatDoesNotFitIsRefused()
    {
        var s = new HeadsShape(1, 1, 1, 7, 6);
        using var c = Make(s, false, 620, variant: new HeadsVariant { Tile = new HeadPlaneTile(4096, 1, 1) });
        Assert.Throws<ArgumentException>(() => c.Heads.Forward(c.Input));
    }

    /// <summary>Planes too large for the plane kernels' shared memory run the per-row kernels, and stay right.</summary>
    [Fact]
    public void PlanesTooLargeForSharedMemoryUseTheRowKernels()
    {
        var s = new HeadsShape(1, 1, 1, 20, 210);
        using var c = Make(s, false, 700);
        Assert.Null(Assert.IsType<GpuAttentionHeads>(c.Heads.Op).PlaneTile(new AttentionWise.Kernels.HeadDims(s.N, s.K, s.C, s.H, s.W)));
        var z = c.Heads.Forward(c.Input);
        var f = c.Reference(true, new double[s.Q], Ones(s.Q));
        Numerics.AssertClose(z.Download(), f.Z, Atol, Rtol, "Z");
    }
}

public sealed class AttentionHeadsCpuSimTests : AttentionHeadsGpuSuite
{
    protected override DeviceKind Kind => DeviceKind.CpuSimulator;
}

public sealed class AttentionHeadsCudaTests : AttentionHeadsGpuSuite
{
    protected override DeviceKind Kind => DeviceKind.Cuda;
}

public sealed class AttentionHeadsOpenCLTests : AttentionHeadsGpuSuite
{
    protected override DeviceKind Kind => DeviceKind.OpenCL;
}

/// <summary>The plane kernels' launch choice (no device needed).</summary>
public sealed class HeadPlaneTileTests
{
    [Theory]
    [InlineData(28, 28, 256, 32)]
    [InlineData(32, 32, 256, 32)]
    [InlineData(28, 28, 16, 4)]
    [InlineData(5, 7, 4096, 1)]
    [InlineData(7, 6, 1024, 64)]
    [InlineData(28, 28, 1024, 32)]
    public void TheLaunchFitsTheDeviceAndTheSharedMemory(int h, int w, int maxThreads, int warp)
    {
        var t = HeadPlaneTile.Choose(h, w, 4096 * 8, GpuAttentionHeads.GpuBlockImages, maxThreads, warp);
        Assert.NotNull(t);
        var v = t.Value;
        int limit = Math.Min(maxThreads, AttentionWise.Kernels.GpuHeadPlaneKernels.MaxThreads);
        Assert.InRange(v.Lanes * v.Planes, 1, limit);
        Assert.InRange(v.BackwardThreads, 1, Math.Min(maxThreads, AttentionWise.Kernels.GpuHeadPlaneKernels.BackwardMaxThreads));
        Assert.True(v.Fits(h, w, maxThreads), v.ToString());
        Assert.True(v.Planes * AttentionWise.Kernels.HeadPlanes.SharedFloats(h, w) <= AttentionWise.Kernels.GpuHeadPlaneKernels.PlaneShared);
        // A lane per row and per column where the group allows it, in whole warps.
        Assert.Equal(Math.Min(limit, (Math.Max(h, w) + Math.Min(warp, limit) - 1) / Math.Min(warp, limit) * Math.Min(warp, limit)), v.Lanes);
        if (maxThreads == 256 && warp == 32 && h == 28)
        {
            Assert.Equal(32, v.Lanes);
            Assert.True(v.Planes >= 4, v.ToString());
            // 784 elements: 160 threads run 5 full passes (98 % of the lanes busy).
            Assert.Equal(160, v.BackwardThreads);
        }
        if (maxThreads == 1024 && warp == 32 && h == 28)
        {
            // Groups of up to 1,024 threads: 800 threads take the plane in one pass (98 % busy), the most threads at that use.
            Assert.Equal(800, v.BackwardThreads);
        }
    }

    [Fact]
    public void PlanesOrBlocksTooLargeForSharedMemoryGetNoLaunch()
    {
        Assert.Null(HeadPlaneTile.Choose(20, 210, 10, 1, 256, 32));
        Assert.Null(HeadPlaneTile.Choose(32, 40, 10, GpuAttentionHeads.GpuBlockImages, 256, 32));
        Assert.NotNull(HeadPlaneTile.Choose(32, 32, 10, GpuAttentionHeads.GpuBlockImages, 256, 32));
    }
}
