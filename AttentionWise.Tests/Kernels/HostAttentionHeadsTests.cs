using AttentionWise.Backends;
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
        var state = new float[heads.StateFloats(n)];
        Array.Fill(state, float.NaN);   // the passes need no initial values
        fixed (float* pstate = state, px = x, pwx = wx, pwy = wy, pbx = bx, pby = by, pgz = gz, pgs = gs, pz = z, pgx = gx, pgwx = gwx, pgwy = gwy, pgbx = gbx,
            pgby = gby, prm = rm, prv = rv, poxy = oxy)
        {
            heads.Forward(n, px, pwx, pwy, bias ? pbx : null, bias ? pby : null, pz, prm, prv, true, 0.1f, 1e-5f, pstate);
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

/// <summary>The vector exp of the host passes (<see cref="FastExp"/>) against Math.Exp, and at its edges.</summary>
public sealed class FastExpTests
{
    private static float[] Of256(float[] x) =>
        [.. Enumerable.Range(0, x.Length / 8).SelectMany(i => { var v = FastExp.Of(System.Runtime.Intrinsics.Vector256.Create(x, i * 8)); return Enumerable.Range(0, 8).Select(l => v[l]); })];

    private static float[] Of512(float[] x) =>
        [.. Enumerable.Range(0, x.Length / 16).SelectMany(i => { var v = FastExp.Of(System.Runtime.Intrinsics.Vector512.Create(x, i * 16)); return Enumerable.Range(0, 16).Select(l => v[l]); })];

    [Fact]
    public void WithinThreeUlpOfMathExpFromMinus87To88Point3()
    {
        // The clamp is at 88.376, past which the result stays exp(88.376).
        var x = Enumerable.Range(0, 17536).Select(i => -87f + i * 0.01f).ToArray();
        foreach (var (name, y) in new[] { ("Vector256", Of256(x)), ("Vector512", Of512(x)) })
        {
            for (int i = 0; i < x.Length; i++)
            {
                double exact = Math.Exp(x[i]);
                Assert.True(Math.Abs(y[i] - exact) <= 3 * Math.ScaleB(1.0, Math.ILogB(exact) - 23), $"{name}: exp({x[i]}) = {y[i]}, exactly {exact}");
            }
        }
    }

    [Fact]
    public void EdgesGiveZeroOneAndNaN()
    {
        var x = new float[16];
        x[0] = float.NegativeInfinity;
        x[1] = float.NaN;
        x[2] = 0f;
        x[3] = -200f;
        x[4] = 60f;
        foreach (var (name, y) in new[] { ("Vector256", Of256(x)), ("Vector512", Of512(x)) })
        {
            Assert.True(y[0] == 0f, $"{name}: exp(-inf) = {y[0]}");
            Assert.True(float.IsNaN(y[1]), $"{name}: exp(NaN) = {y[1]}");
            Assert.True(y[2] == 1f, $"{name}: exp(0) = {y[2]}");
            Assert.True(y[3] == 0f, $"{name}: exp(-200) = {y[3]}");
            Assert.True(Math.Abs(y[4] / Math.Exp(60) - 1) < 1e-6, $"{name}: exp(60) = {y[4]}");
        }
    }
}
