using System.Diagnostics;
using System.Globalization;
using AttentionWise.Layers;

namespace AttentionWise.Bench;

/// <summary>
/// A quick Stopwatch harness for iterating on kernels (the reported figures come from BenchmarkDotNet):
/// `dotnet run -c Release --project AttentionWise.Bench -- quick [conv names…]`. Prints the best of a few
/// runs of each convolution pass in GFLOP/s.
/// </summary>
public static class QuickTiming
{
    /// <summary>name, N, Ci, Co, H, W, K, stride, padding, bias.</summary>
    public static readonly (string Name, int N, int Ci, int Co, int H, int W, int K, int S, int P, bool Bias)[] Shapes =
    {
        ("conv1", 256, 1, 100, 28, 28, 3, 1, 1, true),
        ("conv2", 256, 100, 100, 28, 28, 3, 1, 1, true),
        ("conv3", 256, 100, 100, 28, 28, 2, 2, 0, false),
        ("conv4", 256, 100, 200, 14, 14, 3, 1, 1, true),
        ("conv5", 256, 200, 200, 14, 14, 3, 1, 1, true),
        ("conv6", 256, 200, 200, 14, 14, 2, 2, 0, false),
        ("att8", 512, 8, 1, 28, 28, 3, 1, 1, true),
        ("att16", 512, 16, 1, 28, 28, 3, 1, 1, true),
        ("att24", 256, 24, 3, 32, 32, 3, 1, 1, true),
    };

    public static void Run(string[] args)
    {
        using var device = ComputeDevice.Open(Environment.GetEnvironmentVariable("AW_DEVICE"));
        Console.WriteLine($"{device} ({ComputeDevice.IlgpuFlavor})");
        int repeats = int.TryParse(Environment.GetEnvironmentVariable("AW_QUICK_REPEATS"), out int r) ? r : 3;
        int batchDiv = int.TryParse(Environment.GetEnvironmentVariable("AW_QUICK_BATCH_DIV"), out int d) ? d : 1;
        foreach (var shape in Shapes)
        {
            var s = shape;
            if (args.Length > 0 && !args.Contains(s.Name))
                continue;
            s.N /= batchDiv;
            using var conv = new Conv2d(device, s.Ci, s.Co, s.K, s.S, s.P, s.Bias);
            Init.Apply(conv, new Rng(1));
            var inShape = Shape.Of(s.N, s.Ci, s.H, s.W);
            var outShape = conv.OutputShape(inShape);
            using var x = device.Upload(inShape, Random(inShape.Length, 2));
            using var gy = device.Upload(outShape, Random(outShape.Length, 3));
            double flops = 2.0 * s.N * s.Co * outShape.H * outShape.W * s.Ci * s.K * s.K;
            double fwd = Best(repeats, () => conv.Forward(x), device);
            double bwdW = Best(repeats, () => conv.BackwardParameters(gy), device);
            double bwdX = Best(repeats, () => conv.BackwardInput(gy), device);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{s.Name,-6} N {s.N,4} {s.Ci,3}→{s.Co,-3} {s.H}×{s.W} k{s.K} s{s.S}: forward {fwd * 1e3,8:F1} ms {flops / fwd / 1e9,6:F2} GFLOP/s | " +
                $"weight grad {bwdW * 1e3,8:F1} ms {flops / bwdW / 1e9,6:F2} GFLOP/s | input grad {bwdX * 1e3,8:F1} ms {flops / bwdX / 1e9,6:F2} GFLOP/s"));
        }
    }

    private static double Best(int repeats, Action action, ComputeDevice device)
    {
        // Warm up until the tiered JIT has promoted the kernels (calls while a kernel still runs its first-tier
        // code are several times slower).
        var warm = Stopwatch.StartNew();
        do
        {
            action();
            device.Synchronize();
        }
        while (warm.Elapsed.TotalSeconds < 0.5);
        double best = double.MaxValue;
        for (int i = 0; i < repeats; i++)
        {
            var sw = Stopwatch.StartNew();
            action();
            device.Synchronize();
            best = Math.Min(best, sw.Elapsed.TotalSeconds);
        }
        return best;
    }

    public static float[] Random(int length, int seed)
    {
        var rng = new Random(seed);
        var a = new float[length];
        for (int i = 0; i < a.Length; i++)
            a[i] = (float)(rng.NextDouble() * 2 - 1);
        return a;
    }
}
