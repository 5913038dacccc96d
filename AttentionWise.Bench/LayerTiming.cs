using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using AttentionWise.Layers;

namespace AttentionWise.Bench;

/// <summary>
/// The per-layer benchmarks of <see cref="LayerBenchmarks"/> (the same layers at the same shapes) timed with a Stopwatch
/// instead of BenchmarkDotNet, so that all of them fit in a minute on a GPU: one JSON object per layer and pass on
/// stdout, in the form bench/pytorch/peer.py --layers prints, so that scripts/gpu-check can put the two side by side.
/// `AttentionWise.Bench layers [--layers control.conv2,attention-b.heads] [--batch-div 1] [--repeats 5] [--warmup 2]`;
/// AW_DEVICE picks the device. Each row carries the pass's arithmetic (flops: convolutions and linear layers) and the
/// least memory traffic it can have (bytes: every input read once, every output written once), from which gpu-check
/// reports fractions of a GPU's peak.
/// </summary>
public static class LayerTiming
{
    public static int Run(string[] args)
    {
        var layers = LayerBenchmarks.Layers.ToList();
        int batchDiv = 1, repeats = 5, warmup = 2;
        for (int i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            try
            {
                switch (args[i])
                {
                    case "--layers": layers = [.. Value().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)]; break;
                    case "--batch-div": batchDiv = int.Parse(Value(), CultureInfo.InvariantCulture); break;
                    case "--repeats": repeats = int.Parse(Value(), CultureInfo.InvariantCulture); break;
                    case "--warmup": warmup = int.Parse(Value(), CultureInfo.InvariantCulture); break;
                    default:
                        Console.Error.WriteLine($"layers: unknown argument '{args[i]}' (--layers, --batch-div, --repeats, --warmup)");
                        return 2;
                }
            }
            catch (Exception e) when (e is FormatException or OverflowException or ArgumentException)
            {
                Console.Error.WriteLine($"layers: {e.Message}");
                return 2;
            }
        }
        if (batchDiv < 1 || repeats < 1 || warmup < 0)
        {
            Console.Error.WriteLine("layers: --batch-div and --repeats must be at least 1, --warmup at least 0");
            return 2;
        }
        var unknown = layers.Where(l => !LayerBenchmarks.Layers.Contains(l)).ToList();
        if (unknown.Count > 0)
        {
            Console.Error.WriteLine($"layers: unknown layer '{unknown[0]}' (known: {string.Join(", ", LayerBenchmarks.Layers)})");
            return 2;
        }
        using var device = ComputeDevice.Open(Environment.GetEnvironmentVariable("AW_DEVICE"));
        foreach (string name in layers)
        {
            foreach (var row in Time(device, name, batchDiv, repeats, warmup))
                Console.WriteLine(JsonSerializer.Serialize(row));
        }
        return 0;
    }

    /// <summary>Forward and backward of one layer: two rows.</summary>
    public static IEnumerable<Dictionary<string, object?>> Time(ComputeDevice device, string name, int batchDiv, int repeats, int warmup)
    {
        var (module, fullInput, inputGradient) = LayerBenchmarks.Build(device, name);
        using var layer = module;
        var input = fullInput.WithBatch(Math.Max(1, fullInput.N / batchDiv));
        layer.ComputeInputGradient = inputGradient;
        Init.Apply(layer, new Rng(1));
        var pixels = input.C == 1 && input.H == 28 ? BenchData.FashionMnist(input.N).Images : QuickTiming.Random(input.Length, 2);
        using var x = device.Upload(input, pixels);
        var output = layer.OutputShape(input);
        using var g = device.Upload(output, QuickTiming.Random(output.Length, 3));
        void Forward()
        {
            layer.Forward(x);
            device.Synchronize();
        }
        void Backward()
        {
            layer.Backward(g);
            device.Synchronize();
        }
        // Backward needs the state of a forward: every timed backward follows the last forward, as in training.
        var forward = Measure(Forward, repeats, warmup);
        Forward();
        var backward = Measure(Backward, repeats, warmup);
        var (forwardFlops, backwardFlops) = Flops(layer, input, output, inputGradient);
        long inBytes = 4L * input.Length, outBytes = 4L * output.Length, paramBytes = 4L * layer.ParameterCount;
        yield return Row(device, name, "forward", input.N, forward, forwardFlops, inBytes + paramBytes + outBytes);
        // Backward reads the output gradient, the input and the parameters, writes the parameter gradients and, where
        // the model needs it, the input gradient.
        yield return Row(device, name, "backward", input.N, backward, backwardFlops,
            outBytes + inBytes + 2 * paramBytes + (inputGradient ? inBytes : 0));
    }

    /// <summary>Multiply-adds × 2 of a convolution's or a linear layer's passes (null for other layers: their time is
    /// bound by memory, not arithmetic).</summary>
    public static (double? Forward, double? Backward) Flops(Module layer, Shape input, Shape output, bool inputGradient)
    {
        double? pass = layer switch
        {
            Conv2d c => 2.0 * output.Length * c.InChannels * c.Kernel.H * c.Kernel.W,
            Linear l => 2.0 * input.N * l.InFeatures * l.OutFeatures,
            _ => null,
        };
        return (pass, pass * (inputGradient ? 2 : 1));
    }

    private static Dictionary<string, object?> Row(ComputeDevice device, string layer, string pass, int batch, (double Median, double Min) t,
        double? flops, long bytes) => new()
    {
        ["layer"] = layer,
        ["pass"] = pass,
        ["device"] = device.Info.KindName,
        ["device_name"] = device.Name,
        ["batch"] = batch,
        ["ms"] = Math.Round(t.Median, 4),
        ["min_ms"] = Math.Round(t.Min, 4),
        ["flops"] = flops,
        ["bytes"] = bytes,
    };

    /// <summary>Median and minimum in milliseconds of <paramref name="repeats"/> timed calls after <paramref name="warmup"/>.</summary>
    private static (double Median, double Min) Measure(Action action, int repeats, int warmup)
    {
        for (int i = 0; i < warmup; i++)
            action();
        var times = new double[repeats];
        for (int i = 0; i < repeats; i++)
        {
            var sw = Stopwatch.StartNew();
            action();
            times[i] = sw.Elapsed.TotalMilliseconds;
        }
        Array.Sort(times);
        return (times[repeats / 2], times[0]);
    }
}
