using AttentionWise.Host;
using AttentionWise.Layers;
using AttentionWise.Tests.Infrastructure;
using AttentionWise.Tests.Reference;

namespace AttentionWise.Tests.Kernels;

/// <summary>The attention heads (row/column softmax kernels, head batchnorm, fused backward), per
/// accelerator, against the float64 reference.</summary>
public abstract class AttentionHeadsSuite : DeviceTest
{
    protected const double Atol = 2e-5;
    protected const double Rtol = 2e-4;

    /// <summary>Odd sizes: batch 3, 3 heads, 3 channels, 5×7 images.</summary>
    protected static readonly HeadsShape Odd = new(3, 3, 3, 5, 7);

    protected sealed class Case : IDisposable
    {
        public required HeadsShape S { get; init; }
        public required AttentionHeads Heads { get; init; }
        public required float[] X { get; init; }
        public required float[] Wx { get; init; }
        public required float[] Wy { get; init; }
        public float[]? Bx { get; init; }
        public float[]? By { get; init; }
        public required DeviceTensor Input { get; init; }

        public HeadsForwardResult Reference(bool training, double[] rm, double[] rv) =>
            AttentionReference.HeadsForward(S, Numerics.ToDouble(X), Numerics.ToDouble(Wx), Numerics.ToDouble(Wy),
                Bx is null ? null : Numerics.ToDouble(Bx), By is null ? null : Numerics.ToDouble(By), training, rm, rv);

        public void Dispose()
        {
            Heads.Dispose();
            Input.Dispose();
        }
    }

    protected Case Make(HeadsShape s, bool bias, int seed, float weightScale = 1.5f, float xLo = -1f, float xHi = 1f)
    {
        var heads = new AttentionHeads(Device, s.C, s.H, s.W, s.K, bias);
        var x = Numerics.Uniform(seed, s.InputLength, xLo, xHi);
        var wx = Numerics.Uniform(seed + 1, s.WeightLength, -weightScale, weightScale);
        var wy = Numerics.Uniform(seed + 2, s.WeightLength, -weightScale, weightScale);
        float[]? bx = bias ? Numerics.Uniform(seed + 3, s.WeightLength, -0.5f, 0.5f) : null;
        float[]? by = bias ? Numerics.Uniform(seed + 4, s.WeightLength, -0.5f, 0.5f) : null;
        heads.Wx.Value.Upload(wx);
        heads.Wy.Value.Upload(wy);
        if (bias)
        {
            heads.Bx!.Value.Upload(bx!);
            heads.By!.Value.Upload(by!);
        }
        var input = Device.Upload(Shape.Of(s.N, s.C, s.H, s.W), x);
        return new Case { S = s, Heads = heads, X = x, Wx = wx, Wy = wy, Bx = bx, By = by, Input = input };
    }

    protected static double[] Ones(int n) => Enumerable.Repeat(1.0, n).ToArray();

