using System.Globalization;
using AttentionWise.Tests.Infrastructure;

namespace AttentionWise.Tests.Kernels;

/// <summary>
/// Compiler canaries (see CanaryKernels.cs): each construct the kernels rely on, run on the device and
/// compared with the same C# function run on the host. On the CPU accelerator ILGPU runs the kernels' IL, so
/// these pass by construction there; on OpenCL and CUDA they test ILGPU's compiler and the driver.
/// </summary>
public abstract class CompilerCanarySuite : DeviceTest
{
    private CanaryKernelSet K => Device.Kernels<CanaryKernelSet>();

    private static float[] AsFloats(IEnumerable<int> values) => values.Select(v => (float)v).ToArray();

    private static string Join<T>(IEnumerable<T> values) =>
        string.Join(", ", values.Select(v => string.Format(CultureInfo.InvariantCulture, "{0}", v)));

    /// <summary>Fails listing the first mismatches when two equally long results differ under <paramref name="same"/>.</summary>
    private static void AssertAll(float[] got, float[] want, Func<int, string> describe, Func<float, float, bool> same, string what)
    {
        Assert.Equal(want.Length, got.Length);
        var bad = Enumerable.Range(0, got.Length).Where(i => !same(got[i], want[i])).ToList();
        if (bad.Count == 0)
            return;
        var first = bad.Take(8).Select(i => string.Create(CultureInfo.InvariantCulture,
            $"{describe(i)}: device {got[i]:R}, host {want[i]:R}"));
        Assert.Fail($"{what}: {bad.Count} of {got.Length} results differ from the host's. {string.Join("; ", first)}");
    }

    private static bool Exactly(float a, float b) => a.Equals(b); // NaN equals NaN here; +0 and −0 differ

    // ---- Nested selects of constants ----

    [Fact]
    public void SelectsOfConstantsInTheFormsTheKernelsUseMatchTheHost()
    {
        const int n = 7;
        int[] xs = [.. Enumerable.Range(0, n)]; // a tile starts inside its row: x < n
        using var dx = Device.Upload(Shape.Of(n), AsFloats(xs));
        using var dy = Device.Allocate(Shape.Of(CanaryKernels.SafeSelectCount * n));
        Numerics.Poison(dy);
        K.Safe(n, dx.View, dy.View, n);
        var want = new float[CanaryKernels.SafeSelectCount * n];
        for (int form = 0; form < CanaryKernels.SafeSelectCount; form++)
            for (int i = 0; i < n; i++)
                want[form * n + i] = CanaryKernels.SafeSelect(form, xs[i], n, 3);
        AssertAll(dy.Download(), want, k => $"form {k / n}, x = {xs[k % n]}, n = {n}", Exactly, "Selects of constants");
    }

    /// <summary>
    /// Reports, without failing, whether this device still gets <c>c1 ? 2 : c2 ? 1 : 0</c> wrong (ILGPU 1.5.3
    /// compiles it as <c>(c1 | c2) ? 1 : 0</c> for OpenCL and PTX, docs/ilgpu-bugs.md): the test passes when the
    /// result is right, is skipped with that message when it is exactly the known miscompile, and fails on any
    /// other result. No kernel of the project uses this form.
    /// </summary>
    [Fact]
    public void NaiveNestedSelectIsRightOrTheKnownIlgpuMiscompile()
    {
        const int n = 5;
        int[] xs = [.. Enumerable.Range(-2, n + 5)];
        using var dx = Device.Upload(Shape.Of(xs.Length), AsFloats(xs));
        using var dy = Device.Allocate(Shape.Of(xs.Length));
        Numerics.Poison(dy);
        K.Naive(xs.Length, dx.View, dy.View, n);
        var got = dy.Download();
        var right = AsFloats(xs.Select(x => CanaryKernels.NaiveSelect(x, n, 3)));
        if (got.SequenceEqual(right))
            return;
        var known = AsFloats(xs.Select(x => CanaryKernels.MiscompiledSelect(x, n, 3)));
        Assert.True(got.SequenceEqual(known),
            $"(x + 2 < {n} ? 2 : x + 1 < {n} ? 1 : 0) * 3 for x = [{Join(xs)}] gave [{Join(got)}]: neither the host's [{Join(right)}] " +
            $"nor ILGPU 1.5.3's known miscompile [{Join(known)}]. A new compiler error.");
        Assert.SkipWhen(true, $"ILGPU {typeof(ILGPU.Context).Assembly.GetName().Version?.ToString(3)} still miscompiles " +
            $"'(c1 ? 2 : c2 ? 1 : 0) * s' as '((c1 | c2) ? 1 : 0) * s' on this device (got [{Join(got)}], right is [{Join(right)}]); " +
            "see docs/ilgpu-bugs.md. The kernels use the workaround form, which SelectsOfConstantsInTheFormsTheKernelsUseMatchTheHost checks.");
    }

