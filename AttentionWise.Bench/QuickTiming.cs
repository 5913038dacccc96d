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
        if (args.Contains("step"))
            Step(device, args.Contains("profile"));
        if (args.Contains("bn"))
            BatchNorm(device);
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

    /// <summary>BatchNorm2d with few channels over a huge batch (attention layers: 8 channels × 4096 × 28 × 28).</summary>
    private static void BatchNorm(ComputeDevice device)
    {
        foreach (var (n, c) in new[] { (4096, 8), (4096, 16), (256, 100) })
        {
            var shape = Shape.Of(n, c, 28, 28);
            using var bn = new BatchNorm2d(device, c);
            using var x = device.Upload(shape, Random(shape.Length, 6));
            using var gy = device.Upload(shape, Random(shape.Length, 7));
            double mb = shape.Length * 4.0 / 1e6;
            double fwd = Best(3, () => bn.Forward(x), device);
            double bwd = Best(3, () => bn.Backward(gy), device);
            // Least traffic: forward reads x twice (statistics, normalise) and writes y; backward reads gy and x
            // twice (sums, then the input gradient) and writes gx.
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"batchnorm {shape}: forward {fwd * 1e3,7:F1} ms ({3 * mb / fwd / 1e3,5:F1} GB/s) | backward {bwd * 1e3,7:F1} ms ({5 * mb / bwd / 1e3,5:F1} GB/s)"));
        }
        {
            var shape = Shape.Of(4096, 8, 28, 28);
            using var x = device.Upload(shape, Random(shape.Length, 6));
            using var m = device.Allocate(Shape.Of(8));
            using var v = device.Allocate(Shape.Of(8));
            using var work = device.Allocate(Shape.Of(1));
            double stats = Best(3, () => ChannelReductions.MeanVariance(x, m, v, work), device);
            double sums = Best(3, () => ChannelReductions.Sum(x, m, false, work), device);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {shape}: mean/variance {stats * 1e3:F1} ms ({shape.Length * 4.0 / stats / 1e9:F1} GB/s), sum {sums * 1e3:F1} ms ({shape.Length * 4.0 / sums / 1e9:F1} GB/s)"));
        }
        using var big = device.Allocate(Shape.Of(4096 * 8 * 784));
        using var big2 = device.Upload(big.Shape, Random(big.Length, 8));
        double copy = Best(3, () => Elementwise.Scale(big2, 2f, big), device);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"reference: y = 2x over {big.Length} floats {copy * 1e3:F1} ms ({2 * big.Length * 4.0 / copy / 1e9:F1} GB/s)"));
    }

    /// <summary>Times control-model training steps at batch 256, optionally per module.</summary>
    private static void Step(ComputeDevice device, bool profile)
    {
        const int batch = 256;
        using var model = new Training.Models.ControlModel(device, 1, 28, 28);
        Init.Apply(model, new Rng(1));
        using var loss = new LogSoftmaxNllLoss(device);
        using var adam = new Adam(device, model.NamedParameters());
        using var x = device.Upload(Shape.Of(batch, 1, 28, 28), Random(batch * 784, 4));
        var rng = new Random(5);
        using var labels = DeviceIntTensor.Upload(device, Enumerable.Range(0, batch).Select(_ => rng.Next(10)).ToArray());
        int steps = int.TryParse(Environment.GetEnvironmentVariable("AW_QUICK_STEPS"), out int st) ? st : 3;
        for (int i = 0; i < steps; i++)
        {
            var sw = Stopwatch.StartNew();
            float l = ControlStepBenchmarks.Step(model, loss, adam, x, labels);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"step {i}: {sw.Elapsed.TotalSeconds:F2} s, {batch / sw.Elapsed.TotalSeconds:F1} images/s, loss {l:F4}, peak device memory {device.PeakAllocatedBytes / 1e9:F2} GB"));
        }
        if (!profile)
            return;
        // Per-module times of one more step.
        adam.ZeroGrad();
        var t = new List<(string, double)>();
        var modules = model.Features.Modules.Append(model.Classifier).ToList();
        DeviceTensor h = x;
        foreach (var m in modules)
        {
            var sw = Stopwatch.StartNew();
            h = m.Forward(h);
            device.Synchronize();
            t.Add(("forward " + Describe(m), sw.Elapsed.TotalMilliseconds));
        }
        var s2 = Stopwatch.StartNew();
        loss.Forward(h, labels);
        loss.Result();
        DeviceTensor g = loss.Backward();
        t.Add(("loss", s2.Elapsed.TotalMilliseconds));
        for (int i = modules.Count - 1; i >= 0; i--)
        {
            var sw = Stopwatch.StartNew();
            g = modules[i].Backward(g)!;
            device.Synchronize();
            t.Add(("backward " + Describe(modules[i]), sw.Elapsed.TotalMilliseconds));
            if (g is null)
                break;
        }
        var s3 = Stopwatch.StartNew();
        adam.Step();
        device.Synchronize();
        t.Add(("adam", s3.Elapsed.TotalMilliseconds));
        foreach (var (name, ms) in t)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {name,-32} {ms,9:F1} ms"));
    }

    private static string Describe(AttentionWise.Layers.Module m) => m switch
    {
        Conv2d c => $"conv {c.InChannels}→{c.OutChannels} k{c.Kernel.H} s{c.Stride.H}",
        Linear l => $"linear {l.InFeatures}→{l.OutFeatures}",
        _ => m.GetType().Name,
    };

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
