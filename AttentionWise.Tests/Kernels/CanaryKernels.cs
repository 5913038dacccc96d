// Compiler canaries: tiny kernels, one per construct the project's kernels rely on. Each kernel is a thin
// wrapper around a plain C# function (the "body") that the tests also call directly on the host, so that a
// device result that differs from the host's is a difference made by ILGPU's compiler (or the driver), not
// by the test. All inputs and outputs are float tensors; integers travel as floats (exact below 2^24).
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using AttentionWise.Kernels;

namespace AttentionWise.Tests.Kernels;

/// <summary>A read-only sequence of floats: a device view inside a kernel, an array on the host.</summary>
public interface IFloatSource
{
    float this[int index] { get; }
}

/// <summary>The device side of <see cref="IFloatSource"/>.</summary>
public readonly struct ViewSource : IFloatSource
{
    private readonly ArrayView<float> _view;

    public ViewSource(ArrayView<float> view) => _view = view;

    public float this[int index] => _view[index];
}

/// <summary>The host side of <see cref="IFloatSource"/>.</summary>
public readonly struct ArraySource : IFloatSource
{
    private readonly float[] _array;

    public ArraySource(float[] array) => _array = array;

    public float this[int index] => _array[index];
}

/// <summary>What <see cref="CanaryKernels.ScanUntil{T}"/> found. Returned by value.</summary>
public readonly struct ScanResult
{
    public ScanResult(float sum, int steps, int stop)
    {
        Sum = sum;
        Steps = steps;
        Stop = stop;
    }

    public readonly float Sum;
    public readonly int Steps;

    /// <summary>Where the scan stopped: the index of the value that ended it, −1 at the end, −2 after four values.</summary>
    public readonly int Stop;
}

/// <summary>Mixed int and float fields, an odd count, like the project's geometry and scalar structs. Passed by value.</summary>
public readonly struct CanaryParams
{
    public CanaryParams(int a, float b, int c, float d, int e)
    {
        A = a;
        B = b;
        C = c;
        D = d;
        E = e;
    }

    public readonly int A;
    public readonly float B;
    public readonly int C;
    public readonly float D;
    public readonly int E;

    public float Sum => A + B + C + D + E;
}

/// <summary>A mutable struct: a callee that changes its copy must leave the caller's alone.</summary>
public struct CanaryCounter
{
    public int Count;
    public float Total;
}

public static class CanaryKernels
{
    // ---- Nested selects of constants ----
    // Each form is used inside a larger expression (times s), as in the kernels: the bug below needs the select's
    // value to be merged on the evaluation stack; a select whose arms each end in `return` compiles correctly.

    /// <summary>The form ILGPU 1.5.3 miscompiles (docs/ilgpu-bugs.md): Roslyn compiles the inner <c>c2 ? 1 : 0</c>
    /// to the bare comparison, and ILGPU then gives the whole select the comparison's bool type, so the 2 becomes
    /// "true": the result is <c>((c1 | c2) ? 1 : 0) · s</c>. This was HostConvKernels.ForwardC4P3's column offset.</summary>
    public static int NaiveSelect(int x, int n, int s) => (x + 2 < n ? 2 : x + 1 < n ? 1 : 0) * s;

    /// <summary>What the naive form computes under the miscompile (for telling it apart from other errors).</summary>
    public static int MiscompiledSelect(int x, int n, int s) => (x + 2 < n || x + 1 < n ? 1 : 0) * s;

    /// <summary>Select forms the kernels use instead, or as well; <paramref name="form"/> picks one.</summary>
    public static int SafeSelect(int form, int x, int n, int s)
    {
        if (form == 0)
            return Math.Min(2, n - 1 - x) * s; // HostConvKernels.ForwardC4P3's column offset now (x < n)
        if (form == 1)
            return (x + 2 < n ? 7 : x + 1 < n ? 3 : 0) * s; // nested, no arm a 0/1 comparison
        if (form == 2)
            return (x + 1 < n ? 1 : 0) * s; // a lone 0/1 select (ForwardC4P2's column offset)
        if (form == 3)
            return (x + 2 < n ? 2 : 0) * s; // a lone select of one non-0/1 constant (the weight-gradient tiles)
        return (x + 2 < n ? (x + 1 < n ? 2 : 1) : 0) * s; // nested in the taken arm
    }

