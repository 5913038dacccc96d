using AttentionWise.Backends;
using AttentionWise.Layers;
using AttentionWise.Ops;
using AttentionWise.Tests.Infrastructure;
using AttentionWise.Tests.Reference;

namespace AttentionWise.Tests.Layers;

/// <summary>Conv2d on each accelerator against the float64 reference: forward, the three gradients,
/// accumulation, poisoned outputs, odd shapes and every tiling the host chooses.</summary>
public abstract class Conv2dSuite : DeviceTest
{
    public static TheoryData<int[]> Cases => new()
    {
        // N, Ci, Co, H, W, KH, KW, SY, SX, PY, PX
        new[] { 3, 3, 5, 5, 7, 3, 3, 1, 1, 1, 1 },     // odd everything, Co not a multiple of the channel tile
        new[] { 3, 3, 4, 5, 7, 2, 2, 2, 2, 0, 0 },     // the control model's downsampling conv, odd input
        new[] { 2, 4, 3, 6, 7, 3, 2, 2, 1, 2, 0 },     // non-square kernel, stride (2, 1), padding (2, 0)
        new[] { 2, 3, 1, 5, 7, 3, 3, 1, 1, 2, 2 },     // one output channel, padding 2
        new[] { 2, 16, 9, 9, 11, 3, 3, 1, 1, 1, 1 },   // several channel blocks plus a partial one
        new[] { 3, 5, 6, 4, 5, 1, 1, 1, 1, 0, 0 },     // 1×1
        new[] { 2, 8, 1, 10, 12, 3, 3, 1, 1, 1, 1 },   // attention-layer style: heads·C → C = 1
        new[] { 2, 6, 3, 8, 9, 3, 3, 1, 1, 1, 1 },     // CIFAR attention style: 6 → 3
        new[] { 1, 3, 7, 9, 8, 3, 3, 2, 2, 1, 1 },     // 3×3 stride 2
        new[] { 2, 2, 3, 4, 4, 2, 2, 1, 1, 2, 2 },     // padding larger than kernel − 1 (input gradient crops)
        new[] { 2, 5, 6, 5, 5, 1, 1, 2, 2, 0, 0 },     // 1×1 stride 2: three in four input pixels get no gradient
        // ≥ 16 output channels: on the cpu device with a BLAS these run as im2col and matrix products.
        new[] { 3, 5, 17, 6, 7, 3, 3, 1, 1, 1, 1 },    // odd sizes, 3×3 padding 1
        new[] { 3, 4, 16, 7, 6, 2, 2, 2, 2, 0, 0 },    // the downsampling conv, odd input (the last row and column unused)
        new[] { 2, 3, 16, 6, 7, 3, 2, 2, 1, 2, 0 },    // non-square kernel, stride (2, 1), padding (2, 0)
        new[] { 1, 3, 20, 9, 8, 3, 3, 2, 2, 1, 1 },    // 3×3 stride 2
        new[] { 2, 2, 16, 4, 4, 2, 2, 1, 1, 2, 2 },    // padding larger than kernel − 1
        new[] { 2, 1, 24, 5, 5, 3, 3, 1, 1, 1, 1 },    // one input channel (the first conv of the control model)
    };

    private protected static (Conv2dReference R, Conv2d Conv) Make(ComputeDevice device, int n, int ci, int co, int h, int w, int kh, int kw, int sy, int sx, int py, int px,
        bool bias = true, ConvolutionOptions? options = null) =>
        (new Conv2dReference(n, ci, co, h, w, kh, kw, sy, sx, py, px),
            new Conv2d(device, ci, co, (kh, kw), (sy, sx), (py, px), bias, options ?? ConvolutionOptions.Default));

    /// <summary>float32 against float64 over sums of Ci·KH·KW (forward) or N·Ho·Wo (weights) terms of size ≤ 1.</summary>
    protected static double Tol(int terms) => 2e-6 * Math.Sqrt(terms) + 1e-6;

    [Theory]
    [MemberData(nameof(Cases))]
    public void ForwardMatchesReference(int[] c)
    {
        var (n, ci, co, h, w, kh, kw, sy, sx, py, px) = (c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9], c[10]);
        var (r, conv) = Make(Device, n, ci, co, h, w, kh, kw, sy, sx, py, px);
        using var _ = conv;
        var x = Numerics.Uniform(1, r.InputLength);
        var wt = Numerics.Uniform(2, r.WeightLength);
        var b = Numerics.Uniform(3, co);
        conv.Weight.Value.Upload(wt);
        conv.Bias!.Value.Upload(b);
        using var dx = Device.Upload(Shape.Of(n, ci, h, w), x);

