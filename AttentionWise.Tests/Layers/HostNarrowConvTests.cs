using AttentionWise.Host;
using AttentionWise.Tests.Infrastructure;

namespace AttentionWise.Tests.Layers;

/// <summary>The cpu device's narrow convolutions (<see cref="HostNarrowConv"/>) directly: results that do not depend on
/// the number of threads, at every vector width. (Their agreement with the float64 reference is tested through Conv2d,
/// in the Conv2dCpu*Tests suites.)</summary>
public sealed unsafe class HostNarrowConvTests
{
    private static float[] Run(SimdWidth simd, int threads)
    {
        // The attention layer's 8 → 1 convolution at full size, over 150 images (3 weight-gradient blocks).
        const int n = 150, ci = 8, co = 1, h = 28, w = 28;
        var conv = new HostNarrowConv(ci, co, 3, 3, 1, 1, simd, new HostLauncher(threads));
        var x = Numerics.Uniform(1, n * ci * h * w);
        var wt = Numerics.Uniform(2, co * ci * 9);
        var b = Numerics.Uniform(3, co);
        var gy = Numerics.Uniform(4, n * co * h * w);
        var y = new float[n * co * h * w];
        var gx = new float[x.Length];
        var gw = new float[wt.Length];
        var transposed = new float[conv.TransposedLength];
        var partials = new float[conv.WeightGradientScratch(n)];
        fixed (float* px = x, pw = wt, pb = b, pgy = gy, py = y, pgx = gx, pgw = gw, pt = transposed, pp = partials)
        {
            conv.Forward(n, h, w, px, pw, pb, py);
            conv.InputGradient(n, h, w, pw, pgy, pgx, pt);
            conv.WeightGradient(n, h, w, px, pgy, pgw, pp);
        }
        return [.. y, .. gx, .. gw];
    }

    [Theory]
    [InlineData(SimdWidth.V512)]
    [InlineData(SimdWidth.V256)]
    [InlineData(SimdWidth.Scalar)]
    public void OneAndTwoThreadsGiveBitIdenticalResults(SimdWidth simd)
    {
        var one = Run(simd, 1);
        Assert.True(one.All(float.IsFinite));
        Assert.Contains(one, v => v != 0f);
        Assert.Equal(one, Run(simd, 2));
    }

    [Fact]
    public void PaddingOfAKernelOrMoreIsRefused()
    {
        Assert.False(HostNarrowConv.Supports(3, 3, 3, 1));
        Assert.True(HostNarrowConv.Supports(3, 3, 2, 2));
        Assert.Throws<ArgumentException>(() => new HostNarrowConv(2, 1, 2, 2, 2, 2, SimdWidth.Scalar, HostLauncher.Shared));
    }
}