    public const int SafeSelectCount = 5;

    public static void Naive(Index1D i, ArrayView<float> x, ArrayView<float> y, int n) =>
        y[i] = NaiveSelect((int)x[i], n, 3);

    /// <summary>y[form·len + i] = SafeSelect(form, x[i], n, 3).</summary>
    public static void Safe(Index1D i, ArrayView<float> x, ArrayView<float> y, int n)
    {
        int len = (int)x.Length;
        int v = (int)x[i];
        for (int form = 0; form < SafeSelectCount; form++)
            y[form * len + i] = SafeSelect(form, v, n, 3);
    }

    // ---- Integer division and modulo (truncating, as C#) ----

    /// <summary>y[2i] = a[i] / b[i], y[2i + 1] = a[i] % b[i], on ints.</summary>
    public static void DivMod(Index1D i, ArrayView<float> a, ArrayView<float> b, ArrayView<float> y)
    {
        int p = (int)a[i], q = (int)b[i];
        y[2 * i] = p / q;
        y[2 * i + 1] = p % q;
    }

    // ---- XMath at extreme arguments ----

    /// <summary>The math the kernels call; <paramref name="f"/> picks the function.</summary>
    public static float MathFunction(int f, float x)
    {
        if (f == 0)
            return XMath.Exp(x);
        if (f == 1)
            return XMath.Log(x);
        if (f == 2)
            return XMath.Sqrt(x);
        if (f == 3)
            return XMath.Rsqrt(x);
        if (f == 4)
            return XMath.Tanh(x);
        if (f == 5)
            return XMath.Abs(x);
        return AttentionKernels.ExpOrOne(x); // the attention rows' exp: branches around XMath.Exp
    }

    public const int MathFunctionCount = 7;
    public static readonly string[] MathFunctionNames = ["Exp", "Log", "Sqrt", "Rsqrt", "Tanh", "Abs", "ExpOrOne"];

    /// <summary>y[f·len + i] = MathFunction(f, x[i]).</summary>
    public static void Maths(Index1D i, ArrayView<float> x, ArrayView<float> y, int unused)
    {
        int len = (int)x.Length;
        float v = x[i];
        for (int f = 0; f < MathFunctionCount; f++)
            y[f * len + i] = MathFunction(f, v);
    }

    // ---- Float Max and Min with NaN ----

    public const int MaxMinOutputs = 4;

    /// <summary>y[4i..4i + 3] = XMath.Max(a, b), XMath.Min(a, b), DiaKernels.ReluMask(a) (a product that
    /// overflows to +∞, then clamped) and the NaN-keeping ReLU form x &lt; 0 ? 0 : x.</summary>
    public static void MaxMin(Index1D i, ArrayView<float> a, ArrayView<float> b, ArrayView<float> y)
    {
        float p = a[i], q = b[i];
        y[MaxMinOutputs * i] = XMath.Max(p, q);
        y[MaxMinOutputs * i + 1] = XMath.Min(p, q);
        y[MaxMinOutputs * i + 2] = DiaKernels.ReluMask(p);
        y[MaxMinOutputs * i + 3] = default(ReluOp).Apply(p, 0f);
    }

    // ---- Loops with early exit ----

    /// <summary>From <paramref name="start"/>: skips negatives (continue), stops at a value above
    /// <paramref name="limit"/> or NaN (break), returns from inside the loop after four values.</summary>
    public static ScanResult ScanUntil<T>(T x, int start, int n, float limit) where T : struct, IFloatSource
    {
        float sum = 0f;
        int steps = 0;
        int stop = -1;
        for (int j = start; j < n; j++)
        {
            float v = x[j];
            if (v < 0f)
                continue;
            if (!(v <= limit))
            {
                stop = j;
                break;
            }
            sum += v;
            steps++;
            if (steps == 4)
                return new ScanResult(sum, steps, -2);
        }
        return new ScanResult(sum, steps, stop);
    }

