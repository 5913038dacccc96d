using AttentionWise.Backends;
using AttentionWise.Layers;
using AttentionWise.Ops;
using AttentionWise.Tests.Infrastructure;
using AttentionWise.Tests.Reference;

namespace AttentionWise.Tests.Layers;

/// <summary>The cpu device's register tiles: each forced on shapes where it applies.</summary>
public abstract class Conv2dCpuTileSuite : Conv2dSuite
{
    public static TheoryData<string, int[]> TileCases()
    {
        var data = new TheoryData<string, int[]>();
        var shapes = new[]
        {
            new[] { 3, 5, 6, 5, 9, 3, 3, 1, 1, 1, 1 },   // stride 1, 3-wide: every forward tile applies
            new[] { 2, 4, 3, 7, 6, 2, 3, 2, 1, 0, 2 },   // row stride 2, 3-wide
            new[] { 2, 3, 5, 6, 7, 3, 2, 1, 1, 1, 0 },   // stride 1, 2-wide
            new[] { 2, 6, 5, 9, 8, 3, 3, 2, 2, 1, 1 },   // strided
        };
        foreach (var tile in Enum.GetNames<HostForwardTile>())
            foreach (var shape in shapes)
                data.Add("forward " + tile, shape);
        foreach (var tile in Enum.GetNames<HostWeightTile>())
            foreach (var shape in shapes)
                data.Add("weight " + tile, shape);
        return data;
    }

    [Theory]
    [MemberData(nameof(TileCases))]
    public void EveryTileVariantMatchesReference(string variant, int[] c)
    {
        var (n, ci, co, h, w, kh, kw, sy, sx, py, px) = (c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9], c[10]);
        var parts = variant.Split(' ');
        var options = parts[0] == "forward"
            ? new ConvolutionOptions(ForwardTile: Enum.Parse<HostForwardTile>(parts[1]))
            : new ConvolutionOptions(WeightTile: Enum.Parse<HostWeightTile>(parts[1]));
        if (sx == 1 && sy == 1 && kw == 3)
        {
            // Every tile applies to a stride-1, 3-wide convolution: the plan must use the one asked for.
            var plan = new HostConvPlan(new ConvolutionGeometry(ci, co, (kh, kw), (sy, sx), (py, px)), options);
            var pass = plan.Forward(Shape.Of(n, ci, h, w));
            if (options.ForwardTile is { } forward)
                Assert.Equal(forward, pass.Tile);
            else
                Assert.Equal(options.WeightTile, plan.WeightGradient(pass).Tile);
        }
        var (r, conv) = Make(Device, n, ci, co, h, w, kh, kw, sy, sx, py, px, options: options);
        using var _ = conv;
        var x = Numerics.Uniform(30, r.InputLength);
        var wt = Numerics.Uniform(31, r.WeightLength);
        var b = Numerics.Uniform(32, co);
        var gy = Numerics.Uniform(33, r.OutputLength);
        conv.Weight.Value.Upload(wt);
        conv.Bias!.Value.Upload(b);
        conv.ZeroGrad();
        using var dx = Device.Upload(Shape.Of(n, ci, h, w), x);
        using var dgy = Device.Upload(Shape.Of(n, co, r.Ho, r.Wo), gy);
        var y = conv.Forward(dx);
        Numerics.Poison(y);
        y = conv.Forward(dx);
        var gx = conv.Backward(dgy)!;
        double[] rx = Numerics.ToDouble(x), rw = Numerics.ToDouble(wt);
        var (rgx, rgw, rgb) = r.Backward(rx, rw, Numerics.ToDouble(gy));
        Numerics.AssertClose(y.Download(), r.Forward(rx, rw, Numerics.ToDouble(b)), 1e-5, 1e-5, $"{variant}: forward", y.Shape);
        Numerics.AssertClose(gx.Download(), rgx, 1e-5, 1e-5, $"{variant}: input gradient", gx.Shape);
        Numerics.AssertClose(conv.Weight.Gradient.Download(), rgw, 1e-5, 1e-5, $"{variant}: weight gradient", conv.Weight.Shape);
        Numerics.AssertClose(conv.Bias.Gradient.Download(), rgb, 1e-5, 1e-5, $"{variant}: bias gradient");
    }
}