        var y = conv.Forward(dx);
        Numerics.Poison(y);
        y = conv.Forward(dx);

        var shape = Shape.Of(n, co, r.Ho, r.Wo);
        Assert.Equal(shape, y.Shape);
        Assert.Equal(shape, conv.OutputShape(dx.Shape));
        var expected = r.Forward(Numerics.ToDouble(x), Numerics.ToDouble(wt), Numerics.ToDouble(b));
        double tol = Tol(ci * kh * kw);
        Numerics.AssertClose(y.Download(), expected, tol, tol, "conv forward", shape);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void BackwardMatchesReferenceAndAccumulates(int[] c)
    {
        var (n, ci, co, h, w, kh, kw, sy, sx, py, px) = (c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9], c[10]);
        var (r, conv) = Make(Device, n, ci, co, h, w, kh, kw, sy, sx, py, px);
        using var _ = conv;
        var x = Numerics.Uniform(4, r.InputLength);
        var wt = Numerics.Uniform(5, r.WeightLength);
        var gy = Numerics.Uniform(6, r.OutputLength);
        conv.Weight.Value.Upload(wt);
        conv.Bias!.Value.Upload(Numerics.Uniform(7, co));
        conv.ZeroGrad();
        using var dx = Device.Upload(Shape.Of(n, ci, h, w), x);
        using var dgy = Device.Upload(Shape.Of(n, co, r.Ho, r.Wo), gy);

        conv.Forward(dx);
        var gx = conv.Backward(dgy)!;
        Numerics.Poison(gx);
        gx = conv.Backward(dgy)!;