    [Theory]
    [InlineData(true, false)]
    [InlineData(true, true)]
    [InlineData(false, true)]
    public void ForwardMatchesReference(bool training, bool bias)
    {
        using var c = Make(Odd, bias, 100);
        var rm = Numerics.Uniform(7, Odd.Q, 0.01f, 0.05f);
        var rv = Numerics.Uniform(8, Odd.Q, 0.001f, 0.01f);
        c.Heads.RunningMean.Upload(rm);
        c.Heads.RunningVar.Upload(rv);
        c.Heads.Train(training);
        var outShape = Shape.Of(Odd.N, Odd.Q, Odd.H, Odd.W);

        var z = c.Heads.Forward(c.Input);
        // Run again with every output poisoned, so an element the kernels skip fails the comparison.
        Numerics.Poison(z);
        Numerics.Poison(c.Heads.Softmaxes!);
        c.Heads.RunningMean.Upload(rm);
        c.Heads.RunningVar.Upload(rv);
        z = c.Heads.Forward(c.Input);

        var f = c.Reference(training, Numerics.ToDouble(rm), Numerics.ToDouble(rv));
        Numerics.AssertClose(c.Heads.DownloadRowSoftmax(), f.Ox, 1e-6, 1e-5, "Ox", outShape);
        Numerics.AssertClose(c.Heads.DownloadColumnSoftmax(), f.Oy, 1e-6, 1e-5, "Oy", outShape);
        Numerics.AssertClose(z.Download(), f.Z, Atol, Rtol, "Z", outShape);
        Numerics.AssertClose(c.Heads.Relevance().Download(), f.R, 1e-7, 1e-5, "R = Ox ⊙ Oy", outShape);
        var (mean, invStd) = c.Heads.LastNormStatistics();
        Numerics.AssertClose(mean, f.Mean, 1e-7, 1e-5, "head BN mean");
        Numerics.AssertClose(invStd, f.InvStd, 1e-6, 1e-4, "head BN 1/std");

        var (em, ev) = training
            ? AttentionReference.UpdatedRunningStats(Odd, f, Numerics.ToDouble(rm), Numerics.ToDouble(rv))
            : (Numerics.ToDouble(rm), Numerics.ToDouble(rv));
        Numerics.AssertClose(c.Heads.RunningMean.Download(), em, 1e-8, 1e-5, "running mean");
        Numerics.AssertClose(c.Heads.RunningVar.Download(), ev, 1e-9, 1e-4, "running var");
    }

    [Theory]
    [InlineData(true, false, false)]
    [InlineData(true, true, true)]
    [InlineData(false, true, false)]
    public void BackwardMatchesReference(bool training, bool bias, bool skip)
    {
        using var c = Make(Odd, bias, 200);
        c.Heads.Train(training);
        var rm = Numerics.Uniform(9, Odd.Q, 0.01f, 0.05f);
        var rv = Numerics.Uniform(10, Odd.Q, 0.001f, 0.01f);
        c.Heads.RunningMean.Upload(rm);
        c.Heads.RunningVar.Upload(rv);
        var gz = Numerics.Uniform(201, Odd.OutputLength);
        var gs = Numerics.Uniform(202, Odd.InputLength);
        using var dgz = Device.Upload(Shape.Of(Odd.N, Odd.Q, Odd.H, Odd.W), gz);
        using var dgs = Device.Upload(c.Input.Shape, gs);

        c.Heads.Forward(c.Input);
        c.Heads.ZeroGrad();
        var gx = c.Heads.Backward(dgz, skip ? dgs : null)!;
        Numerics.Poison(gx);
        c.Heads.ZeroGrad();
        gx = c.Heads.Backward(dgz, skip ? dgs : null)!;

        var f = c.Reference(training, Numerics.ToDouble(rm), Numerics.ToDouble(rv));
        var (rgx, rgwx, rgwy, rgbx, rgby) = AttentionReference.HeadsBackward(Odd, f, Numerics.ToDouble(c.X), Numerics.ToDouble(c.Wx),
            Numerics.ToDouble(c.Wy), Numerics.ToDouble(gz), training);
        if (skip)
        {
            for (int i = 0; i < rgx.Length; i++)
                rgx[i] += gs[i];
        }
        var wShape = Shape.Of(Odd.K, Odd.C, Odd.H, Odd.W);
        Numerics.AssertClose(gx.Download(), rgx, Atol, Rtol, "dL/dX", c.Input.Shape);
        Numerics.AssertClose(c.Heads.Wx.Gradient.Download(), rgwx, Atol, Rtol, "dL/dWx", wShape);
        Numerics.AssertClose(c.Heads.Wy.Gradient.Download(), rgwy, Atol, Rtol, "dL/dWy", wShape);
        if (bias)
        {
            Numerics.AssertClose(c.Heads.Bx!.Gradient.Download(), rgbx, Atol, Rtol, "dL/dBx", wShape);
            Numerics.AssertClose(c.Heads.By!.Gradient.Download(), rgby, Atol, Rtol, "dL/dBy", wShape);
        }
    }

