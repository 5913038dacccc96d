using AttentionWise.Tests.Infrastructure;

namespace AttentionWise.Tests.Reference;

/// <summary>The float64 references' backward passes against central finite differences of L = Σ out ⊙ gOut.</summary>
public class ElementwiseReferenceTests
{
    [Fact]
    public void ReluBackwardMatchesFiniteDifferences()
    {
        var x = Numerics.ToDouble(Numerics.UniformAwayFromZero(1, 3 * 5 * 7));
        var gOut = Numerics.ToDouble(Numerics.Uniform(2, x.Length));
        var numeric = Numerics.NumericGradient(v => Numerics.Dot(ElementwiseReference.Relu(v), gOut), x);
        Numerics.AssertClose(ElementwiseReference.ReluBackward(x, gOut), numeric, 1e-7, 1e-6, "ReLU backward");
        Assert.Contains(x, v => v < 0);
        Assert.Contains(x, v => v > 0);
    }

    [Fact]
    public void MultiplyBackwardMatchesFiniteDifferences()
    {
        var a = Numerics.ToDouble(Numerics.Uniform(3, 35));
        var b = Numerics.ToDouble(Numerics.Uniform(4, 35));
        var gOut = Numerics.ToDouble(Numerics.Uniform(5, 35));
        var (ga, gb) = ElementwiseReference.MultiplyBackward(a, b, gOut);
        Numerics.AssertClose(ga, Numerics.NumericGradient(v => Numerics.Dot(ElementwiseReference.Multiply(v, b), gOut), a), 1e-7, 1e-6, "d/da");
        Numerics.AssertClose(gb, Numerics.NumericGradient(v => Numerics.Dot(ElementwiseReference.Multiply(a, v), gOut), b), 1e-7, 1e-6, "d/db");
    }
}