        var (rgx, rgw, rgb) = r.Backward(Numerics.ToDouble(x), Numerics.ToDouble(wt), Numerics.ToDouble(gy));
        Assert.Equal(Shape.Of(n, ci, h, w), gx.Shape);
        double tolX = Tol(co * kh * kw), tolW = Tol(n * r.Ho * r.Wo);
        Numerics.AssertClose(gx.Download(), rgx, tolX, tolX, "conv input gradient", gx.Shape);
        Numerics.AssertClose(conv.Weight.Gradient.Download(), Array.ConvertAll(rgw, v => 2 * v), 2 * tolW, tolW, "conv weight gradient (two backward calls)", conv.Weight.Shape);
        Numerics.AssertClose(conv.Bias.Gradient.Download(), Array.ConvertAll(rgb, v => 2 * v), 2 * tolW, tolW, "conv bias gradient (two backward calls)", conv.Bias.Shape);
    }

    /// <summary>The models' convolutions with their real channel counts (control and DIA-control: C → 100 → 100 →
    /// (2×2, stride 2) → 200 → 200 → (2×2, stride 2); the attention layers' heads·C → C at full size), on small images and
    /// batch 2 where the channels are many. On GPU-shaped devices the tiles a 256-thread GPU with warps of 32 would
    /// choose for the full-size shapes are forced where the device's groups allow them (PoCL's do).</summary>
    public static TheoryData<int[]> ModelShapes => new()
    {
        // N, Ci, Co, H, W, KH, KW, SY, SX, PY, PX, full-size pixels (N·Ho·Wo of the model's step)
        new[] { 2, 1, 100, 6, 6, 3, 3, 1, 1, 1, 1, 256 * 784 },
        new[] { 2, 100, 100, 6, 6, 3, 3, 1, 1, 1, 1, 256 * 784 },
        new[] { 2, 100, 100, 6, 6, 2, 2, 2, 2, 0, 0, 256 * 196 },
        new[] { 2, 100, 200, 4, 4, 3, 3, 1, 1, 1, 1, 256 * 196 },
        new[] { 2, 200, 200, 4, 4, 3, 3, 1, 1, 1, 1, 256 * 196 },
        new[] { 2, 200, 200, 4, 4, 2, 2, 2, 2, 0, 0, 256 * 49 },
        new[] { 2, 8, 1, 28, 28, 3, 3, 1, 1, 1, 1, 4096 * 784 },
        new[] { 2, 16, 1, 28, 28, 3, 3, 1, 1, 1, 1, 4096 * 784 },
        new[] { 2, 24, 3, 32, 32, 3, 3, 1, 1, 1, 1, 1024 * 1024 },
    };

    [Theory]
    [MemberData(nameof(ModelShapes))]
    public void TheModelsConvolutionsMatchReference(int[] c)
    {
        var (n, ci, co, h, w, kh, kw, sy, sx, py, px) = (c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9], c[10]);
        var device = Device;
        var options = ConvolutionOptions.Default;
        if (device.Family == BackendFamily.Gpu)
        {
            // The tiles the model's full-size step gets on an H100-sized device, with the reduction split in two.
            int taps = kh * kw;
            var gemm = GpuConvPlan.ChooseGemm(co, c[11], 256, 32);
            var wgrad = GpuConvPlan.ChooseWgrad(co, ci * taps, c[11], 256, 32, 132);
            options = new ConvolutionOptions(Gemm: gemm, Wgrad: wgrad with { Slices = 2 });
            if (device.Accelerator.MaxNumThreadsPerGroup >= 256)
            {
                var probe = new GpuConvPlan(device, options);
                Assert.Equal(gemm, probe.ChooseGemm(co, n * h * w));
                var chosen = probe.ChooseWgrad(co, ci * taps, 64);
                Assert.Equal((wgrad.Rows, wgrad.Columns, 2), (chosen.Rows, chosen.Columns, chosen.Slices));
            }
        }
        var (r, conv) = Make(device, n, ci, co, h, w, kh, kw, sy, sx, py, px, bias: sy == 1, options);
        using var _ = conv;
        var x = Numerics.Uniform(60, r.InputLength);
        var wt = Numerics.Uniform(61, r.WeightLength, -0.1f, 0.1f);
        var b = Numerics.Uniform(62, co);
        var gy = Numerics.Uniform(63, r.OutputLength);
        conv.Weight.Value.Upload(wt);
        conv.Bias?.Value.Upload(b);
        conv.ZeroGrad();
        using var dx = device.Upload(Shape.Of(n, ci, h, w), x);
        using var dgy = device.Upload(Shape.Of(n, co, r.Ho, r.Wo), gy);
        var y = conv.Forward(dx);
        var gx = conv.Backward(dgy)!;
        double[] rx = Numerics.ToDouble(x), rw = Numerics.ToDouble(wt);
        var (rgx, rgw, _) = r.Backward(rx, rw, Numerics.ToDouble(gy));
        double tolY = Tol(ci * kh * kw), tolX = Tol(co * kh * kw), tolW = Tol(n * r.Ho * r.Wo);
        Numerics.AssertClose(y.Download(), r.Forward(rx, rw, conv.Bias is null ? null : Numerics.ToDouble(b)), tolY, tolY, "forward", y.Shape);
        Numerics.AssertClose(gx.Download(), rgx, tolX, tolX, "input gradient", gx.Shape);
        Numerics.AssertClose(conv.Weight.Gradient.Download(), rgw, tolW, tolW, "weight gradient", conv.Weight.Shape);
    }

    /// <summary>Every way a weight changes between two forwards (an upload, a copy, zeroing, an Adam step) is seen by the
    /// next forward and backward: no pass may keep a copy of the weight from an earlier call.</summary>
    [Fact]
    public void EveryWeightWriteIsSeenByTheNextCall()
    {
        var (r, conv) = Make(Device, 2, 6, 9, 5, 6, 3, 3, 1, 1, 1, 1);
        using var _ = conv;
        var x = Numerics.Uniform(40, r.InputLength);
        var gy = Numerics.Uniform(41, r.OutputLength);
        var b = Numerics.Uniform(42, 9);
        conv.Bias!.Value.Upload(b);
        using var dx = Device.Upload(Shape.Of(2, 6, 5, 6), x);
        using var dgy = Device.Upload(Shape.Of(2, 9, r.Ho, r.Wo), gy);
        using var other = Device.Upload(conv.Weight.Shape, Numerics.Uniform(43, r.WeightLength));
        using var adam = new Adam(Device, conv.NamedParameters(), lr: 0.05f);

        void Check(string after)
        {
            var w = conv.Weight.Value.Download();
            var y = conv.Forward(dx);
            Numerics.AssertClose(y.Download(), r.Forward(Numerics.ToDouble(x), Numerics.ToDouble(w), Numerics.ToDouble(b)), 1e-5, 1e-5, $"forward after {after}", y.Shape);
            conv.ZeroGrad();
            var gx = conv.Backward(dgy)!;
            var (rgx, _, _) = r.Backward(Numerics.ToDouble(x), Numerics.ToDouble(w), Numerics.ToDouble(gy));
            Numerics.AssertClose(gx.Download(), rgx, 1e-5, 1e-5, $"input gradient after {after}", gx.Shape);
        }

        conv.Weight.Value.Upload(Numerics.Uniform(44, r.WeightLength));
        Check("an upload");
        conv.Weight.Value.Upload(Numerics.Uniform(45, r.WeightLength));
        Check("a second upload");
        conv.Weight.Value.CopyFrom(other);
        Check("a copy");
        // The gradient of the latest Check is in place: the step moves every weight.
        var before = conv.Weight.Value.Download();
        adam.Step();
        Assert.NotEqual(before, conv.Weight.Value.Download());
        b = conv.Bias.Value.Download();
        Check("an Adam step");
        conv.Weight.Value.Zero();
        Check("zeroing");
    }

    [Fact]
    public void WithoutBiasOrInputGradient()
    {
        var (r, conv) = Make(Device, 3, 4, 5, 6, 6, 2, 2, 2, 2, 0, 0, bias: false);
        using var _ = conv;
        Assert.Null(conv.Bias);
        Assert.Equal(new[] { "weight" }, conv.NamedParameters().Select(p => p.Name));
        var x = Numerics.Uniform(8, r.InputLength);
        var wt = Numerics.Uniform(9, r.WeightLength);
        var gy = Numerics.Uniform(10, r.OutputLength);
        conv.Weight.Value.Upload(wt);
        conv.ZeroGrad();
        using var dx = Device.Upload(Shape.Of(3, 4, 6, 6), x);
        using var dgy = Device.Upload(Shape.Of(3, 5, 3, 3), gy);
        var y = conv.Forward(dx);
        Numerics.AssertClose(y.Download(), r.Forward(Numerics.ToDouble(x), Numerics.ToDouble(wt), null), 1e-5, 1e-5, "conv forward without bias", y.Shape);
        conv.ComputeInputGradient = false;
        Assert.Null(conv.Backward(dgy));
        var (_, rgw, _) = r.Backward(Numerics.ToDouble(x), Numerics.ToDouble(wt), Numerics.ToDouble(gy));
        Numerics.AssertClose(conv.Weight.Gradient.Download(), rgw, 1e-5, 1e-5, "conv weight gradient", conv.Weight.Shape);
    }

    [Fact]
    public void ChangingTheBatchSizeBetweenCallsWorks()
    {
        var (r, conv) = Make(Device, 3, 3, 5, 5, 7, 3, 3, 1, 1, 1, 1);
        using var _ = conv;
        var wt = Numerics.Uniform(11, r.WeightLength);
        conv.Weight.Value.Upload(wt);
        conv.Bias!.Value.Zero();
        foreach (int n in new[] { 3, 1, 2 })
        {
            var rn = r with { N = n };
            var x = Numerics.Uniform(12 + n, rn.InputLength);
            using var dx = Device.Upload(Shape.Of(n, 3, 5, 7), x);
            var y = conv.Forward(dx);
            Numerics.AssertClose(y.Download(), rn.Forward(Numerics.ToDouble(x), Numerics.ToDouble(wt), null), 1e-5, 1e-5, $"conv forward, batch {n}", y.Shape);
            var gy = Numerics.Uniform(20 + n, rn.OutputLength);
            using var dgy = Device.Upload(y.Shape, gy);
            var gx = conv.Backward(dgy)!;
            Numerics.AssertClose(gx.Download(), rn.Backward(Numerics.ToDouble(x), Numerics.ToDouble(wt), Numerics.ToDouble(gy)).Gx, 1e-5, 1e-5, $"conv input gradient, batch {n}", gx.Shape);
        }
    }

    [Fact]
    public void WrongInputShapeNamesBothShapes()
    {
        using var conv = new Conv2d(Device, 3, 4, 3, padding: 1);
        using var x = Device.Zeros(Shape.Of(2, 5, 6, 6));
        var e = Assert.Throws<ShapeMismatchException>(() => conv.Forward(x));
        Assert.Contains("[2, 5, 6, 6]", e.Message);
        Assert.Contains("[2, 3, 6, 6]", e.Message);
    }

    [Fact]
    public void ParametersHaveTheirNamesShapesAndInitKinds()
    {
        using var conv = new Conv2d(Device, 3, 8, (3, 2), (1, 2), (1, 0), bias: true);
        Assert.Equal(3, conv.InChannels);
        Assert.Equal(8, conv.OutChannels);
        Assert.Equal((3, 2), conv.Kernel);
        Assert.Equal((1, 2), conv.Stride);
        Assert.Equal((1, 0), conv.Padding);
        var ps = conv.NamedParameters().ToList();
        Assert.Equal(new[] { "weight", "bias" }, ps.Select(p => p.Name));
        Assert.Equal(Shape.Of(8, 3, 3, 2), conv.Weight.Shape);
        Assert.Equal(ParameterInit.Normal, conv.Weight.Init);
        Assert.Equal(ParameterInit.Zeros, conv.Bias!.Init);
        Assert.Equal(8 * 3 * 6 + 8, conv.ParameterCount);
    }

    [Fact]
    public void InitWithTheSameSeedGivesTheSameNumbers()
    {
        using var a = new Conv2d(Device, 3, 5, 3);
        using var b = new Conv2d(Device, 3, 5, 3);
        Init.Apply(a, new Rng(42));
        Init.Apply(b, new Rng(42));
        var wa = a.Weight.Value.Download();
        Assert.Equal(wa, b.Weight.Value.Download());
        Assert.All(a.Bias!.Value.Download(), v => Assert.Equal(0f, v));
        double std = Math.Sqrt(wa.Sum(v => (double)v * v) / wa.Length);
        Assert.InRange(std, 0.012, 0.028);
        Init.Apply(b, new Rng(43));
        Assert.NotEqual(wa, b.Weight.Value.Download());
    }
}


