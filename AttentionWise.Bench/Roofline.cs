using System.Diagnostics;
using System.Globalization;
using System.Numerics.Tensors;
using System.Runtime.Intrinsics;
using AttentionWise.Host;
using AttentionWise.Layers;
using AttentionWise.Training.Models;

namespace AttentionWise.Bench;

/// <summary>
/// A roofline for an attention model's training step on the cpu device (`… -- roofline [N] [K] [layers]`, default
/// configuration B at batch 4096): this machine's memory bandwidth (a STREAM-like triad, a = b + s·c over arrays far
/// larger than the caches, 12 bytes per element as STREAM counts them) and its FMA rate (independent chains of vector
/// FMAs at the widest width, every thread of the host launcher), measured before and after the step; then each pass of
/// the step with its time (median over the steps of the launches a <see cref="KernelTimer"/> saw at the kernel loader,
/// grouped by the layer method that made them), the bytes it must move and the floating-point operations it must do
/// (from the shapes; an exp counted as <see cref="ExpFlops"/>), its bound max(bytes / bandwidth, flops / FMA rate) and
/// the fraction bound / time.
/// </summary>
public static class Roofline
{
    /// <summary>Operations one vector exp costs, counted as flops (FastExp: 7 FMAs, which count 2, and 8 other
    /// operations, which count 1).</summary>
    public const int ExpFlops = 22;

    public static int Run(string[] args)
    {
        int n = Arg(args, 0, 4096), heads = Arg(args, 1, 8), layers = Arg(args, 2, 2), steps = Arg(args, 3, 5);
        var timer = new KernelTimer { Enabled = false };
        using var device = ComputeDevice.Open(Environment.GetEnvironmentVariable("AW_DEVICE") ?? "cpu", new DeviceOptions(Interceptor: timer));
        if (device.Kind != DeviceKind.Cpu)
            throw new ArgumentException("roofline measures the cpu device (AW_DEVICE=cpu).");
        Console.WriteLine($"roofline: attention model, {heads} heads, {layers} layers, batch {n}, on {device.Name}; {device.Backend.Describe()}");
        var (bw1, fma1) = (Triad(), FmaRate());
        Console.WriteLine(Inv($"machine before: triad {bw1:F1} GB/s, FMA {fma1:F1} GFLOP/s ({HostLauncher.Shared.Threads} threads, {Simd.Describe(Simd.Best)})"));

        var (images, labels, source) = BenchData.FashionMnist(n);
        using var model = new AttentionModel(device, new AttentionModelOptions(1, 28, 28, heads, layers, false));
        Init.Apply(model, new Rng(1));
        using var x = device.Upload(Shape.Of(n, 1, 28, 28), images);
        using var y = DeviceIntTensor.Upload(device, labels);
        using var loss = new LogSoftmaxNllLoss(device);
        using var adam = new Adam(device, model.NamedParameters());
        var times = new Dictionary<string, List<double>>();
        var whole = new List<double>();
        void Step()
        {
            adam.ZeroGrad();
            loss.Forward(model.Forward(x), y);
            loss.Result();
            model.Backward(loss.Backward());
            adam.Step();
        }
        Step();
        for (int s = 0; s < steps; s++)
        {
            var sw = Stopwatch.StartNew();
            Step();
            whole.Add(sw.Elapsed.TotalMilliseconds);
        }
        // The passes: every launch of a step timed by the device's timer, summed per launching layer method.
        timer.Enabled = true;
        try
        {
            for (int s = 0; s < steps; s++)
            {
                timer.Clear();
                Step();
                foreach (var group in timer.Launches.GroupBy(l => l.Layer))
                {
                    if (!times.TryGetValue(group.Key, out var list))
                        times[group.Key] = list = [];
                    list.Add(group.Sum(l => l.Milliseconds));
                }
            }
        }
        finally
        {
            timer.Enabled = false;
        }
        var (bw2, fma2) = (Triad(), FmaRate());
        Console.WriteLine(Inv($"machine after:  triad {bw2:F1} GB/s, FMA {fma2:F1} GFLOP/s"));
        double bw = Math.Max(bw1, bw2), fma = Math.Max(fma1, fma2);
        Console.WriteLine(Inv($"bounds use the better of the two: {bw:F1} GB/s, {fma:F1} GFLOP/s; data: {source}"));

        // Sizes: P pixels per plane, X = N·C·P (a layer's input and output), E = N·Q·P (the heads' output).
        double p = 28 * 28, c = 1, q = heads * c, xs = n * c * p, e = n * q * p, taps = q * 9;
        // Each pass: the layer methods whose launches it is ("Type." matches every method of the type).
        var model_ = new (string Name, string[] Launches, double Bytes, double Flops)[]
        {
            ("heads forward", ["AttentionHeads.Forward"], layers * 4 * (xs + e), layers * e * (2 * ExpFlops + 16)),
            ("conv forward", ["Conv2d.Forward"], layers * 4 * (e + xs), layers * 2 * xs * taps),
            ("skip + ReLU (fwd, bwd)", ["AttentionLayer.", "BatchNorm2d."], layers * 4 * 7 * xs, layers * 3 * xs),
            ("conv weight gradient", ["Conv2d.BackwardParameters"], layers * 4 * (e + 2 * xs), layers * 2 * xs * taps),
            ("conv input gradient", ["Conv2d.BackwardInput"], layers * 4 * (xs + e), layers * 2 * xs * taps),
            ("heads backward", ["AttentionHeads.Backward"], layers * 4 * (e + 3 * xs), layers * e * (2 * ExpFlops + 30)),
            ("classifier (fwd, bwd)", ["Linear."], 4 * 3 * xs + 4 * 3 * 10 * p, 3 * 2 * xs * 10),
            ("loss, Adam", ["LogSoftmaxNllLoss.", "Adam.", "Parameter."], 4 * 4 * 3 * (layers * (2 * q * p + taps + 1) + 10 * p), 0),
        };
        Console.WriteLine();
        Console.WriteLine("| pass | time (ms) | MB moved | GFLOP | bound (ms) | bound / time |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|");
        double sumTime = 0, sumBound = 0;
        var seen = new HashSet<string>();
        foreach (var (name, launches, bytes, flops) in model_)
        {
            double t = 0;
            foreach (var (layer, list) in times)
            {
                if (launches.Any(l => l.EndsWith('.') ? layer.StartsWith(l, StringComparison.Ordinal) : layer == l) && seen.Add(layer))
                    t += Median(list);
            }
            double bound = Math.Max(bytes / (bw * 1e9), flops / (fma * 1e9)) * 1e3;
            sumTime += t;
            sumBound += bound;
            Console.WriteLine(Inv($"| {name} | {t:F1} | {bytes / 1e6:F0} | {flops / 1e9:F2} | {bound:F1} | {(t > 0 ? bound / t : 0):P0} |"));
        }
        double rest = Median(whole) - sumTime;
        foreach (var (name, list) in times)
            if (!seen.Contains(name))
                Console.WriteLine(Inv($"| ({(name.Length == 0 ? "outside the layers" : name)}) | {Median(list):F1} | | | | |"));
        Console.WriteLine(Inv($"| whole step (median of {steps}; {rest:F1} ms outside the passes) | {Median(whole):F1} | | | {sumBound:F1} | {sumBound / Median(whole):P0} |"));
        return 0;
    }

