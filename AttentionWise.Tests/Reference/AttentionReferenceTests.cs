using AttentionWise.Tests.Infrastructure;

namespace AttentionWise.Tests.Reference;

/// <summary>The attention-heads reference: a hand-computed example, and its backward against central
/// finite differences of L = Σ Z ⊙ gZ (in the same batchnorm mode as the forward).</summary>
public class AttentionReferenceTests
{
    [Fact]
    public void HeadOutputOnA2x2ExampleEqualsTheFormulaByHand()
    {
        // X = [[1, 2], [1, 1]]; Wx puts ln 3 at (0, 1), Wy at (1, 0): row 0 softmax [1/4, 3/4], row 1 [1/2, 1/2];
        // column 0 softmax [1/4, 3/4], column 1 [1/2, 1/2]; R = [[1/16, 3/8], [3/8, 1/4]], mean 17/64,
        // deviations [[-13, 7], [7, -1]]/64, biased variance 268/16384.
        var s = new HeadsShape(1, 1, 1, 2, 2);
        double ln3 = Math.Log(3);
        double[] x = [1, 2, 1, 1];
        double[] wx = [0, ln3 / 2, 0, 0];
        double[] wy = [0, 0, ln3, 0];
        var f = AttentionReference.HeadsForward(s, x, wx, wy, null, null, true, [0], [1]);
        Numerics.AssertClose(f.Ox, [0.25, 0.75, 0.5, 0.5], 1e-15, 0, "Ox");
        Numerics.AssertClose(f.Oy, [0.25, 0.5, 0.75, 0.5], 1e-15, 0, "Oy");
        Numerics.AssertClose(f.R, [1.0 / 16, 3.0 / 8, 3.0 / 8, 1.0 / 4], 1e-15, 0, "R");
        double inv = 1 / Math.Sqrt(268.0 / 16384 + 1e-5);
        Numerics.AssertClose(f.Z, [1 * -13.0 / 64 * inv, 2 * 7.0 / 64 * inv, 1 * 7.0 / 64 * inv, 1 * -1.0 / 64 * inv], 1e-14, 0, "Z");
    }

    [Theory]
    [InlineData(true, true)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public void HeadsBackwardMatchesFiniteDifferences(bool training, bool bias)
    {
        var s = new HeadsShape(3, 2, 2, 3, 4);
        var x = Numerics.ToDouble(Numerics.Uniform(1, s.InputLength, -1.5f, 1.5f));
        var wx = Numerics.ToDouble(Numerics.Uniform(2, s.WeightLength, -1.5f, 1.5f));
        var wy = Numerics.ToDouble(Numerics.Uniform(3, s.WeightLength, -1.5f, 1.5f));
        var bx = bias ? Numerics.ToDouble(Numerics.Uniform(4, s.WeightLength, -0.5f, 0.5f)) : null;
        var by = bias ? Numerics.ToDouble(Numerics.Uniform(5, s.WeightLength, -0.5f, 0.5f)) : null;
        var gz = Numerics.ToDouble(Numerics.Uniform(6, s.OutputLength));
        var rm = Numerics.ToDouble(Numerics.Uniform(7, s.Q, 0.05f, 0.2f));
        var rv = Numerics.ToDouble(Numerics.Uniform(8, s.Q, 0.001f, 0.01f));

        double L(double[] xv, double[] wxv, double[] wyv, double[]? bxv, double[]? byv) =>
            Numerics.Dot(AttentionReference.HeadsForward(s, xv, wxv, wyv, bxv, byv, training, rm, rv).Z, gz);

        var f = AttentionReference.HeadsForward(s, x, wx, wy, bx, by, training, rm, rv);
        var (gx, gwx, gwy, gbx, gby) = AttentionReference.HeadsBackward(s, f, x, wx, wy, gz, training);
        const double atol = 1e-6, rtol = 1e-5;
        Numerics.AssertClose(gx, Numerics.NumericGradient(v => L(v, wx, wy, bx, by), x), atol, rtol, "dL/dx");
        Numerics.AssertClose(gwx, Numerics.NumericGradient(v => L(x, v, wy, bx, by), wx), atol, rtol, "dL/dWx");
        Numerics.AssertClose(gwy, Numerics.NumericGradient(v => L(x, wx, v, bx, by), wy), atol, rtol, "dL/dWy");
        if (bias)
        {
            Numerics.AssertClose(gbx, Numerics.NumericGradient(v => L(x, wx, wy, v, by), bx!), atol, rtol, "dL/dBx");
            Numerics.AssertClose(gby, Numerics.NumericGradient(v => L(x, wx, wy, bx, v), by!), atol, rtol, "dL/dBy");
        }
        // The check must be able to fail: the gradients are not all tiny.
        Assert.True(gwx.Max(Math.Abs) > 1e-3 && gwy.Max(Math.Abs) > 1e-3 && gx.Max(Math.Abs) > 1e-3);
    }

    [Fact]
    public void TrainingModeBatchnormCouplesTheImagesOfABatch()
    {
        // With batch statistics, changing image 0 changes image 1's output; with running statistics it does not.
        var s = new HeadsShape(2, 1, 1, 3, 3);
        var x = Numerics.ToDouble(Numerics.Uniform(11, s.InputLength));
        var wx = Numerics.ToDouble(Numerics.Uniform(12, s.WeightLength));
        var wy = Numerics.ToDouble(Numerics.Uniform(13, s.WeightLength));
        var x2 = (double[])x.Clone();
        x2[0] += 0.5;
        foreach (bool training in new[] { true, false })
        {
            var a = AttentionReference.HeadsForward(s, x, wx, wy, null, null, training, [0.1], [0.01]).Z;
            var b = AttentionReference.HeadsForward(s, x2, wx, wy, null, null, training, [0.1], [0.01]).Z;
            double change = Enumerable.Range(9, 9).Max(e => Math.Abs(a[e] - b[e]));
            if (training)
                Assert.True(change > 1e-6, $"image 1 changed by {change}");
            else
                Assert.Equal(0, change);
        }
    }
}