public sealed class Conv2dCpuTests : Conv2dCpuTileSuite
{
    protected override DeviceKind Kind => DeviceKind.Cpu;

    [Fact]
    public void TheBlasIsLoadedAndWideConvolutionsUseIt()
    {
        Assert.True(AttentionWise.Host.Blas.Available,
            $"The cpu device's BLAS could not be loaded: {AttentionWise.Host.Blas.Description}. scripts/setup installs OpenBLAS (Debian package libopenblas0-pthread).");
        using var wide = new Conv2d(Device, 3, Conv2d.HostMinOutChannels, 3, padding: 1);
        using var narrow = new Conv2d(Device, 8, 1, 3, padding: 1);
        Assert.True(wide.RunsOnHost);
        Assert.False(narrow.RunsOnHost);
        Assert.True(narrow.RunsNarrowOnHost);
        Assert.False(wide.RunsNarrowOnHost);
    }
}

/// <summary>The cpu device's vectorised narrow convolutions (and BLAS passes) with Vector256 forced.</summary>
public sealed class Conv2dCpuV256Tests : Conv2dSuite
{
    protected override DeviceKind Kind => DeviceKind.Cpu;

    protected override AttentionWise.Host.SimdWidth? Simd => AttentionWise.Host.SimdWidth.V256;
}