    // ---- Integer division and modulo ----

    [Fact]
    public void IntegerDivisionAndModuloOfNegativesTruncateAsOnTheHost()
    {
        int[] dividends = [.. Enumerable.Range(-17, 35), 1_000_003, -1_000_003, (1 << 24) - 1, -((1 << 24) - 1)];
        int[] divisors = [-1000, -7, -5, -4, -3, -2, -1, 1, 2, 3, 4, 5, 7, 1000];
        var pairs = (from a in dividends from b in divisors select (a, b)).ToArray();
        using var da = Device.Upload(Shape.Of(pairs.Length), AsFloats(pairs.Select(p => p.a)));
        using var db = Device.Upload(Shape.Of(pairs.Length), AsFloats(pairs.Select(p => p.b)));
        using var dy = Device.Allocate(Shape.Of(2 * pairs.Length));
        Numerics.Poison(dy);
        K.DivMod(pairs.Length, da.View, db.View, dy.View);
        var want = pairs.SelectMany(p => new float[] { p.a / p.b, p.a % p.b }).ToArray();
        AssertAll(dy.Download(), want, k => $"{pairs[k / 2].a} {(k % 2 == 0 ? "/" : "%")} {pairs[k / 2].b}", Exactly, "Integer / and %");
    }

    // ---- XMath at extreme arguments ----

    private static readonly float[] Extremes =
    [
        0f, -0f, 1e-30f, 1e-10f, 0.5f, 1f, -1f, 2f, 10f, 20f, -20f, 30f, 87f, 88.5f, 89f, -87f, -88f, -104f,
        1e10f, -1e10f, 3e38f, -3e38f, float.MaxValue, float.PositiveInfinity, float.NegativeInfinity, float.NaN,
    ];

    private const float SmallestNormal = 1.17549435e-38f;

    /// <summary>
    /// Same class (NaN, ±∞, finite) and, for finite results, within 2e-6 relative (OpenCL allows exp, log and
    /// tanh a few ulp). Results below float's smallest normal count as zero either way: a device may flush
    /// subnormals, and no kernel relies on them. The sign of a zero is not compared.
    /// </summary>
    private static bool SameMath(float got, float want)
    {
        if (float.IsNaN(want) || float.IsNaN(got))
            return float.IsNaN(want) && float.IsNaN(got);
        if (float.IsInfinity(want) || float.IsInfinity(got))
            return got == want;
        if (MathF.Abs(want) < SmallestNormal && MathF.Abs(got) < SmallestNormal)
            return true;
        return MathF.Abs(got - want) <= 2e-6f * MathF.Abs(want);
    }

    [Fact]
    public void XMathAtExtremeArgumentsMatchesTheHost()
    {
        int len = Extremes.Length;
        using var dx = Device.Upload(Shape.Of(len), Extremes);
        using var dy = Device.Allocate(Shape.Of(CanaryKernels.MathFunctionCount * len));
        Numerics.Poison(dy);
        K.Maths(len, dx.View, dy.View, 0);
        var want = new float[CanaryKernels.MathFunctionCount * len];
        for (int f = 0; f < CanaryKernels.MathFunctionCount; f++)
            for (int i = 0; i < len; i++)
                want[f * len + i] = CanaryKernels.MathFunction(f, Extremes[i]);
        AssertAll(dy.Download(), want,
            k => string.Create(CultureInfo.InvariantCulture, $"{CanaryKernels.MathFunctionNames[k / len]}({Extremes[k % len]:R})"),
            SameMath, "XMath at extreme arguments");
    }

    // ---- Float Max and Min with NaN ----

    private static readonly float[] MaxMinValues = [float.NaN, float.NegativeInfinity, -1f, -1e-30f, -0f, 0f, 1e-30f, 1f, float.PositiveInfinity];

    private static (float a, float b)[] MaxMinPairs => [.. from a in MaxMinValues from b in MaxMinValues select (a, b)];

    private float[] RunMaxMin((float a, float b)[] pairs)
    {
        using var da = Device.Upload(Shape.Of(pairs.Length), pairs.Select(p => p.a).ToArray());
        using var db = Device.Upload(Shape.Of(pairs.Length), pairs.Select(p => p.b).ToArray());
        using var dy = Device.Allocate(Shape.Of(CanaryKernels.MaxMinOutputs * pairs.Length));
        Numerics.Poison(dy);
        K.MaxMin(pairs.Length, da.View, db.View, dy.View);
        return dy.Download();
    }

