using AttentionWise.Tests.Infrastructure;

namespace AttentionWise.Tests.Reference;

/// <summary>The attention-layer reference (heads, conv, skip, post-conv batchnorm, ReLU) against central
/// finite differences of L = Σ out ⊙ gOut, in training mode like the code.</summary>
public class AttentionLayerReferenceTests
{
    internal static AttentionLayerParams RandomParams(HeadsShape s, bool bias, bool bn, int seed) => new(
        Numerics.ToDouble(Numerics.Uniform(seed, s.WeightLength, -1.5f, 1.5f)),
        Numerics.ToDouble(Numerics.Uniform(seed + 1, s.WeightLength, -1.5f, 1.5f)),
        bias ? Numerics.ToDouble(Numerics.Uniform(seed + 2, s.WeightLength, -0.5f, 0.5f)) : null,
        bias ? Numerics.ToDouble(Numerics.Uniform(seed + 3, s.WeightLength, -0.5f, 0.5f)) : null,
        Numerics.ToDouble(Numerics.Uniform(seed + 4, s.C * s.Q * 9, -0.5f, 0.5f)),
        Numerics.ToDouble(Numerics.Uniform(seed + 5, s.C, -0.2f, 0.2f)),
        bn ? Numerics.ToDouble(Numerics.Uniform(seed + 6, s.C, 0.5f, 1.5f)) : null,
        bn ? Numerics.ToDouble(Numerics.Uniform(seed + 7, s.C, -0.3f, 0.3f)) : null);

    [Theory]
    [InlineData(true, false, false)]
    [InlineData(true, true, false)]
    [InlineData(false, false, true)]
    [InlineData(true, true, true)]
    public void LayerBackwardMatchesFiniteDifferences(bool skip, bool bn, bool bias)
    {
        var s = new HeadsShape(3, 2, 2, 3, 4);
        var p = RandomParams(s, bias, bn, 40);
        var x = Numerics.ToDouble(Numerics.Uniform(50, s.InputLength));
        var gOut = Numerics.ToDouble(Numerics.Uniform(51, s.InputLength));
        double L(AttentionLayerParams q, double[] xv) => Numerics.Dot(AttentionLayerReference.Forward(s, q, xv, skip).Out, gOut);

        var cache = AttentionLayerReference.Forward(s, p, x, skip);
        var (gx, grads) = AttentionLayerReference.Backward(s, p, x, skip, cache, gOut);
        Assert.Contains(cache.PreRelu, v => v < 0);
        Assert.Contains(cache.PreRelu, v => v > 0);
        const double atol = 1e-6, rtol = 1e-5;
        Numerics.AssertClose(gx, Numerics.NumericGradient(v => L(p, v), x), atol, rtol, "dL/dx");
        for (int i = 0; i < p.All.Count; i++)
        {
            int index = i;
            Numerics.AssertClose(grads[i], Numerics.NumericGradient(v => L(p.With(index, v), x), p.All[i]), atol, rtol, $"dL/dparam{i}");
        }
    }
}