/// <summary>
/// The implicit-GEMM kernels of GPU-shaped devices (Kernels/GpuGemmKernels*.cs): every variant (wide and narrow, forward,
/// input gradient and weight gradient) and tile shapes from one thread row to a full group, forced through
/// <see cref="ConvolutionOptions"/> on shapes that put several tiles, partial tiles, stride phases and split reductions
/// in play; and the same results on a second run.
/// </summary>
public abstract class Conv2dGpuSuite : Conv2dSuite
{
    // N, Ci, Co, H, W, KH, KW, SY, SX, PY, PX
    private static readonly int[][] GpuShapes =
    [
        [2, 6, 9, 5, 7, 3, 3, 1, 1, 1, 1],     // wide forward and weight gradient (9 channels), wide input gradient (6)
        [2, 3, 2, 6, 7, 3, 2, 2, 1, 2, 0],     // narrow everywhere (2 out, 3 in), stride (2, 1), padding (2, 0)
        [2, 5, 7, 7, 6, 2, 2, 2, 2, 0, 0],     // the downsampling conv: four stride phases of one tap each
        [1, 12, 1, 9, 8, 3, 3, 1, 1, 1, 1],    // the attention layer's heads·C → C = 1 (narrow out, wide in)
        [2, 4, 3, 6, 5, 3, 3, 2, 2, 1, 1],     // 3×3 stride 2: phases of 4, 2, 2 and 1 taps
    ];

    /// <summary>Forced tiles, each valid on a device with 16 threads per group (the simulator); "auto" is the chooser's.</summary>
    public static TheoryData<string, int> GpuTileCases()
    {
        var data = new TheoryData<string, int>();
        string[] tiles =
        [
            "auto",
            "gemm wide 1 2", "gemm wide 2 8", "gemm wide 3 4", "gemm wide 8 2", "gemm narrow 3", "gemm narrow 16",
            "wgrad wide 1 8", "wgrad wide 2 4", "wgrad wide 4 4", "wgrad narrow 2 3", "wgrad narrow 4 4", "wgrad narrow 16 1",
            "slices 1", "slices 3",
        ];
        foreach (var tile in tiles)
            for (int shape = 0; shape < GpuShapes.Length; shape++)
                data.Add(tile, shape);
        return data;
    }

    private static ConvolutionOptions Force(string variant)
    {
        var p = variant.Split(' ');
        return p[0] switch
        {
            "gemm" when p[1] == "wide" => new ConvolutionOptions(Gemm: new GemmTile(false, int.Parse(p[2]), int.Parse(p[3]))),
            "gemm" => new ConvolutionOptions(Gemm: new GemmTile(true, 1, int.Parse(p[2]))),
            "wgrad" => new ConvolutionOptions(Wgrad: new WgradTile(p[1] == "narrow", int.Parse(p[2]), int.Parse(p[3]), 0, 0)),
            "slices" => new ConvolutionOptions(Wgrad: new WgradTile(false, 0, 0, int.Parse(p[1]), 0)),
            _ => ConvolutionOptions.Default,
        };
    }

