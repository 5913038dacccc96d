// Vector widths for the cpu device's vectorised host passes (HostAttentionHeads, HostNarrowConv). A pass is written
// once, generic over a vector type TV : IVec<TV>, and called (through SimdDispatch) with the width it is given: Vector512 (AVX-512),
// Vector256 (AVX2) or one float at a time (the scalar fallback). The JIT compiles each instantiation separately, so
// the generic code costs nothing at run time. The width is an argument (DeviceOptions.Simd, or a pass's constructor),
// never a mutable static, so that tests run every width in one process.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace AttentionWise.Host;

/// <summary>Floats per vector of a host pass.</summary>
public enum SimdWidth
{
    /// <summary>One float at a time (the fallback for CPUs without AVX2, and a reference in tests).</summary>
    Scalar = 1,

    /// <summary>Vector256: 8 floats (AVX2).</summary>
    V256 = 8,

    /// <summary>Vector512: 16 floats (AVX-512).</summary>
    V512 = 16,
}

/// <summary>Which width this CPU runs fastest, and names for logs.</summary>
public static class Simd
{
    /// <summary>The widest vector this CPU accelerates: V512 with AVX-512, V256 with AVX2 (or another 256-bit ISA),
    /// else Scalar.</summary>
    public static SimdWidth Best =>
        Vector512.IsHardwareAccelerated ? SimdWidth.V512 : Vector256.IsHardwareAccelerated ? SimdWidth.V256 : SimdWidth.Scalar;

    /// <summary>"avx-512 (16 floats)", "avx2 (8 floats)" or "scalar".</summary>
    public static string Describe(SimdWidth width) => width switch
    {
        SimdWidth.V512 => "Vector512 (16 floats)",
        SimdWidth.V256 => "Vector256 (8 floats)",
        _ => "scalar",
    };

    /// <summary>Parses "512", "256" or "scalar" (AW_SIMD); null for anything else.</summary>
    public static SimdWidth? Parse(string? text) => text?.Trim().ToLowerInvariant() switch
    {
        "512" or "v512" or "avx512" or "avx-512" => SimdWidth.V512,
        "256" or "v256" or "avx2" => SimdWidth.V256,
        "scalar" or "1" => SimdWidth.Scalar,
        _ => null,
    };
}

/// <summary>A vector of floats for the generic host passes: loads and stores through pointers, arithmetic, exp, and
/// reductions across the lanes in a fixed order.</summary>
internal unsafe interface IVec<TSelf> where TSelf : struct, IVec<TSelf>
{
    static abstract int Count { get; }
    static abstract TSelf Load(float* p);
    static abstract void Store(float* p, TSelf v);
    static abstract TSelf Splat(float v);
    static abstract TSelf operator +(TSelf a, TSelf b);
    static abstract TSelf operator -(TSelf a, TSelf b);
    static abstract TSelf operator *(TSelf a, TSelf b);

    /// <summary>a·b + c, fused (one rounding).</summary>
    static abstract TSelf MulAdd(TSelf a, TSelf b, TSelf c);
    static abstract TSelf Exp(TSelf v);

    /// <summary>The larger of each pair of lanes (with a NaN, either: the passes use it where that does not matter).</summary>
    static abstract TSelf Max(TSelf a, TSelf b);
    static abstract TSelf Abs(TSelf v);

    /// <summary>The sum of the lanes (a fixed order for a width).</summary>
    static abstract float Sum(TSelf v);

    /// <summary>The largest lane.</summary>
    static abstract float MaxLane(TSelf v);

    /// <summary>All bits set in the lanes where a &lt; b, else 0.</summary>
    static abstract TSelf Less(TSelf a, TSelf b);

    /// <summary>All bits set in the lanes where a &gt; b, else 0.</summary>
    static abstract TSelf Greater(TSelf a, TSelf b);

    /// <summary>Per lane: a where the mask's bits are set, else b.</summary>
    static abstract TSelf Select(TSelf mask, TSelf a, TSelf b);
}

