using System.Globalization;
using System.Text;

namespace AttentionWise.Tests.Infrastructure;

/// <summary>Comparisons of device results with float64 references, and seeded test data.</summary>
public static class Numerics
{
    /// <summary>
    /// Passes when |a − r| ≤ atol + rtol·|r| for every element (NaN in a fails). On failure the message
    /// gives the number of mismatches, the largest difference and the first mismatching indices
    /// (as multi-indices when a shape is given).
    /// </summary>
    public static void AssertClose(ReadOnlySpan<float> actual, ReadOnlySpan<double> reference, double atol, double rtol, string what, Shape? shape = null)
    {
        Assert.True(actual.Length == reference.Length, $"{what}: {actual.Length} values against a reference of {reference.Length}.");
        int bad = 0;
        int worst = -1;
        double worstExcess = double.NegativeInfinity;
        var first = new List<int>();
        for (int i = 0; i < actual.Length; i++)
        {
            double a = actual[i], r = reference[i];
            double allowed = atol + rtol * Math.Abs(r);
            double diff = Math.Abs(a - r);
            bool ok = diff <= allowed;
            if (double.IsNaN(a) || double.IsNaN(r))
            {
                ok = false;
                diff = double.PositiveInfinity;
            }
            if (ok)
                continue;
            bad++;
            if (first.Count < 5)
                first.Add(i);
            double excess = diff - allowed;
            if (excess > worstExcess || worst < 0)
            {
                worstExcess = excess;
                worst = i;
            }
        }
        if (bad == 0)
            return;
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"{what}: {bad} of {actual.Length} elements outside atol {atol:G3} + rtol {rtol:G3}·|ref|. ");
        sb.Append(CultureInfo.InvariantCulture,
            $"Largest difference at {Where(worst, shape)}: got {actual[worst]:G9}, reference {reference[worst]:G9}. ");
        sb.Append("First mismatches: ");
        for (int k = 0; k < first.Count; k++)
        {
            int i = first[k];
            sb.Append(CultureInfo.InvariantCulture, $"{(k > 0 ? ", " : "")}{Where(i, shape)} (got {actual[i]:G6}, ref {reference[i]:G6})");
        }
        Assert.Fail(sb.ToString());
    }

    public static void AssertClose(ReadOnlySpan<float> actual, ReadOnlySpan<float> reference, double atol, double rtol, string what, Shape? shape = null)
    {
        var r = new double[reference.Length];
        for (int i = 0; i < r.Length; i++)
            r[i] = reference[i];
        AssertClose(actual, r, atol, rtol, what, shape);
    }

    /// <summary>Formats a flat index as [n, c, h, w] for a shape.</summary>
    public static string Where(int flat, Shape? shape)
    {
        if (shape is null || shape.Rank == 0)
            return $"[{flat}]";
        var idx = new int[shape.Rank];
        int rest = flat;
        for (int d = shape.Rank - 1; d >= 0; d--)
        {
            idx[d] = shape[d] == 0 ? 0 : rest % shape[d];
            rest = shape[d] == 0 ? 0 : rest / shape[d];
        }
        return "[" + string.Join(", ", idx) + "]";
    }

    /// <summary>Seeded uniform values in [lo, hi).</summary>
    public static float[] Uniform(int seed, int length, float lo = -1f, float hi = 1f)
    {
        var rng = new Random(seed);
        var a = new float[length];
        for (int i = 0; i < length; i++)
            a[i] = lo + (hi - lo) * (float)rng.NextDouble();
        return a;
    }

    /// <summary>Seeded uniform values whose magnitude is at least <paramref name="gap"/> (away from kinks at 0).</summary>
    public static float[] UniformAwayFromZero(int seed, int length, float gap = 0.05f, float max = 1f)
    {
        var rng = new Random(seed);
        var a = new float[length];
        for (int i = 0; i < length; i++)
        {
            float m = gap + (max - gap) * (float)rng.NextDouble();
            a[i] = rng.Next(2) == 0 ? -m : m;
        }
        return a;
    }

    public static double[] ToDouble(float[] a) => Array.ConvertAll(a, v => (double)v);

    /// <summary>Fills a tensor with NaN so that an element a kernel forgets to write fails the comparison.</summary>
    public static void Poison(DeviceTensor t) => Elementwise.Fill(t, float.NaN);

    /// <summary>
    /// Central finite differences of a scalar function: g[i] ≈ (f(x + h·e_i) − f(x − h·e_i)) / 2h.
    /// </summary>
    public static double[] NumericGradient(Func<double[], double> f, double[] x, double h = 1e-6)
    {
        var g = new double[x.Length];
        var probe = (double[])x.Clone();
        for (int i = 0; i < x.Length; i++)
        {
            double keep = probe[i];
            probe[i] = keep + h;
            double up = f(probe);
            probe[i] = keep - h;
            double down = f(probe);
            probe[i] = keep;
            g[i] = (up - down) / (2 * h);
        }
        return g;
    }

    /// <summary>Σ a ⊙ b: the scalar L = Σ out ⊙ gOut whose gradient is the backward of gOut.</summary>
    public static double Dot(double[] a, double[] b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++)
            s += a[i] * b[i];
        return s;
    }

    /// <summary>Asserts two float64 arrays agree within atol + rtol·|expected|.</summary>
    public static void AssertClose(double[] actual, double[] expected, double atol, double rtol, string what)
    {
        Assert.True(actual.Length == expected.Length, $"{what}: length {actual.Length} against {expected.Length}.");
        for (int i = 0; i < actual.Length; i++)
        {
            double allowed = atol + rtol * Math.Abs(expected[i]);
            if (!(Math.Abs(actual[i] - expected[i]) <= allowed))
                Assert.Fail(string.Create(CultureInfo.InvariantCulture, $"{what}: element [{i}] is {actual[i]:G12}, expected {expected[i]:G12} (allowed {allowed:G3}); {actual.Length} elements."));
        }
    }
}