    [Fact]
    public void ManyImageBlocksReduceLikeTheReference()
    {
        // More images than one block of the batch reduction (64 on CPUs, 8 on GPUs), and a partial last block.
        var s = new HeadsShape(AttentionHeads.CpuBlockImages + 7, 2, 1, 3, 4);
        using var c = Make(s, true, 300);
        var gz = Numerics.Uniform(301, s.OutputLength);
        using var dgz = Device.Upload(Shape.Of(s.N, s.Q, s.H, s.W), gz);
        var z = c.Heads.Forward(c.Input);
        var gx = c.Heads.Backward(dgz)!;
        var f = c.Reference(true, new double[s.Q], Ones(s.Q));
        var (rgx, rgwx, rgwy, rgbx, rgby) = AttentionReference.HeadsBackward(s, f, Numerics.ToDouble(c.X), Numerics.ToDouble(c.Wx),
            Numerics.ToDouble(c.Wy), Numerics.ToDouble(gz), true);
        Numerics.AssertClose(z.Download(), f.Z, Atol, Rtol, "Z");
        Numerics.AssertClose(gx.Download(), rgx, Atol, Rtol, "dL/dX");
        Numerics.AssertClose(c.Heads.Wx.Gradient.Download(), rgwx, 1e-4, Rtol, "dL/dWx");
        Numerics.AssertClose(c.Heads.Wy.Gradient.Download(), rgwy, 1e-4, Rtol, "dL/dWy");
        Numerics.AssertClose(c.Heads.Bx!.Gradient.Download(), rgbx, 1e-4, Rtol, "dL/dBx");
        Numerics.AssertClose(c.Heads.By!.Gradient.Download(), rgby, 1e-4, Rtol, "dL/dBy");
    }

    [Fact]
    public void PaperScaleWeightsMatchTheReference()
    {
        // Init-scale weights (std 0.02) and pixels in [0, 1]: R is nearly uniform and its variance is far
        // below eps, the regime of the first training steps.
        var s = new HeadsShape(5, 2, 1, 6, 5);
        using var c = Make(s, false, 400, weightScale: 0.035f, xLo: 0f, xHi: 1f);
        var gz = Numerics.Uniform(401, s.OutputLength);
        using var dgz = Device.Upload(Shape.Of(s.N, s.Q, s.H, s.W), gz);
        var z = c.Heads.Forward(c.Input);
        var gx = c.Heads.Backward(dgz)!;
        var f = c.Reference(true, new double[s.Q], Ones(s.Q));
        var (rgx, rgwx, _, _, _) = AttentionReference.HeadsBackward(s, f, Numerics.ToDouble(c.X), Numerics.ToDouble(c.Wx),
            Numerics.ToDouble(c.Wy), Numerics.ToDouble(gz), true);
        Numerics.AssertClose(z.Download(), f.Z, 1e-5, 1e-3, "Z");
        Numerics.AssertClose(gx.Download(), rgx, 1e-5, 1e-3, "dL/dX");
        Numerics.AssertClose(c.Heads.Wx.Gradient.Download(), rgwx, 1e-5, 1e-3, "dL/dWx");
    }

