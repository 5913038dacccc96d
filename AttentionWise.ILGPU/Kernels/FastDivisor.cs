namespace AttentionWise.Kernels;

/// <summary>
/// Division of a non-negative int by a divisor fixed on the host, as a multiplication and a shift (a GPU has no
/// integer divider: a division by a value known only at run time costs some twenty instructions there). With
/// L = ⌈log2 d⌉, s = 31 + L and m = ⌈2^s / d⌉ (&lt; 2^32), ⌊n·m / 2^s⌋ = ⌊n / d⌋ for every 0 ≤ n &lt; 2^31: the error
/// e = m·d − 2^s is below d ≤ 2^L, so n·e &lt; 2^s and the estimate's fraction stays below one. Passed by value.
/// </summary>
internal readonly struct FastDivisor
{
    public FastDivisor(int divisor)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(divisor);
        int log = 0;
        while ((1L << log) < divisor)
            log++;
        int shift = 31 + log;
        ulong multiplier = ((1UL << shift) + (ulong)divisor - 1) / (ulong)divisor;
        Divisor = divisor;
        Multiplier = (uint)multiplier;
        Shift = shift;
    }

    public readonly int Divisor;
    public readonly uint Multiplier;
    public readonly int Shift;

    /// <summary>⌊n / Divisor⌋ for 0 ≤ n &lt; 2^31.</summary>
    public int Divide(int n) => (int)(((ulong)(uint)n * Multiplier) >> Shift);

    public override string ToString() => $"FastDivisor({Divisor})";
}
