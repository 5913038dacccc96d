using System.Diagnostics;
using System.Globalization;
using AttentionWise.Kernels;
using AttentionWise.Layers;

namespace AttentionWise.Bench;

/// <summary>
/// A quick per-kernel timing harness for iterating on hot kernels (not BenchmarkDotNet): runs each kernel
/// of a pass several times and prints the median. `dotnet run -c Release --project AttentionWise.Bench -- profile heads [N] [K]`.
/// </summary>
public static class Profile
{
    public static int Run(string[] args)
    {
        string what = args.Length > 1 ? args[1] : "heads";
        using var device = ComputeDevice.Open(Environment.GetEnvironmentVariable("AW_DEVICE"));
        switch (what)
        {
            case "heads":
                Heads(device, Arg(args, 2, 4096), Arg(args, 3, 8));
                return 0;
            case "step":
                Step(device, Arg(args, 2, 4096), Arg(args, 3, 8), Arg(args, 4, 2));
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

    /// <summary>Runs forward and backward several times with <see cref="LaunchTimer"/> hooked, and prints
    /// each named launch's median time, next to an element-wise multiply over the same number of elements
    /// (a memory-bound reference that shows whether the machine is busy).</summary>
    private static void Heads(ComputeDevice device, int n, int heads)
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
        TimeLaunches(7, () =>
        {
            module.Forward(x);
            module.Backward(gz, skip);
        });
        Time("module Forward", () => module.Forward(x));
        Time("module Backward", () => module.Backward(gz, skip));
        Time("reference: Multiply", () => Elementwise.Multiply(ta, tb, z));
    }

    /// <summary>A whole training step of an attention model (configuration B by default) on Fashion-MNIST images
    /// when the Debian package's files exist, else on uniform random pixels.</summary>
    private static void Step(ComputeDevice device, int n, int heads, int layers)
    {
        var (images, labels, source) = BenchData.FashionMnist(n);
        Console.WriteLine($"training step: attention model, {heads} heads, {layers} layers, no post-conv BN, batch {n}, {source}, on {device.Name}");
        using var model = new AttentionWise.Training.Models.AttentionModel(device, new AttentionWise.Training.Models.AttentionModelOptions(1, 28, 28, heads, layers, false));
        Init.Apply(model, new Rng(1));
        using var x = device.Upload(Shape.Of(n, 1, 28, 28), images);
        using var y = device.Upload(Shape.Of(n), labels);
        using var loss = new LogSoftmaxNllLoss(device);
        using var adam = new Adam(device, model.NamedParameters());
        void TrainStep()
        {
            LaunchTimer.Run("Adam.ZeroGrad", adam.ZeroGrad);
            DeviceTensor logits = null!;
            LaunchTimer.Run("Classifier.Forward", () => logits = model.Classifier.Forward(LayersForward(model, x)));
            LaunchTimer.Run("Loss", () =>
            {
                loss.Forward(logits, y);
                loss.Result();
            });
            DeviceTensor g = null!;
            LaunchTimer.Run("Loss.Backward", () => g = loss.Backward());
            DeviceTensor gl = null!;
            LaunchTimer.Run("Classifier.Backward", () => gl = model.Classifier.Backward(g)!);
            LayersBackward(model, gl);
            LaunchTimer.Run("Adam.Step", adam.Step);
        }
        TimeLaunches(5, TrainStep);
        Time("whole step", () =>
        {
            adam.ZeroGrad();
            loss.Forward(model.Forward(x), y);
            loss.Result();
            model.Backward(loss.Backward());
            adam.Step();
        }, reps: 5);
    }

    private static DeviceTensor LayersForward(AttentionWise.Training.Models.AttentionModel model, DeviceTensor x)
    {
        foreach (var layer in model.Layers)
            x = layer.Forward(x);
        return x;
    }

    private static void LayersBackward(AttentionWise.Training.Models.AttentionModel model, DeviceTensor g)
    {
        var layers = model.Layers;
        for (int i = layers.Count - 1; i >= 0; i--)
        {
            layers[i].ComputeInputGradient = i > 0;
            var gi = layers[i].Backward(g);
            if (i > 0)
                g = gi!;
        }
    }

    internal static void TimeLaunches(int reps, Action pass)
    {
        var times = new Dictionary<string, List<double>>();
        var order = new List<string>();
        LaunchTimer.Hook = (name, launch) =>
        {
            var sw = Stopwatch.StartNew();
            launch();
            double ms = sw.Elapsed.TotalMilliseconds;
            if (!times.TryGetValue(name, out var list))
            {
                times[name] = list = new List<double>();
                order.Add(name);
            }
            list.Add(ms);
        };
        try
        {
            pass();
            times.Clear();
            order.Clear();
            for (int r = 0; r < reps; r++)
                pass();
        }
        finally
        {
            LaunchTimer.Hook = null;
        }
        double total = 0;
        foreach (var name in order)
        {
            var list = times[name];
            int perPass = list.Count / reps;
            var perRep = Enumerable.Range(0, reps).Select(r => list.Skip(r * perPass).Take(perPass).Sum()).OrderBy(v => v).ToArray();
            total += perRep[reps / 2];
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {name,-30} {perRep[reps / 2],9:F2} ms (min {perRep[0]:F2})"));
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {"sum of medians",-30} {total,9:F2} ms"));
    }
}