    [Fact]
    public void LargeLogitsTakeTheShiftedSoftmaxPath()
    {
        // |X·W| up to 150: beyond the unshifted-exp limit, so rows and columns are recomputed with their
        // maximum subtracted; exp of the raw logits would overflow.
        var s = new HeadsShape(3, 2, 1, 4, 5);
        using var c = Make(s, true, 900, weightScale: 150f);
        var gz = Numerics.Uniform(901, s.OutputLength);
        using var dgz = Device.Upload(Shape.Of(s.N, s.Q, s.H, s.W), gz);
        var z = c.Heads.Forward(c.Input);
        var gx = c.Heads.Backward(dgz)!;
        var f = c.Reference(true, new double[s.Q], Ones(s.Q));
        Assert.Contains(c.Wx, v => Math.Abs(v) > AttentionWise.Kernels.AttentionKernels.UnshiftedExpLimit);
        Numerics.AssertClose(c.Heads.DownloadRowSoftmax(), f.Ox, 1e-6, 1e-4, "Ox");
        Numerics.AssertClose(c.Heads.DownloadColumnSoftmax(), f.Oy, 1e-6, 1e-4, "Oy");
        Numerics.AssertClose(z.Download(), f.Z, 1e-4, 1e-3, "Z");
        var (rgx, _, _, _, _) = AttentionReference.HeadsBackward(s, f, Numerics.ToDouble(c.X), Numerics.ToDouble(c.Wx),
            Numerics.ToDouble(c.Wy), Numerics.ToDouble(gz), true);
        Numerics.AssertClose(gx.Download(), rgx, 1e-3, 1e-3, "dL/dX");
    }

    [Fact]
    public void BackwardTwiceDoublesEveryParameterGradient()
    {
        using var c = Make(Odd, true, 500);
        using var dgz = Device.Upload(Shape.Of(Odd.N, Odd.Q, Odd.H, Odd.W), Numerics.Uniform(501, Odd.OutputLength));
        c.Heads.Forward(c.Input);
        c.Heads.ZeroGrad();
        c.Heads.Backward(dgz);
        var once = c.Heads.Parameters().Select(p => p.Gradient.Download()).ToList();
        c.Heads.Backward(dgz);
        var twice = c.Heads.Parameters().Select(p => p.Gradient.Download()).ToList();
        Assert.Equal(4, once.Count);
        for (int i = 0; i < once.Count; i++)
        {
            Assert.Contains(once[i], v => Math.Abs(v) > 1e-4);
            Numerics.AssertClose(twice[i], once[i].Select(v => 2.0 * v).ToArray(), 1e-7, 1e-6, $"parameter {i} after two backwards");
        }
    }

    [Fact]
    public void SoftmaxRowsAndColumnsSumToOne()
    {
        using var c = Make(Odd, true, 600, weightScale: 3f);
        c.Heads.Forward(c.Input);
        var ox = c.Heads.DownloadRowSoftmax();
        var oy = c.Heads.DownloadColumnSoftmax();
        int images = Odd.N * Odd.Q;
        for (int img = 0; img < images; img++)
        {
            int b = img * Odd.Plane;
            for (int i = 0; i < Odd.H; i++)
            {
                double sum = 0;
                for (int j = 0; j < Odd.W; j++)
                    sum += ox[b + i * Odd.W + j];
                Assert.InRange(sum, 1 - 1e-5, 1 + 1e-5);
            }
            for (int j = 0; j < Odd.W; j++)
            {
                double sum = 0;
                for (int i = 0; i < Odd.H; i++)
                    sum += oy[b + i * Odd.W + j];
                Assert.InRange(sum, 1 - 1e-5, 1 + 1e-5);
            }
        }
        Assert.Contains(ox, v => v > 0.3f); // not uniform: the test could fail
    }

    [Fact]
    public void HeadOutputOnA2x2ExampleEqualsTheFormulaByHand()
    {
        using var heads = new AttentionHeads(Device, 1, 2, 2, 1);
        float ln3 = MathF.Log(3);
        heads.Wx.Value.Upload([0, ln3 / 2, 0, 0]);
        heads.Wy.Value.Upload([0, 0, ln3, 0]);
        using var x = Device.Upload(Shape.Of(1, 1, 2, 2), [1, 2, 1, 1]);
        var z = heads.Forward(x).Download();
        double inv = 1 / Math.Sqrt(268.0 / 16384 + 1e-5);
        Numerics.AssertClose(z, [-13.0 / 64 * inv, 2 * 7.0 / 64 * inv, 7.0 / 64 * inv, -1.0 / 64 * inv], 1e-6, 1e-5, "Z");
    }

