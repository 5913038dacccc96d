namespace AttentionWise.Layers;

/// <summary>
/// A small, seeded, platform-independent random generator (SplitMix64). Initial weights and shuffles are
/// drawn on the host from it and uploaded, so the same seed gives the same numbers on every accelerator
/// and every .NET version. Its whole state is <see cref="State"/>, which checkpoints save.
/// </summary>
public sealed class Rng
{
    public Rng(ulong seed) => State = seed;

    /// <summary>The generator's state; setting it restores a saved generator exactly.</summary>
    public ulong State { get; set; }

    public ulong NextUInt64()
    {
        ulong z = State += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform integer in [0, maxExclusive).</summary>
    public int NextInt(int maxExclusive)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxExclusive);
        // Lemire's multiply-shift with rejection: unbiased.
        ulong bound = (ulong)maxExclusive;
        ulong threshold = (0UL - bound) % bound;
        while (true)
        {
            ulong r = NextUInt64();
            UInt128 m = (UInt128)r * bound;
            if ((ulong)m >= threshold)
                return (int)(m >> 64);
        }
    }

    /// <summary>Standard normal (Box–Muller on two uniforms; one value per call, so the state stays simple).</summary>
    public double NextNormal()
    {
        double u1 = 1.0 - NextDouble(); // (0, 1]
        double u2 = NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }

    /// <summary>Fisher–Yates shuffle in place.</summary>
    public void Shuffle(Span<int> items)
    {
        for (int i = items.Length - 1; i > 0; i--)
        {
            int j = NextInt(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }
}

/// <summary>Parameter initialisation (paper §2.3): normal weights, zero biases, batchnorm weight one.</summary>
public static class Init
{
    /// <summary>The paper's init std for every conv, linear and x/y weight.</summary>
    public const float PaperStd = 0.02f;

    /// <summary>Initialises every parameter of <paramref name="module"/> in <see cref="Module.NamedParameters"/>
    /// order, drawing normal values from <paramref name="rng"/>.</summary>
    public static void Apply(Module module, Rng rng, float std = PaperStd)
    {
        ArgumentNullException.ThrowIfNull(module);
        foreach (var (_, p) in module.NamedParameters())
        {
            switch (p.Init)
            {
                case ParameterInit.Normal:
                    Normal(p.Value, std, rng);
                    break;
                case ParameterInit.Zeros:
                    p.Value.Zero();
                    break;
                case ParameterInit.Ones:
                    Elementwise.Fill(p.Value, 1f);
                    break;
            }
            p.ZeroGrad();
        }
    }

    /// <summary>Fills a tensor with N(0, std²) values from <paramref name="rng"/>.</summary>
    public static void Normal(DeviceTensor tensor, float std, Rng rng)
    {
        var values = new float[tensor.Length];
        for (int i = 0; i < values.Length; i++)
            values[i] = (float)(std * rng.NextNormal());
        tensor.Upload(values);
    }
}
