using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using AttentionWise.Host;
using AttentionWise.Layers;
using AttentionWise.Training.Models;

namespace AttentionWise.Bench;

/// <summary>
/// Whole training steps of named models (forward, NLL loss, backward, Adam), timed with a Stopwatch after a warm-up,
/// one JSON object per model on stdout, in the same form as the PyTorch peer (bench/pytorch/peer.py), so that the two
/// can be put side by side (scripts/gpu-check does). Inputs: the first Fashion-MNIST training images where installed (or in AW_BENCH_DATA).
/// `AttentionWise.Bench steps [--models control,attention-b] [--batch 256] [--steps 3] [--warmup 1]`; AW_DEVICE picks the device.
/// </summary>
public static class StepTiming
{
    public static int Run(string[] args)
    {
        string models = "control";
        int batch = 256, steps = 3, warmup = 1;
        for (int i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--models": models = Value(); break;
                case "--batch": batch = int.Parse(Value(), CultureInfo.InvariantCulture); break;
                case "--steps": steps = int.Parse(Value(), CultureInfo.InvariantCulture); break;
                case "--warmup": warmup = int.Parse(Value(), CultureInfo.InvariantCulture); break;
                default:
                    Console.Error.WriteLine($"steps: unknown argument '{args[i]}' (--models, --batch, --steps, --warmup)");
                    return 2;
            }
        }
        if (batch < 1 || steps < 1 || warmup < 0)
        {
            Console.Error.WriteLine("steps: --batch and --steps must be at least 1, --warmup at least 0");
            return 2;
        }
        using var device = ComputeDevice.Open(Environment.GetEnvironmentVariable("AW_DEVICE"));
        var (images, labels, source) = BenchData.FashionMnist(batch);
        foreach (string name in models.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var config = ModelRegistry.Configure(name, 1, 28, 28);
            var trainable = ModelRegistry.Create(device, config);
            using var model = trainable.Network;
            Init.Apply(model, new Rng(1));
            using var loss = new LogSoftmaxNllLoss(device);
            using var adam = new Adam(device, model.NamedParameters());
            using var x = device.Upload(Shape.Of(batch, 1, 28, 28), images);
            using var y = DeviceIntTensor.Upload(device, labels);
            device.ResetPeak();
            float last = 0;
            for (int s = 0; s < warmup; s++)
                last = ControlStepBenchmarks.Step(model, loss, adam, x, y);
            var times = new double[steps];
            for (int s = 0; s < steps; s++)
            {
                var sw = Stopwatch.StartNew();
                last = ControlStepBenchmarks.Step(model, loss, adam, x, y);
                times[s] = sw.Elapsed.TotalMilliseconds;
            }
            Array.Sort(times);
            var row = new Dictionary<string, object?>
            {
                ["model"] = config.Name,
                ["device"] = device.Info.KindName,
                ["device_name"] = device.Name,
                ["batch"] = batch,
                ["threads"] = device.Kind == DeviceKind.Cpu ? HostLauncher.Shared.Threads : null,
                ["step_ms"] = Math.Round(times[steps / 2], 3),
                ["min_ms"] = Math.Round(times[0], 3),
                ["steps"] = steps,
                ["loss"] = last,
                ["parameters"] = model.ParameterCount,
                ["peak_device_bytes"] = device.PeakAllocatedBytes,
                ["blas"] = device.Family == AttentionWise.Backends.BackendFamily.Host ? device.Backend.Describe() : null,
                ["data"] = source,
            };
            Console.WriteLine(JsonSerializer.Serialize(row));
        }
        return 0;
    }
}