    [Fact]
    public void WithoutInputGradientBackwardReturnsNullAndStillGivesWeightGradients()
    {
        using var c = Make(Odd, false, 700);
        using var dgz = Device.Upload(Shape.Of(Odd.N, Odd.Q, Odd.H, Odd.W), Numerics.Uniform(701, Odd.OutputLength));
        c.Heads.ComputeInputGradient = false;
        c.Heads.Forward(c.Input);
        c.Heads.ZeroGrad();
        Assert.Null(c.Heads.Backward(dgz));
        var f = c.Reference(true, new double[Odd.Q], Ones(Odd.Q));
        var (_, rgwx, rgwy, _, _) = AttentionReference.HeadsBackward(Odd, f, Numerics.ToDouble(c.X), Numerics.ToDouble(c.Wx),
            Numerics.ToDouble(c.Wy), Numerics.ToDouble(Numerics.Uniform(701, Odd.OutputLength)), true);
        Numerics.AssertClose(c.Heads.Wx.Gradient.Download(), rgwx, Atol, Rtol, "dL/dWx");
        Numerics.AssertClose(c.Heads.Wy.Gradient.Download(), rgwy, Atol, Rtol, "dL/dWy");
    }

    [Fact]
    public void SameInputsGiveBitIdenticalResults()
    {
        // Every device: the kernels use no atomics and reduce in a fixed order for a given launch shape.
        float[] Run()
        {
            using var c = Make(new HeadsShape(70, 2, 2, 4, 3), true, 800);
            using var dgz = Device.Upload(Shape.Of(70, 4, 4, 3), Numerics.Uniform(801, 70 * 4 * 12));
            var z = c.Heads.Forward(c.Input).Download();
            var gx = c.Heads.Backward(dgz)!.Download();
            return [.. z, .. gx, .. c.Heads.Wx.Gradient.Download(), .. c.Heads.By!.Gradient.Download()];
        }
        Assert.Equal(Run(), Run());
    }

    [Fact]
    public void RowsWiderThanAVectorMatchTheReference()
    {
        // 20 columns: one whole Vector512 and a part of a second (padded rows on the cpu device's host pass), forward
        // and backward with biases, training mode.
        var s = new HeadsShape(4, 2, 2, 9, 20);
        using var c = Make(s, true, 850);
        var gz = Numerics.Uniform(851, s.OutputLength);
        var gs = Numerics.Uniform(852, s.InputLength);
        using var dgz = Device.Upload(Shape.Of(s.N, s.Q, s.H, s.W), gz);
        using var dgs = Device.Upload(c.Input.Shape, gs);
        var z = c.Heads.Forward(c.Input);
        var gx = c.Heads.Backward(dgz, dgs)!;
        var f = c.Reference(true, new double[s.Q], Ones(s.Q));
        var (rgx, rgwx, rgwy, rgbx, rgby) = AttentionReference.HeadsBackward(s, f, Numerics.ToDouble(c.X), Numerics.ToDouble(c.Wx),
            Numerics.ToDouble(c.Wy), Numerics.ToDouble(gz), true);
        for (int i = 0; i < rgx.Length; i++)
            rgx[i] += gs[i];
        Numerics.AssertClose(c.Heads.DownloadRowSoftmax(), f.Ox, 1e-6, 1e-5, "Ox");
        Numerics.AssertClose(c.Heads.DownloadColumnSoftmax(), f.Oy, 1e-6, 1e-5, "Oy");
        Numerics.AssertClose(z.Download(), f.Z, Atol, Rtol, "Z");
        Numerics.AssertClose(gx.Download(), rgx, Atol, Rtol, "dL/dX");
        Numerics.AssertClose(c.Heads.Wx.Gradient.Download(), rgwx, Atol, Rtol, "dL/dWx");
        Numerics.AssertClose(c.Heads.Wy.Gradient.Download(), rgwy, Atol, Rtol, "dL/dWy");
        Numerics.AssertClose(c.Heads.Bx!.Gradient.Download(), rgbx, Atol, Rtol, "dL/dBx");
        Numerics.AssertClose(c.Heads.By!.Gradient.Download(), rgby, Atol, Rtol, "dL/dBy");
    }