/// <summary>
/// exp in float for the vector widths: x = k·ln 2 + r with k = round(x·log2 e) and |r| ≤ ln 2 / 2, e^r by Cephes'
/// polynomial (within 2 ulp of the exact value, measured against Math.Exp over [−87, 88]), times 2^k. With AVX-512
/// the scaling is vscalefps (which underflows to 0 and needs no integer steps); otherwise through the exponent bits.
/// Arguments are clamped to [−104, 88.37] (the passes never exceed 60; below −104 the result is 0, so −∞ gives 0);
/// NaN stays NaN (the clamps keep a NaN second operand). About three times as fast as Vector512.Exp, which computes in
/// double.
/// </summary>
internal static class FastExp
{
    private const float Low = -104f, LowBits = -87.33654f, High = 88.37626f, Log2E = 1.44269504088896341f, Ln2Hi = 0.693359375f,
        Ln2Lo = -2.12194440e-4f;
    private const float P0 = 1.9875691500e-4f, P1 = 1.3981999507e-3f, P2 = 8.3334519073e-3f, P3 = 4.1665795894e-2f, P4 = 1.6666665459e-1f,
        P5 = 5.0000001201e-1f;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Of(Vector512<float> x)
    {
        if (!Avx512F.IsSupported)
            return Vector512.Create(Of(x.GetLower()), Of(x.GetUpper()));
        // MaxNative(a, b) and MinNative(a, b) return b when either is NaN (vmaxps, vminps): x second keeps NaN.
        var xc = Vector512.MinNative(Vector512.Create(High), Vector512.MaxNative(Vector512.Create(Low), x));
        var k = Avx512F.RoundScale(xc * Vector512.Create(Log2E), 0);   // to nearest
        var r = Vector512.FusedMultiplyAdd(k, Vector512.Create(-Ln2Hi), xc);
        r = Vector512.FusedMultiplyAdd(k, Vector512.Create(-Ln2Lo), r);
        var p = Vector512.FusedMultiplyAdd(Vector512.Create(P0), r, Vector512.Create(P1));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(P2));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(P3));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(P4));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(P5));
        p = Vector512.FusedMultiplyAdd(p, r * r, r + Vector512<float>.One);
        return Avx512F.Scale(p, k);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Of(Vector256<float> x)
    {
        var xc = Vector256.MinNative(Vector256.Create(High), Vector256.MaxNative(Vector256.Create(LowBits), x));
        var k = Vector256.Floor(Vector256.FusedMultiplyAdd(xc, Vector256.Create(Log2E), Vector256.Create(0.5f)));
        var r = Vector256.FusedMultiplyAdd(k, Vector256.Create(-Ln2Hi), xc);
        r = Vector256.FusedMultiplyAdd(k, Vector256.Create(-Ln2Lo), r);
        var p = Vector256.FusedMultiplyAdd(Vector256.Create(P0), r, Vector256.Create(P1));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(P2));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(P3));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(P4));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(P5));
        p = Vector256.FusedMultiplyAdd(p, r * r, r + Vector256<float>.One);
        var y = p * Vector256.ShiftLeft(Vector256.ConvertToInt32Native(k) + Vector256.Create(127), 23).AsSingle();
        // Below the exponent bits' range the result is 0 (NaN compares false and stays).
        return Vector256.ConditionalSelect(Vector256.LessThan(x, Vector256.Create(LowBits)), Vector256<float>.Zero, y);
    }
}

internal unsafe struct V512 : IVec<V512>
{
    private Vector512<float> _v;

    private V512(Vector512<float> v) => _v = v;

