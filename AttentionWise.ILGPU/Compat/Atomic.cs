// ILGPU.Atomic: lock-free atomic adds. Like ILGPU's, each returns the value held before the add.
using System.Runtime.CompilerServices;

namespace ILGPU;

/// <summary>Atomic operations usable inside kernels.</summary>
public static class Atomic
{
    /// <summary>Atomically adds <paramref name="value"/> to <paramref name="target"/>; returns the old value.</summary>
    public static int Add(ref int target, int value) => Interlocked.Add(ref target, value) - value;

    /// <summary>Atomically adds <paramref name="value"/> to <paramref name="target"/> with a compare-and-swap
    /// loop on the bit pattern (so NaN never spins); returns the old value.</summary>
    public static float Add(ref float target, float value)
    {
        ref int bits = ref Unsafe.As<float, int>(ref target);
        int observed = Volatile.Read(ref bits);
        while (true)
        {
            int desired = BitConverter.SingleToInt32Bits(BitConverter.Int32BitsToSingle(observed) + value);
            int previous = Interlocked.CompareExchange(ref bits, desired, observed);
            if (previous == observed)
                return BitConverter.Int32BitsToSingle(previous);
            observed = previous;
        }
    }
}