    [Fact]
    public void TheCpuDeviceRunsItsVectorisedHostPassExactlyWhenItsHostPassesAreOn()
    {
        using var c = Make(Odd, false, 860);
        c.Heads.Forward(c.Input);
        Assert.Equal(Device.Kind == DeviceKind.Cpu && Device.Options.HostPasses, c.Heads.RanOnHost);
    }

    [Fact]
    public void WrongInputShapeNamesBothShapes()
    {
        using var heads = new AttentionHeads(Device, 3, 5, 7, 2);
        using var x = Device.Zeros(Shape.Of(2, 3, 7, 5));
        var e = Assert.Throws<ShapeMismatchException>(() => heads.Forward(x));
        Assert.Contains("[2, 3, 5, 7]", e.Message);
        Assert.Contains("[2, 3, 7, 5]", e.Message);
    }

    [Fact]
    public void ParametersAreNamedAndGroupedForTheAttentionOptimiser()
    {
        using var heads = new AttentionHeads(Device, 3, 5, 7, 2, bias: true);
        var names = heads.NamedParameters().Select(p => p.Name).ToArray();
        Assert.Equal(new[] { "wx", "wy", "bx", "by" }, names);
        Assert.All(heads.Parameters(), p => Assert.Equal(Parameter.AttentionGroup, p.Group));
        Assert.All(heads.Parameters(), p => Assert.Equal(Shape.Of(2, 3, 5, 7), p.Shape));
        Assert.Equal(new[] { "running_mean", "running_var" }, heads.NamedBuffers().Select(b => b.Name).ToArray());
        Assert.All(heads.RunningVar.Download(), v => Assert.Equal(1f, v));
        Assert.All(heads.RunningMean.Download(), v => Assert.Equal(0f, v));
    }
}

/// <summary>
/// The plane kernels of GPU-shaped devices (Kernels/AttentionPlaneKernels.cs) under forced launches: teams with fewer
/// lanes than rows or columns (a lane takes several), one lane, several teams per group with a partly filled last group,
/// backward groups of one thread to a full group; and the per-row kernels, which GPU-shaped devices keep for planes too
/// large for shared memory. Forward and backward against the float64 reference each time.
/// </summary>
public abstract class AttentionHeadsGpuSuite : AttentionHeadsSuite
{
    /// <summary>"lanes planes backward-threads", the per-row kernels, or the chosen launch (the batchnorm statistics'
    /// group sizes are tested in ReductionTests).</summary>
    public static TheoryData<string> Launches() => new() { "auto", "rows", "1 1 1", "2 3 3", "4 4 16", "16 1 5", "8 2 7" };