    /// <summary>y[3i..3i + 2] = the scan from i: sum, steps, stop.</summary>
    public static void Scan(Index1D i, ArrayView<float> x, ArrayView<float> y, int limitTenths)
    {
        var r = ScanUntil(new ViewSource(x), i, (int)x.Length, limitTenths / 10f);
        y[3 * i] = r.Sum;
        y[3 * i + 1] = r.Steps;
        y[3 * i + 2] = r.Stop;
    }

    // ---- Structs passed by value ----

    private static CanaryCounter Bump(CanaryCounter c, float v)
    {
        c.Count++;
        c.Total += v;
        return c;
    }

    private static float Touch(CanaryCounter c)
    {
        c.Count += 100; // a change to the callee's copy only
        return c.Count;
    }

    /// <summary>Output k of thread i for the struct canary (k &lt; <see cref="StructOutputs"/>).</summary>
    public static float StructValue(int i, int k, CanaryParams p)
    {
        var c = new CanaryCounter { Count = p.A, Total = p.B };
        c = Bump(c, i);
        float touched = Touch(c);
        if (k == 0)
            return p.A + i;
        if (k == 1)
            return p.B * i;
        if (k == 2)
            return p.C - i;
        if (k == 3)
            return p.D + p.E;
        if (k == 4)
            return p.Sum;
        if (k == 5)
            return c.Count;
        if (k == 6)
            return c.Total;
        return touched - c.Count;
    }

    public const int StructOutputs = 8;

    /// <summary>y[8i + k] = StructValue(i, k, p).</summary>
    public static void Struct(Index1D i, ArrayView<float> y, CanaryParams p)
    {
        for (int k = 0; k < StructOutputs; k++)
            y[StructOutputs * i + k] = StructValue(i, k, p);
    }

    /// <summary>Explicitly grouped: a loop of <paramref name="trips"/> barriers (the shape of a tree reduction over a
    /// group dimension, which makes no trip when that dimension is 1), then every work item adds 1 to its own slot of
    /// y (zeroed before): each slot must end at 1.</summary>
    public static void BarrierLoop(ArrayView<float> y, int trips)
    {
        int slot = (Grid.IdxX * Group.DimY + Group.IdxY) * Group.DimX + Group.IdxX;
        for (int t = 0; t < trips; t++)
            Group.Barrier();
        y[slot] += 1f;
    }
}

/// <summary>The canary kernels, loaded once per accelerator.</summary>
public sealed class CanaryKernelSet : IKernelSet<CanaryKernelSet>
{
    private CanaryKernelSet(KernelLoader loader)
    {
        Naive = loader.Load<Index1D, ArrayView<float>, ArrayView<float>, int>(CanaryKernels.Naive);
        Safe = loader.Load<Index1D, ArrayView<float>, ArrayView<float>, int>(CanaryKernels.Safe);
        DivMod = loader.Load<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>>(CanaryKernels.DivMod);
        Maths = loader.Load<Index1D, ArrayView<float>, ArrayView<float>, int>(CanaryKernels.Maths);
        MaxMin = loader.Load<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>>(CanaryKernels.MaxMin);
        Scan = loader.Load<Index1D, ArrayView<float>, ArrayView<float>, int>(CanaryKernels.Scan);
        Struct = loader.Load<Index1D, ArrayView<float>, CanaryParams>(CanaryKernels.Struct);
        BarrierLoop = loader.LoadGrouped<ArrayView<float>, int>(CanaryKernels.BarrierLoop);
    }

    public Action<Index1D, ArrayView<float>, ArrayView<float>, int> Naive { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, int> Safe { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>> DivMod { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, int> Maths { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>> MaxMin { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, int> Scan { get; }
    public Action<Index1D, ArrayView<float>, CanaryParams> Struct { get; }
    public Action<KernelConfig, ArrayView<float>, int> BarrierLoop { get; }

    public static CanaryKernelSet Load(KernelLoader loader) => new(loader);
}
