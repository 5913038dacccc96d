using System.Diagnostics;
using System.Globalization;
using AttentionWise.Kernels;
using AttentionWise.Layers;

namespace AttentionWise.Bench;

/// <summary>
/// A quick per-kernel timing harness for iterating on hot kernels (not BenchmarkDotNet): runs each kernel
/// of a pass several times and prints the median. `dotnet run -c Release --project AttentionWise.Bench -- profile heads [N] [K]`,
/// `profile step [N] [K] [layers]` (a training step of an attention model), `profile dia [N] [uses]`, `profile learn [N] [steps]`.
/// The device (AW_DEVICE) is opened with a <see cref="KernelTimer"/>, which times every launch, host pass and transfer at
/// the kernel loader; AW_HOST_PASSES=0 runs the cpu device's plain kernels instead of its host passes.
/// </summary>
public static class Profile
{
    public static int Run(string[] args)
    {
        string what = args.Length > 1 ? args[1] : "heads";
        var timer = new KernelTimer { Enabled = false };
        bool hostPasses = Environment.GetEnvironmentVariable("AW_HOST_PASSES") != "0";
        using var device = ComputeDevice.Open(Environment.GetEnvironmentVariable("AW_DEVICE"), new DeviceOptions(HostPasses: hostPasses, Interceptor: timer));
        switch (what)
        {
            case "heads":
                Heads(device, timer, Arg(args, 2, 4096), Arg(args, 3, 8));
                return 0;
            case "dia":
                Dia(device, timer, Arg(args, 2, 256), Arg(args, 3, 3));
                return 0;
            case "learn":
                Learn(device, Arg(args, 2, 512), Arg(args, 3, 40));
                return 0;
            case "step":
                Step(device, timer, Arg(args, 2, 4096), Arg(args, 3, 8), Arg(args, 4, 2));
                return 0;
            default:
                Console.Error.WriteLine($"profile: unknown target '{what}'");
                return 2;
        }
    }

    private static int Arg(string[] args, int i, int fallback) =>
        args.Length > i ? int.Parse(args[i], CultureInfo.InvariantCulture) : fallback;

