// ILGPU.Algorithms.XMath: the math functions AttentionWise's kernels call, mapped to System.MathF/Math.
using System.Runtime.CompilerServices;

namespace ILGPU.Algorithms;

/// <summary>Math functions usable inside kernels.</summary>
public static class XMath
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Exp(float value) => MathF.Exp(value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static double Exp(double value) => Math.Exp(value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Log(float value) => MathF.Log(value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static double Log(double value) => Math.Log(value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sqrt(float value) => MathF.Sqrt(value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static double Sqrt(double value) => Math.Sqrt(value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Rsqrt(float value) => 1.0f / MathF.Sqrt(value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static double Rsqrt(double value) => 1.0 / Math.Sqrt(value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Tanh(float value) => MathF.Tanh(value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static double Tanh(double value) => Math.Tanh(value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Pow(float @base, float exp) => MathF.Pow(@base, exp);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Abs(float value) => MathF.Abs(value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static int Abs(int value) => Math.Abs(value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Max(float first, float second) => MathF.Max(first, second);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static int Max(int first, int second) => Math.Max(first, second);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Min(float first, float second) => MathF.Min(first, second);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static int Min(int first, int second) => Math.Min(first, second);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Clamp(float value, float min, float max) => Math.Clamp(value, min, max);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool IsNaN(float value) => float.IsNaN(value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool IsFinite(float value) => float.IsFinite(value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static int DivRoundUp(int numerator, int denominator) => (numerator + denominator - 1) / denominator;
}
