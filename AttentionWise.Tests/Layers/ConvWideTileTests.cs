using AttentionWise.Backends;
using AttentionWise.Kernels;
using AttentionWise.Layers;
using AttentionWise.Ops;
using AttentionWise.Tests.Infrastructure;
using AttentionWise.Tests.Reference;

namespace AttentionWise.Tests.Layers;

/// <summary>
/// Every GemmWide and WeightGradWide tile shape the plan accepts that fits the device's groups (all 15 forward and 7
/// weight-gradient shapes of ≤ 16 threads on the simulator; on OpenCL those and, of the larger ones, every shape with
/// 1, 3, 8 or 16 thread rows and 2, 8 or 32 (forward) or 2, 5, 8 or 16 (weight gradient) thread columns, which
/// keeps PoCL's run to seconds) runs against the
/// float64 reference on shapes with K not a multiple of Depth, partial row and pixel tiles and table sentinels (the
/// control model's first convolution: Ci = 1, K = 9), the weight gradient whole and in 3 slices. The sum of every
/// output runs over k in order whatever the tile, so every tile must also give the same bits.
/// </summary>
public abstract class ConvWideTileSuite : DeviceTest
{
    // N, Ci, Co, H, W, KH, KW, SY, SX, PY, PX
    public static TheoryData<int[]> Shapes => new()
    {
        new[] { 2, 1, 11, 9, 7, 3, 3, 1, 1, 1, 1 },   // Ci = 1, K = 9 (forward), input gradient M = 1, K = 99
        new[] { 2, 5, 19, 7, 6, 3, 3, 2, 2, 1, 1 },   // K = 45, four stride phases of 4, 2, 2 and 1 taps
    };

    private int GroupThreads => Math.Min(256, Device.MaxGroupThreads);

    /// <summary>Every GemmWide tile the plan accepts (GM 1…16, GP a power of two 2…32) within the device's groups.</summary>
    private List<GemmTile> GemmTiles()
    {
        var tiles = new List<GemmTile>();
        for (int gm = 1; gm <= GpuGemmKernels.WideMaxRows / 8; gm++)
            for (int gp = 2; gp <= GpuGemmKernels.WideMaxPixels / 8; gp *= 2)
                if (gm * gp <= GroupThreads && (gm * gp <= 16 || (Sampled(gm) && gp is 2 or 8 or 32)))
                    tiles.Add(new GemmTile(false, gm, gp));
        return tiles;
    }

    /// <summary>Every WeightGradWide tile the plan accepts (GM 1…16, GN 2…16, GM·GN a multiple of 8) within the device's groups.</summary>
    private List<(int Rows, int Columns)> WgradTiles()
    {
        var tiles = new List<(int, int)>();
        for (int gm = 1; gm <= GpuGemmKernels.WgradMaxRows / 8; gm++)
            for (int gn = 2; gn <= GpuGemmKernels.WgradMaxColumns / 8; gn++)
                if (gm * gn <= GroupThreads && gm * gn % GpuGemmKernels.Depth == 0 && (gm * gn <= 16 || (Sampled(gm) && gn is 2 or 5 or 8 or 16)))
                    tiles.Add((gm, gn));
        return tiles;
    }

    /// <summary>The thread-row counts of the larger tiles that run (see the class notes).</summary>
    private static bool Sampled(int rows) => rows is 1 or 3 or 8 or 16;