    [Theory]
    [MemberData(nameof(GpuTileCases))]
    public void EveryGpuVariantMatchesReference(string variant, int shape)
    {
        var c = GpuShapes[shape];
        var (n, ci, co, h, w, kh, kw, sy, sx, py, px) = (c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9], c[10]);
        var device = Device;
        var (r, conv) = Make(device, n, ci, co, h, w, kh, kw, sy, sx, py, px, options: Force(variant));
        using var _ = conv;
        var x = Numerics.Uniform(50, r.InputLength);
        var wt = Numerics.Uniform(51, r.WeightLength);
        var b = Numerics.Uniform(52, co);
        var gy = Numerics.Uniform(53, r.OutputLength);
        conv.Weight.Value.Upload(wt);
        conv.Bias!.Value.Upload(b);
        conv.ZeroGrad();
        using var dx = device.Upload(Shape.Of(n, ci, h, w), x);
        using var dgy = device.Upload(Shape.Of(n, co, r.Ho, r.Wo), gy);
        var y = conv.Forward(dx);
        var gx = conv.Backward(dgy)!;
        double[] rx = Numerics.ToDouble(x), rw = Numerics.ToDouble(wt);
        var (rgx, rgw, rgb) = r.Backward(rx, rw, Numerics.ToDouble(gy));
        Numerics.AssertClose(y.Download(), r.Forward(rx, rw, Numerics.ToDouble(b)), 1e-5, 1e-5, $"{variant}: forward", y.Shape);
        Numerics.AssertClose(gx.Download(), rgx, 1e-5, 1e-5, $"{variant}: input gradient", gx.Shape);
        Numerics.AssertClose(conv.Weight.Gradient.Download(), rgw, 1e-5, 1e-5, $"{variant}: weight gradient", conv.Weight.Shape);
        Numerics.AssertClose(conv.Bias.Gradient.Download(), rgb, 1e-5, 1e-5, $"{variant}: bias gradient");
    }

    /// <summary>A tile asked for where it does not fit (narrow on 9 channels, more threads than a group has) is not used:
    /// the chooser's tile runs instead, and the results stay right.</summary>
    [Fact]
    public void ATileThatDoesNotFitIsNotUsed()
    {
        var device = Device;
        var chosen = new GpuConvPlan(device, ConvolutionOptions.Default).ChooseGemm(9, 70);
        Assert.True(chosen.Pixels >= 2, chosen.ToString());
        GemmTile[] misfits =
        [
            new(true, 1, 8),
            new(false, 16, device.Accelerator.MaxNumThreadsPerGroup),
            new(false, 4, 1),   // one thread column: never (docs/ilgpu-bugs.md, problem 3)
        ];
        foreach (var misfit in misfits)
        {
            var options = new ConvolutionOptions(Gemm: misfit);
            Assert.Equal(chosen, new GpuConvPlan(device, options).ChooseGemm(9, 70));
            var (r, conv) = Make(device, 2, 6, 9, 5, 7, 3, 3, 1, 1, 1, 1, options: options);
            using var _ = conv;
            var x = Numerics.Uniform(54, r.InputLength);
            var wt = Numerics.Uniform(55, r.WeightLength);
            conv.Weight.Value.Upload(wt);
            conv.Bias!.Value.Zero();
            using var dx = device.Upload(Shape.Of(2, 6, 5, 7), x);
            Numerics.AssertClose(conv.Forward(dx).Download(), r.Forward(Numerics.ToDouble(x), Numerics.ToDouble(wt), null), 1e-5, 1e-5, $"forward, {misfit} asked for");
        }
    }

    /// <summary>The same inputs give bit-identical outputs and gradients on a second run (no atomics; the weight
    /// gradient's split reduction is combined in a fixed order).</summary>
    [Fact]
    public void TwoRunsGiveIdenticalBits()
    {
        var device = Device;
        var options = new ConvolutionOptions(Wgrad: new WgradTile(false, 0, 0, 3, 0));
        float[][] Run()
        {
            var (r, conv) = Make(device, 2, 6, 9, 5, 7, 3, 3, 1, 1, 1, 1, options: options);
            using var _ = conv;
            conv.Weight.Value.Upload(Numerics.Uniform(56, r.WeightLength));
            conv.Bias!.Value.Upload(Numerics.Uniform(57, 9));
            conv.ZeroGrad();
            using var dx = device.Upload(Shape.Of(2, 6, 5, 7), Numerics.Uniform(58, r.InputLength));
            using var dgy = device.Upload(Shape.Of(2, 9, r.Ho, r.Wo), Numerics.Uniform(59, r.OutputLength));
            var y = conv.Forward(dx).Download();
            var gx = conv.Backward(dgy)!.Download();
            return [y, gx, conv.Weight.Gradient.Download()];
        }
        var first = Run();
        var second = Run();
        for (int i = 0; i < first.Length; i++)
            Assert.Equal(first[i], second[i]);
    }
}
