using AttentionWise.Host;
using AttentionWise.Tests.Infrastructure;

namespace AttentionWise.Tests.Kernels;

/// <summary>The cpu device's vectorised attention heads (<see cref="HostAttentionHeads"/>) directly: results that do not
/// depend on the number of threads, at every vector width. (Their agreement with the float64 reference is tested
/// through the layer, in the AttentionHeadsCpu*Tests suites.)</summary>
public sealed unsafe class HostAttentionHeadsTests
{
    public static TheoryData<SimdWidth, bool> Widths() => new()
    {
        { SimdWidth.V512, false }, { SimdWidth.V512, true }, { SimdWidth.V256, true }, { SimdWidth.Scalar, true },
    };

    /// <summary>One forward and backward of 150 images of 28×28 (19 forward work items, 3 backward blocks, the last one
    /// partial) on <paramref name="threads"/> threads: Z, gX, the weight gradients and the running statistics.</summary>
    private static float[] Run(SimdWidth simd, bool bias, int threads)
    {
        const int n = 150, k = 3, c = 2, h = 28, w = 28;
        int plane = h * w, q = k * c;
        var x = Numerics.Uniform(1, n * c * plane, 0f, 1f);
        var wx = Numerics.Uniform(2, q * plane, -1f, 1f);
        var wy = Numerics.Uniform(3, q * plane, -1f, 1f);
        var bx = Numerics.Uniform(4, q * plane, -0.5f, 0.5f);
        var by = Numerics.Uniform(5, q * plane, -0.5f, 0.5f);
        var gz = Numerics.Uniform(6, n * q * plane);
        var gs = Numerics.Uniform(7, n * c * plane);
        var z = new float[n * q * plane];
        var gx = new float[x.Length];
        var gwx = new float[wx.Length];
        var gwy = new float[wy.Length];
        var gbx = new float[bx.Length];
        var gby = new float[by.Length];
        var rm = new float[q];
        var rv = Enumerable.Repeat(1f, q).ToArray();
        var oxy = new float[2 * z.Length];
        var launcher = new HostLauncher(threads);
        using var heads = new HostAttentionHeads(k, c, h, w, bias, simd, launcher);
        fixed (float* px = x, pwx = wx, pwy = wy, pbx = bx, pby = by, pgz = gz, pgs = gs, pz = z, pgx = gx, pgwx = gwx, pgwy = gwy, pgbx = gbx,
            pgby = gby, prm = rm, prv = rv, poxy = oxy)
        {
            heads.Forward(n, px, pwx, pwy, bias ? pbx : null, bias ? pby : null, pz, prm, prv, true, 0.1f, 1e-5f);
            heads.Backward(pgz, pgx, pgs, pgwx, pgwy, bias ? pgbx : null, bias ? pgby : null);
            heads.Softmaxes(poxy);
        }
        return [.. z, .. gx, .. gwx, .. gwy, .. gbx, .. gby, .. rm, .. rv, .. heads.Mean, .. heads.InvStd, .. oxy];
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void OneAndTwoThreadsGiveBitIdenticalResults(SimdWidth simd, bool bias)
    {
        var one = Run(simd, bias, 1);
        var two = Run(simd, bias, 2);
        Assert.True(one.All(float.IsFinite), "every result is finite");
        Assert.Equal(one, two);
    }

    [Fact]
    public void EveryWidthGivesTheSameResultsToFloatPrecision()
    {
        // The widths sum in different orders, so they agree to rounding, not bit for bit.
        var scalar = Run(SimdWidth.Scalar, true, 2);
        foreach (var simd in new[] { SimdWidth.V256, SimdWidth.V512 })
        {
            var other = Run(simd, true, 2);
            Numerics.AssertClose(other, Numerics.ToDouble(scalar), 1e-4, 1e-3, $"{simd} against scalar");
        }
    }

    [Fact]
    public void BackwardBeforeForwardIsAnError()
    {
        using var heads = new HostAttentionHeads(1, 1, 2, 2, false, SimdWidth.Scalar, HostLauncher.Shared);
        Assert.Throws<InvalidOperationException>(() => heads.Backward(null, null, null, null, null, null, null));
    }
}