    [Theory]
    [MemberData(nameof(Launches))]
    public void EveryLaunchMatchesReference(string launch)
    {
        var device = Device;
        // 3 images × 2 heads × 2 channels = 12 planes of 7 × 6 (an even W: the shared row stride is padded to 7).
        var s = new HeadsShape(3, 2, 2, 7, 6);
        try
        {
            if (launch == "rows")
            {
                AttentionPlaneOverrides.RowKernels = true;
            }
            else if (launch != "auto")
            {
                var p = launch.Split(' ').Select(int.Parse).ToArray();
                AttentionPlaneOverrides.Tile = new HeadPlaneTile(p[0], p[1], p[2]);
            }
            using var c = Make(s, true, 600);
            var d = new AttentionWise.Kernels.HeadDims(s.N, s.K, s.C, s.H, s.W);
            var used = c.Heads.PlaneTile(d);
            if (launch == "rows")
                Assert.Null(used);
            else if (launch != "auto")
                Assert.Equal(AttentionPlaneOverrides.Tile, used);
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
        }
        finally
        {
            AttentionPlaneOverrides.Clear();
        }
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
        try
        {
            AttentionPlaneOverrides.WeightGradRows = rows > 0 ? rows : null;
            if (rows > 0)
                Assert.Equal(rows, AttentionHeads.WeightGradGroup(Device).Rows);
            using var c = Make(s, true, 610);
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
        finally
        {
            AttentionPlaneOverrides.Clear();
        }
    }

    /// <summary>Planes too large for the plane kernels' shared memory run the per-row kernels, and stay right.</summary>
    [Fact]
    public void PlanesTooLargeForSharedMemoryUseTheRowKernels()
    {
        var s = new HeadsShape(1, 1, 1, 20, 210);
        using var c = Make(s, false, 700);
        Assert.Null(c.Heads.PlaneTile(new AttentionWise.Kernels.HeadDims(s.N, s.K, s.C, s.H, s.W)));
        var z = c.Heads.Forward(c.Input);
        var f = c.Reference(true, new double[s.Q], Ones(s.Q));
        Numerics.AssertClose(z.Download(), f.Z, Atol, Rtol, "Z");
    }
}

public sealed class AttentionHeadsCpuTests : AttentionHeadsSuite
{
    protected override DeviceKind Kind => DeviceKind.Cpu;
}

/// <summary>The cpu device's vectorised host pass with Vector256 (AVX2) forced.</summary>
public sealed class AttentionHeadsCpuV256Tests : AttentionHeadsSuite
{
    protected override DeviceKind Kind => DeviceKind.Cpu;

    protected override SimdWidth? Simd => SimdWidth.V256;
}

/// <summary>The cpu device's vectorised host pass with its scalar fallback forced.</summary>
public sealed class AttentionHeadsCpuScalarTests : AttentionHeadsSuite
{
    protected override DeviceKind Kind => DeviceKind.Cpu;

    protected override SimdWidth? Simd => SimdWidth.Scalar;
}

/// <summary>The cpu device with its host passes off: the plain kernels.</summary>
public sealed class AttentionHeadsCpuKernelTests : AttentionHeadsSuite
{
    protected override DeviceKind Kind => DeviceKind.Cpu;

    protected override bool HostPasses => false;
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
    public void TheLaunchFitsTheDeviceAndTheSharedMemory(int h, int w, int maxThreads, int warp)
    {
        var t = HeadPlaneTile.Choose(h, w, 4096 * 8, AttentionHeads.GpuBlockImages, maxThreads, warp);
        Assert.NotNull(t);
        var v = t.Value;
        int limit = Math.Min(maxThreads, AttentionWise.Kernels.AttentionPlaneKernels.MaxThreads);
        Assert.InRange(v.Lanes * v.Planes, 1, limit);
        Assert.InRange(v.BackwardThreads, 1, limit);
        Assert.True(v.Planes * AttentionWise.Kernels.HeadPlanes.SharedFloats(h, w) <= AttentionWise.Kernels.AttentionPlaneKernels.PlaneShared);
        // A lane per row and per column where the group allows it, in whole warps.
        Assert.Equal(Math.Min(limit, (Math.Max(h, w) + Math.Min(warp, limit) - 1) / Math.Min(warp, limit) * Math.Min(warp, limit)), v.Lanes);
        if (maxThreads == 256 && warp == 32 && h == 28)
        {
            Assert.Equal(32, v.Lanes);
            Assert.True(v.Planes >= 4, v.ToString());
            // 784 elements: 160 threads run 5 full passes (98 % of the lanes busy).
            Assert.Equal(160, v.BackwardThreads);
        }
    }

    [Fact]
    public void PlanesOrBlocksTooLargeForSharedMemoryGetNoLaunch()
    {
        Assert.Null(HeadPlaneTile.Choose(20, 210, 10, 1, 256, 32));
        Assert.Null(HeadPlaneTile.Choose(32, 40, 10, AttentionHeads.GpuBlockImages, 256, 32));
        Assert.NotNull(HeadPlaneTile.Choose(32, 32, 10, AttentionHeads.GpuBlockImages, 256, 32));
    }
}
