using AttentionWise.Tests.Infrastructure;

namespace AttentionWise.Tests.Reference;

/// <summary>The DIA reference's backward passes (cell step, and a stage with its chain of states) against
/// central finite differences of L = Σ out ⊙ gOut.</summary>
public class DiaReferenceTests
{
    private const double Atol = 1e-7, Rtol = 1e-5;

    internal static DiaParams RandomParams(int c, int r, int seed, float scale = 0.6f)
    {
        var p = new DiaParams(c, r);
        for (int i = 0; i < p.All.Length; i++)
        {
            var v = Numerics.ToDouble(Numerics.Uniform(seed + i, p.All[i].Length, -scale, scale));
            Array.Copy(v, p.All[i], v.Length);
        }
        return p;
    }

    [Fact]
    public void CellStepBackwardMatchesFiniteDifferences()
    {
        const int n = 3, c = 8, r = 2;
        var p = RandomParams(c, r, 10);
        var s = Numerics.ToDouble(Numerics.Uniform(1, n * c));
        var hPrev = Numerics.ToDouble(Numerics.Uniform(2, n * c, 0.05f, 0.95f));
        var cPrev = Numerics.ToDouble(Numerics.Uniform(3, n * c));
        var gh = Numerics.ToDouble(Numerics.Uniform(4, n * c));
        var gc = Numerics.ToDouble(Numerics.Uniform(5, n * c));
        double L(DiaParams q, double[] sv, double[] hv, double[] cv)
        {
            var k = DiaReference.Step(q, n, sv, hv, cv);
            return Numerics.Dot(k.H, gh) + Numerics.Dot(k.C, gc);
        }

        var grads = p.Zeros();
        var (gs, ghPrev, gcPrev) = DiaReference.StepBackward(p, n, DiaReference.Step(p, n, s, hPrev, cPrev), gh, gc, grads);
        Numerics.AssertClose(gs, Numerics.NumericGradient(v => L(p, v, hPrev, cPrev), s), Atol, Rtol, "dL/ds");
        Numerics.AssertClose(ghPrev, Numerics.NumericGradient(v => L(p, s, v, cPrev), hPrev), Atol, Rtol, "dL/dh_prev");
        Numerics.AssertClose(gcPrev, Numerics.NumericGradient(v => L(p, s, hPrev, v), cPrev), Atol, Rtol, "dL/dc_prev");
        for (int i = 0; i < p.All.Length; i++)
        {
            int index = i;
            Numerics.AssertClose(grads.All[i], Numerics.NumericGradient(v => L(p.With(index, v), s, hPrev, cPrev), p.All[i]), Atol, Rtol, $"dL/dparam{i}");
        }
        Assert.True(grads.Ih1W.Max(Math.Abs) > 1e-4 && grads.Hh1W.Max(Math.Abs) > 1e-4, "both branches' first layers get gradient");
    }

    [Fact]
    public void StageBackwardThroughTheChainOfStatesMatchesFiniteDifferences()
    {
        const int n = 2, c = 4, r = 2, plane = 6;
        var p = RandomParams(c, r, 20, scale: 0.9f);
        Array.Fill(p.Hh1B, 0.5); // keep the h-to-h branch's hidden units active
        IReferenceModule[] modules = [new ReferenceScale(1.5), new ReferenceScale(0.8), new ReferenceScale(1.2)];
        var x = Numerics.ToDouble(Numerics.UniformAwayFromZero(21, n * c * plane));
        var gOut = Numerics.ToDouble(Numerics.Uniform(22, n * c * plane));
        double L(DiaParams q, double[] xv) => Numerics.Dot(DiaReference.StageForward(q, n, modules, xv, _ => plane).Out, gOut);

        var (_, cache) = DiaReference.StageForward(p, n, modules, x, _ => plane);
        var grads = p.Zeros();
        var gx = DiaReference.StageBackward(p, n, modules, cache, gOut, _ => plane, grads);
        Numerics.AssertClose(gx, Numerics.NumericGradient(v => L(p, v), x), Atol, Rtol, "dL/dx");
        for (int i = 0; i < p.All.Length; i++)
        {
            int index = i;
            Numerics.AssertClose(grads.All[i], Numerics.NumericGradient(v => L(p.With(index, v), x), p.All[i]), Atol, Rtol, $"dL/dparam{i}");
        }
        // The h-to-h branch only matters through the chain (h starts at zero): its weight gradient must be non-zero.
        Assert.True(grads.Hh1W.Max(Math.Abs) > 1e-5);
    }

    [Fact]
    public void StageWithConvolutionsMatchesFiniteDifferences()
    {
        const int n = 2, ci = 2, c = 4, r = 2, h = 4, w = 4;
        var p = RandomParams(c, r, 30);
        var conv1 = new Conv2dReference(n, ci, c, h, w, 3, 3, 1, 1, 1, 1);
        var conv2 = new Conv2dReference(n, c, c, h, w, 2, 2, 2, 2, 0, 0);
        var w1 = Numerics.ToDouble(Numerics.Uniform(31, conv1.WeightLength, -0.5f, 0.5f));
        var b1 = Numerics.ToDouble(Numerics.Uniform(32, c, -0.2f, 0.2f));
        var w2 = Numerics.ToDouble(Numerics.Uniform(33, conv2.WeightLength, -0.5f, 0.5f));
        var x = Numerics.ToDouble(Numerics.Uniform(34, conv1.InputLength));
        var gOut = Numerics.ToDouble(Numerics.Uniform(35, conv2.OutputLength));
        int PlaneOf(int t) => t == 0 ? h * w : (h / 2) * (w / 2);
        double L(double[] xv, double[] w1v, double[] w2v)
        {
            IReferenceModule[] m = [new ReferenceConv(conv1, w1v, b1), new ReferenceConv(conv2, w2v, null)];
            return Numerics.Dot(DiaReference.StageForward(p, n, m, xv, PlaneOf).Out, gOut);
        }

        var c1 = new ReferenceConv(conv1, w1, b1);
        var c2 = new ReferenceConv(conv2, w2, null);
        IReferenceModule[] modules = [c1, c2];
        var (_, cache) = DiaReference.StageForward(p, n, modules, x, PlaneOf);
        var gx = DiaReference.StageBackward(p, n, modules, cache, gOut, PlaneOf, p.Zeros());
        Numerics.AssertClose(gx, Numerics.NumericGradient(v => L(v, w1, w2), x), Atol, Rtol, "dL/dx");
        Numerics.AssertClose(c1.GW, Numerics.NumericGradient(v => L(x, v, w2), w1), Atol, Rtol, "dL/dconv1.weight");
        Numerics.AssertClose(c2.GW, Numerics.NumericGradient(v => L(x, w1, v), w2), Atol, Rtol, "dL/dconv2.weight");
    }
}