    private (float[] Y, float[] Gx, float[] Gw) Run(int[] c, ConvolutionOptions options, string variant)
    {
        var (n, ci, co, h, w, kh, kw, sy, sx, py, px) = (c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9], c[10]);
        var device = Device;
        var r = new Conv2dReference(n, ci, co, h, w, kh, kw, sy, sx, py, px);
        using var conv = new Conv2d(device, ci, co, (kh, kw), (sy, sx), (py, px), true, options);
        var x = Numerics.Uniform(70, r.InputLength);
        var wt = Numerics.Uniform(71, r.WeightLength);
        var b = Numerics.Uniform(72, co);
        var gy = Numerics.Uniform(73, r.OutputLength);
        conv.Weight.Value.Upload(wt);
        conv.Bias!.Value.Upload(b);
        conv.ZeroGrad();
        using var dx = device.Upload(Shape.Of(n, ci, h, w), x);
        using var dgy = device.Upload(Shape.Of(n, co, r.Ho, r.Wo), gy);
        var y = conv.Forward(dx).Download();
        var gx = conv.Backward(dgy)!.Download();
        var gw = conv.Weight.Gradient.Download();
        double[] rx = Numerics.ToDouble(x), rw = Numerics.ToDouble(wt);
        var (rgx, rgw, _) = r.Backward(rx, rw, Numerics.ToDouble(gy));
        Numerics.AssertClose(y, r.Forward(rx, rw, Numerics.ToDouble(b)), 1e-5, 1e-5, $"{variant}: forward");
        Numerics.AssertClose(gx, rgx, 1e-5, 1e-5, $"{variant}: input gradient");
        Numerics.AssertClose(gw, rgw, 1e-5, 1e-5, $"{variant}: weight gradient");
        return (y, gx, gw);
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void EveryWideGemmTileMatchesReferenceWithTheSameBits(int[] c)
    {
        var plan = (GemmTile t) => new GpuConvPlan(Device, new ConvolutionOptions(Gemm: t));
        var tiles = GemmTiles();
        Assert.True(tiles.Count >= 15, $"{tiles.Count} tiles");
        (float[] Y, float[] Gx, float[] Gw)? first = null;
        foreach (var tile in tiles)
        {
            // The plan takes the tile for the forward (M = Co) and the input gradient (M = Ci) alike.
            Assert.Equal(tile, plan(tile).ChooseGemm(c[2], 1000));
            Assert.Equal(tile, plan(tile).ChooseGemm(c[1], 1000));
            var result = Run(c, new ConvolutionOptions(Gemm: tile), $"gemm wide {tile.Rows} × {tile.Pixels}");
            first ??= result;
            Assert.True(Bits(first.Value.Y).SequenceEqual(Bits(result.Y)), $"gemm wide {tile.Rows} × {tile.Pixels}: forward bits differ from the first tile's");
            Assert.True(Bits(first.Value.Gx).SequenceEqual(Bits(result.Gx)), $"gemm wide {tile.Rows} × {tile.Pixels}: input-gradient bits differ from the first tile's");
        }
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void EveryWideWeightGradTileMatchesReferenceWithTheSameBits(int[] c)
    {
        var tiles = WgradTiles();
        Assert.True(tiles.Count >= 7, $"{tiles.Count} tiles");
        int pixels = c[0] * ((c[3] + 2 * c[9] - c[5]) / c[7] + 1) * ((c[4] + 2 * c[10] - c[6]) / c[8] + 1);
        foreach (int slices in new[] { 1, 3 })
        {
            float[]? first = null;
            foreach (var (rows, columns) in tiles)
            {
                var options = new ConvolutionOptions(Wgrad: new WgradTile(false, rows, columns, slices, 0));
                var chosen = new GpuConvPlan(Device, options).ChooseWgrad(c[2], c[1] * c[5] * c[6], pixels);
                Assert.Equal((false, rows, columns, slices), (chosen.Narrow, chosen.Rows, chosen.Columns, chosen.Slices));
                var (_, _, gw) = Run(c, options, $"wgrad wide {rows} × {columns}, {slices} slices");
                first ??= gw;
                Assert.True(Bits(first).SequenceEqual(Bits(gw)), $"wgrad wide {rows} × {columns}, {slices} slices: bits differ from the first tile's");
            }
        }
    }

    private static int[] Bits(float[] a) => Array.ConvertAll(a, BitConverter.SingleToInt32Bits);
}

public sealed class ConvWideTileCpuSimTests : ConvWideTileSuite
{
    protected override DeviceKind Kind => DeviceKind.CpuSimulator;
}

public sealed class ConvWideTileOpenCLTests : ConvWideTileSuite
{
    protected override DeviceKind Kind => DeviceKind.OpenCL;
}