    private static readonly string[] MaxMinNames = ["XMath.Max", "XMath.Min", "ReluMask", "ReLU"];

    /// <summary>
    /// XMath.Max and Min of numbers (±∞ included), DiaKernels.ReluMask of numbers, and the ReLU form the kernels
    /// use where NaN must survive (x &lt; 0 ? 0 : x), also of NaN: the same as on the host on every device.
    /// ±0 compare equal: IEEE 754 leaves max(−0, +0) to the implementation.
    /// </summary>
    [Fact]
    public void FloatMaxMinOfNumbersAndTheNaNKeepingReluMatchTheHost()
    {
        var pairs = MaxMinPairs;
        var got = RunMaxMin(pairs);
        var want = pairs.SelectMany(p => new[]
        {
            ILGPU.Algorithms.XMath.Max(p.a, p.b), ILGPU.Algorithms.XMath.Min(p.a, p.b),
            AttentionWise.Kernels.DiaKernels.ReluMask(p.a), default(AttentionWise.Kernels.ReluOp).Apply(p.a, 0f),
        }).ToArray();
        int m = CanaryKernels.MaxMinOutputs;
        // Only the ReLU form is compared where an argument is NaN (see the next test for the rest).
        for (int k = 0; k < got.Length; k++)
        {
            var (a, b) = pairs[k / m];
            bool nan = k % m < 2 ? float.IsNaN(a) || float.IsNaN(b) : k % m == 2 && float.IsNaN(a);
            if (nan)
                got[k] = want[k];
        }
        AssertAll(got, want,
            k => string.Create(CultureInfo.InvariantCulture, $"{MaxMinNames[k % m]}({pairs[k / m].a}{(k % m < 2 ? $", {pairs[k / m].b}" : "")})"),
            (g, w) => float.IsNaN(g) ? float.IsNaN(w) : g == w, "Max/Min and ReLU forms");
    }

    /// <summary>
    /// Reports, without failing, whether XMath.Max and Min drop a NaN argument on this device. On the host (and so
    /// on ILGPU's CPU accelerator) they are Math.Max and Math.Min, which return NaN; ILGPU 1.5.3 compiles them to
    /// OpenCL's fmax/fmin (and PTX max/min), which return the other argument (docs/ilgpu-bugs.md). The test passes
    /// when the device gives the host's results, is skipped with that message when it gives exactly the
    /// NaN-dropping results, and fails on anything else. Kernels that must keep a NaN do not use XMath.Max/Min.
    /// </summary>
    [Fact]
    public void XMathMaxMinWithNaNIsTheHostsOrDropsTheNaN()
    {
        var pairs = MaxMinPairs.Where(p => float.IsNaN(p.a) || float.IsNaN(p.b)).ToArray();
        var all = RunMaxMin(pairs);
        int m = CanaryKernels.MaxMinOutputs;
        var got = Enumerable.Range(0, pairs.Length).SelectMany(i => new[] { all[m * i], all[m * i + 1] }).ToArray();
        var host = pairs.SelectMany(p => new[] { ILGPU.Algorithms.XMath.Max(p.a, p.b), ILGPU.Algorithms.XMath.Min(p.a, p.b) }).ToArray();
        static bool Same(float[] x, float[] y) => x.Zip(y).All(t => float.IsNaN(t.First) ? float.IsNaN(t.Second) : t.First == t.Second);
        if (Same(got, host))
            return;
        // fmax/fmin: the other argument when one is NaN, NaN when both are.
        var dropping = pairs.SelectMany(p => float.IsNaN(p.a) ? new[] { p.b, p.b } : new[] { p.a, p.a }).ToArray();
        Assert.True(Same(got, dropping),
            $"XMath.Max/Min with a NaN argument gave [{Join(got)}] for [{Join(pairs)}]: neither the host's [{Join(host)}] " +
            $"nor the NaN-dropping fmax/fmin results [{Join(dropping)}].");
        Assert.SkipWhen(true, $"XMath.Max/Min drop NaN arguments on this device (fmax/fmin semantics) while the host's return NaN; " +
            "see docs/ilgpu-bugs.md. Kernels that must keep a NaN use x < 0 ? 0 : x, which the test before checks.");
    }

    // ---- Loops with early exit ----