    internal static void Time(string name, Action action, int reps = 7)
    {
        action();
        var times = new double[reps];
        for (int r = 0; r < reps; r++)
        {
            var sw = Stopwatch.StartNew();
            action();
            times[r] = sw.Elapsed.TotalMilliseconds;
        }
        Array.Sort(times);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name,-28} {times[reps / 2],9:F2} ms (min {times[0]:F2})"));
    }

    /// <summary>Runs forward and backward several times with the device's <see cref="KernelTimer"/> on, and prints
    /// each launch's median time, next to an element-wise multiply over the same number of elements
    /// (a memory-bound reference that shows whether the machine is busy).</summary>
    private static void Heads(ComputeDevice device, KernelTimer timer, int n, int heads)
    {
        const int c = 1, h = 28, w = 28;
        Console.WriteLine($"attention heads: N {n}, K {heads}, C {c}, {h}x{w} on {device.Name}");
        var rng = new Rng(1);
        using var module = new AttentionHeads(device, c, h, w, heads);
        Init.Apply(module, rng);
        var xs = new float[n * c * h * w];
        for (int i = 0; i < xs.Length; i++)
            xs[i] = (float)rng.NextDouble();
        using var x = device.Upload(Shape.Of(n, c, h, w), xs);
        var z = module.Forward(x);
        using var gz = device.Upload(z.Shape, Enumerable.Range(0, z.Length).Select(i => (float)(rng.NextDouble() - 0.5) * 1e-3f).ToArray());
        using var skip = device.Zeros(x.Shape);
        module.Backward(gz, skip);
        using var ta = device.Zeros(z.Shape);
        using var tb = device.Zeros(z.Shape);
        Time("reference: Multiply", () => Elementwise.Multiply(ta, tb, z));
        TimeLaunches(device, timer, 7, () =>
        {
            module.Forward(x);
            module.Backward(gz, skip);
        });
        Time("module Forward", () => module.Forward(x));
        Time("module Backward", () => module.Backward(gz, skip));
        Time("reference: Multiply", () => Elementwise.Multiply(ta, tb, z));
    }

    /// <summary>A whole training step of an attention model (configuration B by default) on Fashion-MNIST images
    /// when the Debian package's files exist, else on uniform random pixels: every launch of the step timed by the
    /// device's <see cref="KernelTimer"/>, and the step itself timed with the timer off.</summary>
    private static void Step(ComputeDevice device, KernelTimer timer, int n, int heads, int layers)
    {
        var (images, labels, source) = BenchData.FashionMnist(n);
        Console.WriteLine($"training step: attention model, {heads} heads, {layers} layers, no post-conv BN, batch {n}, {source}, on {device.Name}");
        using var model = new AttentionWise.Training.Models.AttentionModel(device, new AttentionWise.Training.Models.AttentionModelOptions(1, 28, 28, heads, layers, false));
        Init.Apply(model, new Rng(1));
        using var x = device.Upload(Shape.Of(n, 1, 28, 28), images);
        using var y = DeviceIntTensor.Upload(device, labels);
        using var loss = new LogSoftmaxNllLoss(device);
        using var adam = new Adam(device, model.NamedParameters());
        TimeLaunches(device, timer, 5, () =>
        {
            adam.ZeroGrad();
            loss.Forward(model.Forward(x), y);
            loss.Result();
            model.Backward(loss.Backward());
            adam.Step();
        });
    }

    /// <summary>A DIA stage of pass-through modules at C = 200, 14×14 (DIA-control's stage 2 without its convs).</summary>
    private static void Dia(ComputeDevice device, KernelTimer timer, int n, int uses)
    {
        Console.WriteLine($"DIA stage: C 200, 14x14, batch {n}, {uses} uses, on {device.Name}");
        using var stage = new DiaStage(device, 200, Enumerable.Range(0, uses).Select(i => ($"m{i}", (Module)new PassThrough(device))).ToList());
        Init.Apply(stage, new Rng(3));
        var shape = Shape.Of(n, 200, 14, 14);
        using var x = device.Upload(shape, QuickTiming.Random(shape.Length, 4));
        using var g = device.Upload(shape, QuickTiming.Random(shape.Length, 5));
        TimeLaunches(device, timer, 9, () =>
        {
            stage.Forward(x);
            stage.Backward(g);
        });
        Time("stage Forward", () => stage.Forward(x), reps: 9);
        Time("stage Backward", () => stage.Backward(g), reps: 9);
    }

    /// <summary>A sanity check that configuration B learns: a few Adam steps on consecutive Fashion-MNIST batches,
    /// printing the loss, batch accuracy and the paper's gradient metric.</summary>
    private static void Learn(ComputeDevice device, int batch, int steps)
    {
        var (images, labels, source) = BenchData.FashionMnist(batch * steps);
        Console.WriteLine($"configuration B, batch {batch}, {steps} steps on {source}");
        using var model = new AttentionWise.Training.Models.AttentionModel(device, new AttentionWise.Training.Models.AttentionModelOptions(1, 28, 28, 8, 2, false));
        Init.Apply(model, new Rng(1));
        using var loss = new LogSoftmaxNllLoss(device);
        using var adam = new Adam(device, model.NamedParameters());
        using var x = device.Allocate(Shape.Of(batch, 1, 28, 28));
        using var y = new DeviceIntTensor(device, Shape.Of(batch));
        for (int step = 0; step < steps; step++)
        {
            x.Upload(images[(step * batch * 784)..((step + 1) * batch * 784)]);
            y.Upload(labels[(step * batch)..((step + 1) * batch)]);
            adam.ZeroGrad();
            loss.Forward(model.Forward(x), y);
            var (value, correct) = loss.Result();
            model.Backward(loss.Backward());
            float g = model.FirstHeadWxGradientMean();
            adam.Step();
            if (step % 5 == 0 || step == steps - 1)
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  step {step,3}: loss {value:F4}, batch accuracy {100.0 * correct / batch:F1}%, head-0 Wx gradient mean {g:G3}"));
        }
    }

    /// <summary>
    /// Runs <paramref name="pass"/> twice to warm up, then <paramref name="reps"/> times with the timer on, each followed by
    /// a pass with it off, and prints each launch (kernel, host pass or transfer, and the layer that
    /// made it) with its time per pass (the median over the passes; a launch made several times in a pass is summed within
    /// the pass), largest first, then the sum of those medians beside the pass's own median time with the timer off.
    /// </summary>
    internal static void TimeLaunches(ComputeDevice device, KernelTimer timer, int reps, Action pass)
    {
        double Run()
        {
            long start = Stopwatch.GetTimestamp();
            pass();
            device.Loader.Synchronize();
            return Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }
        // Two warm-up passes (first-touch of the scratch buffers, tiering), then timed and plain passes alternately, so
        // that both see the same machine.
        timer.Enabled = false;
        Run();
        Run();
        var perPass = new List<Dictionary<(string Name, string Layer), (double Ms, int Count)>>();
        var timed = new double[reps];
        var plain = new double[reps];
        try
        {
            for (int r = 0; r < reps; r++)
            {
                timer.Clear();
                timer.Enabled = true;
                timed[r] = Run();
                timer.Enabled = false;
                var sums = new Dictionary<(string, string), (double, int)>();
                foreach (var launch in timer.Launches)
                {
                    var key = (launch.Name, launch.Layer);
                    var (ms, count) = sums.GetValueOrDefault(key);
                    sums[key] = (ms + launch.Milliseconds, count + 1);
                }
                perPass.Add(sums);
                plain[r] = Run();
            }
        }
        finally
        {
            timer.Enabled = false;
            timer.Clear();
        }

        var rows = perPass.SelectMany(p => p.Keys).Distinct()
            .Select(key =>
            {
                var times = perPass.Select(p => p.GetValueOrDefault(key).Ms).Order().ToArray();
                return (key.Name, key.Layer, Count: perPass.Max(p => p.GetValueOrDefault(key).Count), Median: times[reps / 2], Min: times[0]);
            })
            .OrderByDescending(row => row.Median)
            .ToList();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {"launch",-44} {"layer",-30} {"per pass",8} {"ms",9} {"min ms",9}"));
        foreach (var row in rows)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {row.Name,-44} {(row.Layer.Length == 0 ? "-" : row.Layer),-30} {row.Count,8} {row.Median,9:F2} {row.Min,9:F2}"));
        double sum = rows.Sum(row => row.Median), whole = Median(plain);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  sum of medians {sum:F2} ms; the pass {whole:F2} ms (median of {reps}, timer off; {Median(timed):F2} ms timer on); sum / pass {sum / whole:P1}"));
        if (sum < 0.9 * whole)
            Console.WriteLine("  (less than 90 % of the pass is in launches the timer saw: host work outside the loader's kernels and KernelLoader.Pass?)");
    }

    private static double Median(double[] values)
    {
        var sorted = values.Order().ToArray();
        return sorted[sorted.Length / 2];
    }
}
