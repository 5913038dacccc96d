using AttentionWise.Tests.Infrastructure;

namespace AttentionWise.Tests.Reference;

/// <summary>The float64 references' backward passes of the core layers against central finite differences of
/// L = Σ out ⊙ gOut (and of the loss itself).</summary>
public class LayerReferenceTests
{
    private static double[] Data(int seed, int length) => Numerics.ToDouble(Numerics.Uniform(seed, length));

    public static TheoryData<int[]> ConvCases => new()
    {
        // N, Ci, Co, H, W, KH, KW, SY, SX, PY, PX
        new[] { 2, 3, 2, 5, 7, 3, 3, 1, 1, 1, 1 },
        new[] { 1, 2, 3, 6, 5, 2, 2, 2, 2, 0, 0 },
        new[] { 2, 2, 3, 5, 7, 3, 2, 2, 1, 2, 1 },
        new[] { 1, 1, 2, 4, 6, 1, 3, 1, 2, 0, 2 },
    };

    [Theory]
    [MemberData(nameof(ConvCases))]
    public void Conv2dBackwardMatchesFiniteDifferences(int[] c)
    {
        var (n, ci, co, h, w, kh, kw, sy, sx, py, px) = (c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9], c[10]);
        var r = new Conv2dReference(n, ci, co, h, w, kh, kw, sy, sx, py, px);
        var x = Data(1, r.InputLength);
        var wt = Data(2, r.WeightLength);
        var b = Data(3, co);
        var gy = Data(4, r.OutputLength);
        var (gx, gw, gb) = r.Backward(x, wt, gy);
        Numerics.AssertClose(gx, Numerics.NumericGradient(v => Numerics.Dot(r.Forward(v, wt, b), gy), x), 1e-7, 1e-6, "conv d/dx");
        Numerics.AssertClose(gw, Numerics.NumericGradient(v => Numerics.Dot(r.Forward(x, v, b), gy), wt), 1e-7, 1e-6, "conv d/dw");
        Numerics.AssertClose(gb, Numerics.NumericGradient(v => Numerics.Dot(r.Forward(x, wt, v), gy), b), 1e-7, 1e-6, "conv d/db");
        Assert.Contains(gx, v => Math.Abs(v) > 1e-3);
    }

    [Fact]
    public void Conv2dForwardMatchesAHandComputedValue()
    {
        // 1 image, 1 channel, 3×3 input, 2×2 kernel, stride 1, padding 1: the corner output sees only x[0,0]·w[1,1].
        var r = new Conv2dReference(1, 1, 1, 3, 3, 2, 2, 1, 1, 1, 1);
        var x = new double[] { 1, 2, 3, 4, 5, 6, 7, 8, 9 };
        var w = new double[] { 1, 10, 100, 1000 };
        var y = r.Forward(x, w, new[] { 0.5 });
        Assert.Equal(4 * 4, y.Length);
        Assert.Equal(1000 * 1 + 0.5, y[0]);
        // y[1,1] = 1·1 + 10·2 + 100·4 + 1000·5
        Assert.Equal(1 + 20 + 400 + 5000 + 0.5, y[5]);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void BatchNormTrainBackwardMatchesFiniteDifferences(bool affine)
    {
        int n = 3, c = 2, s = 5;
        var x = Data(5, n * c * s);
        var gy = Data(6, x.Length);
        double[]? gamma = affine ? Data(7, c) : null;
        double[]? beta = affine ? Data(8, c) : null;
        const double eps = 1e-5;
        var (gx, gg, gb) = BatchNorm2dReference.BackwardTrain(x, gy, n, c, s, gamma, eps);
        Numerics.AssertClose(gx, Numerics.NumericGradient(v => Numerics.Dot(BatchNorm2dReference.ForwardTrain(v, n, c, s, gamma, beta, eps).Y, gy), x), 1e-6, 1e-5, "bn d/dx");
        if (affine)
        {
            Numerics.AssertClose(gg, Numerics.NumericGradient(v => Numerics.Dot(BatchNorm2dReference.ForwardTrain(x, n, c, s, v, beta, eps).Y, gy), gamma!), 1e-6, 1e-5, "bn d/dgamma");
            Numerics.AssertClose(gb, Numerics.NumericGradient(v => Numerics.Dot(BatchNorm2dReference.ForwardTrain(x, n, c, s, gamma, v, eps).Y, gy), beta!), 1e-6, 1e-5, "bn d/dbeta");
        }
    }

    [Fact]
    public void BatchNormEvalBackwardMatchesFiniteDifferences()
    {
        int n = 2, c = 3, s = 4;
        var x = Data(9, n * c * s);
        var gy = Data(10, x.Length);
        var gamma = Data(11, c);
        var beta = Data(12, c);
        var mean = Data(13, c);
        var variance = Array.ConvertAll(Data(14, c), v => 0.5 + v * v);
        const double eps = 1e-5;
        var (gx, gg, gb) = BatchNorm2dReference.BackwardEval(x, gy, n, c, s, mean, variance, gamma, eps);
        Numerics.AssertClose(gx, Numerics.NumericGradient(v => Numerics.Dot(BatchNorm2dReference.Normalize(v, n, c, s, mean, variance, gamma, beta, eps), gy), x), 1e-7, 1e-6, "bn eval d/dx");
        Numerics.AssertClose(gg, Numerics.NumericGradient(v => Numerics.Dot(BatchNorm2dReference.Normalize(x, n, c, s, mean, variance, v, beta, eps), gy), gamma), 1e-7, 1e-6, "bn eval d/dgamma");
        Numerics.AssertClose(gb, Numerics.NumericGradient(v => Numerics.Dot(BatchNorm2dReference.Normalize(x, n, c, s, mean, variance, gamma, v, eps), gy), beta), 1e-7, 1e-6, "bn eval d/dbeta");
    }

    [Fact]
    public void BatchNormForwardNormalisesEachChannel()
    {
        int n = 4, c = 2, s = 3;
        var x = Array.ConvertAll(Data(15, n * c * s), v => 5 + 3 * v);
        var (y, mean, _) = BatchNorm2dReference.ForwardTrain(x, n, c, s, null, null, 0);
        for (int ch = 0; ch < c; ch++)
        {
            double m = 0, q = 0;
            for (int i = 0; i < n; i++)
                for (int e = 0; e < s; e++)
                {
                    double v = y[(i * c + ch) * s + e];
                    m += v;
                    q += v * v;
                }
            Assert.Equal(0, m / (n * s), 10);
            Assert.Equal(1, q / (n * s), 10);
            Assert.InRange(mean[ch], 3, 7);
        }
    }

    [Fact]
    public void LinearBackwardMatchesFiniteDifferences()
    {
        int n = 3, inF = 7, outF = 5;
        var x = Data(16, n * inF);
        var w = Data(17, outF * inF);
        var b = Data(18, outF);
        var gy = Data(19, n * outF);
        var (gx, gw, gb) = LinearReference.Backward(x, w, gy, n, inF, outF);
        Numerics.AssertClose(gx, Numerics.NumericGradient(v => Numerics.Dot(LinearReference.Forward(v, w, b, n, inF, outF), gy), x), 1e-7, 1e-6, "linear d/dx");
        Numerics.AssertClose(gw, Numerics.NumericGradient(v => Numerics.Dot(LinearReference.Forward(x, v, b, n, inF, outF), gy), w), 1e-7, 1e-6, "linear d/dw");
        Numerics.AssertClose(gb, Numerics.NumericGradient(v => Numerics.Dot(LinearReference.Forward(x, w, v, n, inF, outF), gy), b), 1e-7, 1e-6, "linear d/db");
    }

    [Fact]
    public void LossBackwardMatchesFiniteDifferences()
    {
        int n = 4, k = 5;
        var logits = Array.ConvertAll(Data(20, n * k), v => 3 * v);
        var labels = new[] { 0, 4, 2, 2 };
        var g = LossReference.Backward(logits, labels, n, k);
        Numerics.AssertClose(g, Numerics.NumericGradient(v => LossReference.Forward(v, labels, n, k).Loss, logits), 1e-8, 1e-6, "loss d/dlogits");
    }

    [Fact]
    public void LossOfUniformLogitsIsLogK()
    {
        var (loss, _) = LossReference.Forward(new double[3 * 10], new[] { 1, 2, 3 }, 3, 10);
        Assert.Equal(Math.Log(10), loss, 12);
    }

    [Fact]
    public void AdamFirstStepMovesEachWeightByTheLearningRateAgainstItsGradientSign()
    {
        // After one step m̂ = g and v̂ = g², so the update is lr·g/(|g| + eps) ≈ lr·sign(g).
        var p = new double[] { 1, -2, 3 };
        var g = new double[] { 0.5, -0.25, 2 };
        var adam = new AdamReference(3, lr: 0.01);
        adam.Step(p, g);
        Assert.Equal(1 - 0.01, p[0], 9);
        Assert.Equal(-2 + 0.01, p[1], 9);
        Assert.Equal(3 - 0.01, p[2], 9);
    }
}