    public static int Count => 16;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 Load(float* p) => new(Vector512.Load(p));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(float* p, V512 v) => v._v.Store(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 Splat(float v) => new(Vector512.Create(v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 operator +(V512 a, V512 b) => new(a._v + b._v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 operator -(V512 a, V512 b) => new(a._v - b._v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 operator *(V512 a, V512 b) => new(a._v * b._v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 MulAdd(V512 a, V512 b, V512 c) => new(Vector512.FusedMultiplyAdd(a._v, b._v, c._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 Exp(V512 v) => new(FastExp.Of(v._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 Max(V512 a, V512 b) => new(Vector512.MaxNative(a._v, b._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 Abs(V512 v) => new(Vector512.Abs(v._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sum(V512 v) => Vector512.Sum(v._v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 Less(V512 a, V512 b) => new(Vector512.LessThan(a._v, b._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 Greater(V512 a, V512 b) => new(Vector512.GreaterThan(a._v, b._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 Select(V512 mask, V512 a, V512 b) => new(Vector512.ConditionalSelect(mask._v, a._v, b._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float MaxLane(V512 v) =>
        Vector256.Max(v._v.GetLower(), v._v.GetUpper()) is var m ? V256.MaxLane(m) : 0f;
}

internal unsafe struct V256 : IVec<V256>
{
    private Vector256<float> _v;

    private V256(Vector256<float> v) => _v = v;

    public static int Count => 8;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 Load(float* p) => new(Vector256.Load(p));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(float* p, V256 v) => v._v.Store(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 Splat(float v) => new(Vector256.Create(v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 operator +(V256 a, V256 b) => new(a._v + b._v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 operator -(V256 a, V256 b) => new(a._v - b._v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 operator *(V256 a, V256 b) => new(a._v * b._v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 MulAdd(V256 a, V256 b, V256 c) => new(Vector256.FusedMultiplyAdd(a._v, b._v, c._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 Exp(V256 v) => new(FastExp.Of(v._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 Max(V256 a, V256 b) => new(Vector256.MaxNative(a._v, b._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 Abs(V256 v) => new(Vector256.Abs(v._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sum(V256 v) => Vector256.Sum(v._v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 Less(V256 a, V256 b) => new(Vector256.LessThan(a._v, b._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 Greater(V256 a, V256 b) => new(Vector256.GreaterThan(a._v, b._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 Select(V256 mask, V256 a, V256 b) => new(Vector256.ConditionalSelect(mask._v, a._v, b._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float MaxLane(V256 v) => MaxLane(v._v);

    internal static float MaxLane(Vector256<float> v)
    {
        var m = Vector128.Max(v.GetLower(), v.GetUpper());
        return MathF.Max(MathF.Max(m[0], m[1]), MathF.Max(m[2], m[3]));
    }
}

internal unsafe struct V1 : IVec<V1>
{
    private float _v;

    private V1(float v) => _v = v;

    public static int Count => 1;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V1 Load(float* p) => new(*p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(float* p, V1 v) => *p = v._v;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V1 Splat(float v) => new(v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V1 operator +(V1 a, V1 b) => new(a._v + b._v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V1 operator -(V1 a, V1 b) => new(a._v - b._v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V1 operator *(V1 a, V1 b) => new(a._v * b._v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V1 MulAdd(V1 a, V1 b, V1 c) => new(MathF.FusedMultiplyAdd(a._v, b._v, c._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V1 Exp(V1 v) => new(MathF.Exp(v._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V1 Max(V1 a, V1 b) => new(MathF.Max(a._v, b._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V1 Abs(V1 v) => new(MathF.Abs(v._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sum(V1 v) => v._v;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V1 Less(V1 a, V1 b) => new(a._v < b._v ? BitConverter.Int32BitsToSingle(-1) : 0f);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V1 Greater(V1 a, V1 b) => new(a._v > b._v ? BitConverter.Int32BitsToSingle(-1) : 0f);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V1 Select(V1 mask, V1 a, V1 b) => BitConverter.SingleToInt32Bits(mask._v) != 0 ? a : b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float MaxLane(V1 v) => v._v;
}

/// <summary>Short row copies for the host passes: whole vectors, the last one overlapping the one before (a row of 28
/// floats is two Vector512 stores) instead of a call to memmove per row.</summary>
internal static unsafe class Rows
{
    /// <summary>dst[0 … w) = src[0 … w); the two must not overlap.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Copy<TV>(float* dst, float* src, int w) where TV : struct, IVec<TV>
    {
        int v = TV.Count;
        if (w < v)
        {
            for (int j = 0; j < w; j++)
                dst[j] = src[j];
            return;
        }
        int e = 0;
        for (; e + v <= w; e += v)
            TV.Store(dst + e, TV.Load(src + e));
        if (e < w)
            TV.Store(dst + w - v, TV.Load(src + w - v));
    }

    /// <summary>dst[0 … w) = a[0 … w) + b[0 … w); dst may be neither a nor b.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Add<TV>(float* dst, float* a, float* b, int w) where TV : struct, IVec<TV>
    {
        int v = TV.Count;
        if (w < v)
        {
            for (int j = 0; j < w; j++)
                dst[j] = a[j] + b[j];
            return;
        }
        int e = 0;
        for (; e + v <= w; e += v)
            TV.Store(dst + e, TV.Load(a + e) + TV.Load(b + e));
        if (e < w)
            TV.Store(dst + w - v, TV.Load(a + w - v) + TV.Load(b + w - v));
    }
}

/// <summary>One step of a host pass written once, generic over the vector type: <see cref="SimdDispatch.Run"/> calls it
/// at the width chosen at run time. A struct, so that each width's call is compiled (and inlined) on its own.</summary>
/// <typeparam name="TOwner">What the step works on (the pass's instance).</typeparam>
internal interface IWidthPass<in TOwner>
{
    void Run<TV>(TOwner owner, int item) where TV : struct, IVec<TV>;
}

/// <summary>The one place a host pass turns a <see cref="SimdWidth"/> into its vector type.</summary>
internal static class SimdDispatch
{
    /// <summary>Step <typeparamref name="TPass"/> of <paramref name="owner"/> for work item <paramref name="item"/>, with
    /// vectors of <paramref name="width"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Run<TPass, TOwner>(SimdWidth width, TOwner owner, int item) where TPass : struct, IWidthPass<TOwner>
    {
        switch (width)
        {
            case SimdWidth.V512: default(TPass).Run<V512>(owner, item); break;
            case SimdWidth.V256: default(TPass).Run<V256>(owner, item); break;
            default: default(TPass).Run<V1>(owner, item); break;
        }
    }
}