    private static int Arg(string[] args, int i, int fallback) =>
        args.Length > i ? int.Parse(args[i], CultureInfo.InvariantCulture) : fallback;

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    private static double Median(List<double> v)
    {
        var a = v.OrderBy(t => t).ToArray();
        return a.Length == 0 ? 0 : a[a.Length / 2];
    }

    /// <summary>GB/s of a = b + s·c over 3 × 128 MB, best of 5, split over the host launcher's threads.</summary>
    public static double Triad()
    {
        const int length = 1 << 25, chunk = 1 << 16;
        var a = new float[length];
        var b = new float[length];
        var c = new float[length];
        b.AsSpan().Fill(1f);
        c.AsSpan().Fill(2f);
        double best = double.MaxValue;
        for (int r = 0; r < 6; r++)
        {
            var sw = Stopwatch.StartNew();
            HostLauncher.Shared.For(length / chunk, k =>
            {
                var range = new Range(k * chunk, (k + 1) * chunk);
                TensorPrimitives.MultiplyAdd(c.AsSpan(range), 3f, b.AsSpan(range), a.AsSpan(range));
            });
            double t = sw.Elapsed.TotalSeconds;
            if (r > 0)
                best = Math.Min(best, t);
        }
        return 12.0 * length / best / 1e9;
    }

    /// <summary>GFLOP/s of independent vector FMA chains (8 per thread) on every thread of the host launcher, best of 5.</summary>
    public static double FmaRate()
    {
        const int iterations = 2_000_000;
        int threads = HostLauncher.Shared.Threads;
        bool wide = Vector512.IsHardwareAccelerated;
        int lanes = wide ? 16 : Vector256.IsHardwareAccelerated ? 8 : 4;
        var sink = new float[threads];
        double best = double.MaxValue;
        for (int r = 0; r < 6; r++)
        {
            var sw = Stopwatch.StartNew();
            HostLauncher.Shared.For(threads, t => sink[t] = wide ? Chains512(iterations) : Chains256(iterations));
            double s = sw.Elapsed.TotalSeconds;
            if (r > 0)
                best = Math.Min(best, s);
        }
        return 2.0 * 8 * lanes * iterations * threads / best / 1e9;
    }

    private static float Chains512(int iterations)
    {
        var m = Vector512.Create(0.999999f);
        var k = Vector512.Create(1e-7f);
        Vector512<float> a0 = Vector512.Create(1f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
        for (int i = 0; i < iterations; i++)
        {
            a0 = Vector512.FusedMultiplyAdd(a0, m, k);
            a1 = Vector512.FusedMultiplyAdd(a1, m, k);
            a2 = Vector512.FusedMultiplyAdd(a2, m, k);
            a3 = Vector512.FusedMultiplyAdd(a3, m, k);
            a4 = Vector512.FusedMultiplyAdd(a4, m, k);
            a5 = Vector512.FusedMultiplyAdd(a5, m, k);
            a6 = Vector512.FusedMultiplyAdd(a6, m, k);
            a7 = Vector512.FusedMultiplyAdd(a7, m, k);
        }
        return Vector512.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7);
    }

    private static float Chains256(int iterations)
    {
        var m = Vector256.Create(0.999999f);
        var k = Vector256.Create(1e-7f);
        Vector256<float> a0 = Vector256.Create(1f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
        for (int i = 0; i < iterations; i++)
        {
            a0 = Vector256.FusedMultiplyAdd(a0, m, k);
            a1 = Vector256.FusedMultiplyAdd(a1, m, k);
            a2 = Vector256.FusedMultiplyAdd(a2, m, k);
            a3 = Vector256.FusedMultiplyAdd(a3, m, k);
            a4 = Vector256.FusedMultiplyAdd(a4, m, k);
            a5 = Vector256.FusedMultiplyAdd(a5, m, k);
            a6 = Vector256.FusedMultiplyAdd(a6, m, k);
            a7 = Vector256.FusedMultiplyAdd(a7, m, k);
        }
        return Vector256.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7);
    }
}