    [Fact]
    public void LoopsWithContinueBreakAndReturnMatchTheHost()
    {
        var x = Numerics.Uniform(41, 40, -0.5f, 1f);
        x[17] = float.NaN;
        x[30] = 5f;
        using var dx = Device.Upload(Shape.Of(x.Length), x);
        using var dy = Device.Allocate(Shape.Of(3 * x.Length));
        Numerics.Poison(dy);
        K.Scan(x.Length, dx.View, dy.View, 8);
        var want = new float[3 * x.Length];
        for (int i = 0; i < x.Length; i++)
        {
            var r = CanaryKernels.ScanUntil(new ArraySource(x), i, x.Length, 8 / 10f);
            want[3 * i] = r.Sum;
            want[3 * i + 1] = r.Steps;
            want[3 * i + 2] = r.Stop;
        }
        string[] parts = ["sum", "steps", "stop"];
        AssertAll(dy.Download(), want, k => $"scan from {k / 3}, {parts[k % 3]}", Exactly, "Early-exit loop");
    }

    // ---- Barrier loops in explicitly grouped kernels ----

    private float[] RunBarrierLoop(int groups, int x, int y, int trips)
    {
        using var dy = Device.Zeros(Shape.Of(groups * x * y));
        K.BarrierLoop(new ILGPU.KernelConfig(new ILGPU.Index2D(groups, 1), new ILGPU.Index2D(x, y)), dy.View, trips);
        return dy.Download();
    }

    /// <summary>The group shapes the GPU kernels use (at least two work items along X) run the code after a loop of
    /// barriers once per work item, whether the loop makes trips or none.</summary>
    [Fact]
    public void BarrierLoopsInTheGroupShapesTheKernelsUseRunEachWorkItemOnce()
    {
        int max = Device.Accelerator.MaxNumThreadsPerGroup;
        foreach (var (x, y) in new[] { (2, 1), (2, 3), (4, 4), (3, 5), (16, 1), (2, 8) })
        {
            if (x * y > max)
                continue;
            foreach (int trips in new[] { 0, 1, 3 })
            {
                var got = RunBarrierLoop(3, x, y, trips);
                Assert.True(got.All(v => v == 1f), $"group {x}×{y}, {trips} barrier trips: [{Join(got)}], every slot should be 1.");
            }
        }
    }

    /// <summary>
    /// PoCL 6.0 (the OpenCL CI device) runs the code after a barrier loop that makes no trip twice for work item (0, 0)
    /// of a group of 1 × (≥ 3) work items (docs/ilgpu-bugs.md, problem 3); the OpenCL C that ILGPU writes is right. The
    /// test passes where the device gets it right, is skipped with that message where it shows exactly that fault, and
    /// fails on anything else. The GPU kernels never launch groups with one work item along X.
    /// </summary>
    [Fact]
    public void ZeroTripBarrierLoopInAOneColumnGroupIsRightOrTheKnownPoclFault()
    {
        var got = RunBarrierLoop(2, 1, 3, 0);
        if (got.All(v => v == 1f))
            return;
        var known = new float[] { 2, 1, 1, 2, 1, 1 };
        Assert.True(got.SequenceEqual(known),
            $"Group 1×3, a loop of 0 barriers, then y[slot] += 1: got [{Join(got)}], neither all ones nor the known PoCL fault [{Join(known)}].");
        Assert.SkipWhen(true, $"This device runs work item (0, 0) of a 1×3 group twice after a barrier loop that makes no trip (got [{Join(got)}]); " +
            "see docs/ilgpu-bugs.md. The kernels' groups have at least two work items along X, which the test before checks.");
    }

    // ---- Structs passed by value ----

    [Fact]
    public void StructsPassedByValueMatchTheHost()
    {
        const int threads = 33;
        var p = new CanaryParams(7, 1.5f, -3, 0.25f, 11);
        using var dy = Device.Allocate(Shape.Of(CanaryKernels.StructOutputs * threads));
        Numerics.Poison(dy);
        K.Struct(threads, dy.View, p);
        var want = new float[CanaryKernels.StructOutputs * threads];
        for (int i = 0; i < threads; i++)
            for (int k = 0; k < CanaryKernels.StructOutputs; k++)
                want[CanaryKernels.StructOutputs * i + k] = CanaryKernels.StructValue(i, k, p);
        AssertAll(dy.Download(), want, k => $"thread {k / CanaryKernels.StructOutputs}, output {k % CanaryKernels.StructOutputs}", Exactly, "Struct by value");
    }
}

public sealed class CompilerCanaryCpuTests : CompilerCanarySuite
{
    protected override DeviceKind Kind => DeviceKind.Cpu;
}

public sealed class CompilerCanaryCpuSimTests : CompilerCanarySuite
{
    protected override DeviceKind Kind => DeviceKind.CpuSimulator;
}

public sealed class CompilerCanaryCudaTests : CompilerCanarySuite
{
    protected override DeviceKind Kind => DeviceKind.Cuda;
}

public sealed class CompilerCanaryOpenCLTests : CompilerCanarySuite
{
    protected override DeviceKind Kind => DeviceKind.OpenCL;
}