/// <summary>The cpu device's vectorised narrow convolutions (and BLAS passes) with the scalar fallback forced.</summary>
public sealed class Conv2dCpuScalarTests : Conv2dSuite
{
    protected override DeviceKind Kind => DeviceKind.Cpu;

    protected override AttentionWise.Host.SimdWidth? Simd => AttentionWise.Host.SimdWidth.Scalar;
}

/// <summary>The cpu device with its BLAS path turned off: the register-tiled kernels on every case.</summary>
public sealed class Conv2dCpuPlainKernelTests : Conv2dCpuTileSuite
{
    protected override DeviceKind Kind => DeviceKind.Cpu;

    protected override bool HostPasses => false;

    [Fact]
    public void TheseRunTheKernels()
    {
        using var wide = new Conv2d(Device, 3, Conv2d.HostMinOutChannels, 3, padding: 1);
        using var narrow = new Conv2d(Device, 8, 1, 3, padding: 1);
        Assert.False(wide.RunsOnHost);
        Assert.False(narrow.RunsNarrowOnHost);
    }
}

public sealed class Conv2dCpuSimTests : Conv2dGpuSuite
{
    protected override DeviceKind Kind => DeviceKind.CpuSimulator;
}

public sealed class Conv2dCudaTests : Conv2dGpuSuite
{
    protected override DeviceKind Kind => DeviceKind.Cuda;
}

public sealed class Conv2dOpenCLTests : Conv2dGpuSuite
{
    protected override DeviceKind Kind => DeviceKind.OpenCL;
}
