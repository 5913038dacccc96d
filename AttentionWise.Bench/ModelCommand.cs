using System.Globalization;
using System.Text;
using System.Text.Json;
using AttentionWise.Layers;
using AttentionWise.Training.Models;

namespace AttentionWise.Bench;

/// <summary>
/// `AttentionWise.Bench model [--models attention-b,control] [--gpus t4,h200] [--batch attention-b=4096,control=256]
/// [--ptxas reports/ptxas.tsv] [--top 5] [--launches] [--json FILE]`: records one training step of each model on the CPU
/// simulator without running it (a <see cref="LaunchRecorder"/> that does not execute, reporting each GPU's geometry to
/// the layers), and prints the performance model's prediction of it on each GPU (<see cref="PerfModel"/>): the step's
/// total, its launches, blocking downloads and allocations, and the kernels ranked by predicted time.
/// </summary>
public static class ModelCommand
{
    public const string Help = """
        AttentionWise.Bench model: the static performance model's prediction of a training step on a GPU (no GPU needed).
          --models LIST     models to record, comma-separated (default attention-b,control)
          --gpus LIST       GPUs to predict, comma-separated: t4, h200, or device (the CUDA device AW_DEVICE names, from
                            its properties) (default t4,h200)
          --batch SPEC      one batch for every model (e.g. 256), or model=batch pairs (default attention-b=4096,control=256)
          --ptxas FILE      registers and shared memory per kernel, as scripts/ptxas writes them (default reports/ptxas.tsv,
                            looked for from the current folder upwards)
          --top N           kernels listed per step, by predicted time (default 5)
          --launches        list every launch of the step too
          --json FILE       also write every prediction as JSON, one line per model and GPU
        The step is recorded on the CPU simulator without running any kernel: each launch's grid, group and buffer sizes
        are the ones the layers choose for that GPU. Figures are predictions, not measurements.
        """;

    public static int Run(string[] args)
    {
        string models = "attention-b,control", gpus = "t4,h200", batchSpec = "attention-b=4096,control=256";
        string? ptxasPath = null, jsonPath = null;
        int top = 5;
        bool listLaunches = false;
        for (int i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--models": models = Value(); break;
                case "--gpus": gpus = Value(); break;
                case "--batch": batchSpec = Value(); break;
                case "--ptxas": ptxasPath = Value(); break;
                case "--json": jsonPath = Value(); break;
                case "--top":
                    top = int.TryParse(Value(), NumberStyles.None, CultureInfo.InvariantCulture, out int t) && t > 0
                        ? t : throw new ArgumentException("--top needs a positive whole number");
                    break;
                case "--launches": listLaunches = true; break;
                case "-h" or "--help": Console.WriteLine(Help); return 0;
                default: throw new ArgumentException($"unknown argument '{args[i]}' (see model --help)");
            }
        }
        var gpuList = Split(gpus).Select(g => string.Equals(g, "device", StringComparison.OrdinalIgnoreCase) ? FromDevice() : GpuSpec.Named(g)).ToList();
        var modelList = Split(models).ToList();
        if (gpuList.Count == 0 || modelList.Count == 0)
            throw new ArgumentException("--models and --gpus need at least one name each");
        foreach (string m in modelList)
            ModelRegistry.Configure(m, 1, 28, 28);
        var resources = LoadResources(ptxasPath);
        var predictions = new List<StepPrediction>();
        foreach (string model in modelList)
        {
            int batch = BatchFor(batchSpec, model);
            foreach (var gpu in gpuList)
            {
                var (launches, downloads, allocations) = RecordStep(model, batch, gpu.Geometry);
                var step = PerfModel.Predict(model, batch, gpu, resources, launches, downloads, allocations);
                predictions.Add(step);
                Console.Write(Describe(step, top, listLaunches));
            }
        }
        if (jsonPath is not null)
            File.WriteAllText(jsonPath, ToJson(predictions));
        return 0;
    }

    /// <summary>The GPU AW_DEVICE names (a CUDA device), from its properties.</summary>
    private static GpuSpec FromDevice()
    {
        using var device = ComputeDevice.Open(Environment.GetEnvironmentVariable("AW_DEVICE"));
        if (device.Accelerator is not ILGPU.Runtime.Cuda.CudaAccelerator cuda)
            throw new ArgumentException($"--gpus device needs a CUDA device; AW_DEVICE gives {device}");
        return GpuSpec.FromProperties(cuda.Name, cuda.Architecture.Major, cuda.Architecture.Minor, cuda.NumMultiprocessors,
                cuda.ClockRate, cuda.MemoryClockRate, cuda.MemoryBusWidth)
            ?? throw new ArgumentException($"the model does not know the limits of compute capability {cuda.Architecture} ({cuda.Name})");
    }

    private static IEnumerable<string> Split(string list) =>
        list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>The batch of <paramref name="model"/> in a --batch value: a number for all, or model=batch pairs.</summary>
    public static int BatchFor(string spec, string model)
    {
        if (int.TryParse(spec, NumberStyles.None, CultureInfo.InvariantCulture, out int all))
            return all > 0 ? all : throw new ArgumentException("--batch must be at least 1");
        foreach (string pair in Split(spec))
        {
            var kv = pair.Split('=', 2);
            if (kv.Length != 2 || !int.TryParse(kv[1], NumberStyles.None, CultureInfo.InvariantCulture, out int b) || b < 1)
                throw new ArgumentException($"--batch: '{pair}' is not model=batch with a batch of at least 1");
            if (string.Equals(kv[0].Trim(), model, StringComparison.OrdinalIgnoreCase))
                return b;
        }
        throw new ArgumentException($"--batch gives no batch for model '{model}'");
    }

    /// <summary>Reads the ptxas table: the given file, else reports/ptxas.tsv in the current folder or one above it.</summary>
    public static KernelResources LoadResources(string? path)
    {
        if (path is null)
        {
            for (var dir = new DirectoryInfo(Directory.GetCurrentDirectory()); dir is not null; dir = dir.Parent)
            {
                string candidate = Path.Combine(dir.FullName, "reports", "ptxas.tsv");
                if (File.Exists(candidate))
                {
                    path = candidate;
                    break;
                }
            }
            if (path is null)
                throw new FileNotFoundException("no reports/ptxas.tsv here or above (scripts/ptxas writes it; or give --ptxas FILE)");
        }
        else if (!File.Exists(path))
            throw new FileNotFoundException($"--ptxas: no such file: {path}");
        return KernelResources.Parse(File.ReadAllText(path));
    }

    /// <summary>Records the launches of one training step (the second: the first allocates what is kept between steps) of
    /// <paramref name="model"/> at <paramref name="batch"/> on the CPU simulator, shaped for <paramref name="geometry"/>,
    /// without running anything.</summary>
    public static (IReadOnlyList<RecordedLaunch> Launches, int Downloads, int Allocations) RecordStep(string model, int batch, GpuGeometry geometry)
    {
        var recorder = new LaunchRecorder(execute: false, geometry);
        using var device = ComputeDevice.Open("cpu-sim", new DeviceOptions(Recorder: recorder));
        var config = ModelRegistry.Configure(model, 1, 28, 28);
        var trainable = ModelRegistry.Create(device, config);
        using var network = trainable.Network;
        using var loss = new LogSoftmaxNllLoss(device);
        using var adam = new Adam(device, network.NamedParameters());
        using var x = device.Allocate(Shape.Of(batch, 1, 28, 28));
        using var y = new DeviceIntTensor(device, Shape.Of(batch));
        ControlStepBenchmarks.Step(network, loss, adam, x, y);
        recorder.Clear();
        ControlStepBenchmarks.Step(network, loss, adam, x, y);
        return (recorder.Launches, recorder.Downloads, recorder.Allocations);
    }

    private static string F(double v, string format = "0.0") => v.ToString(format, CultureInfo.InvariantCulture);

    /// <summary>The step's prediction as Markdown: a summary line and the top kernels (and every launch on request).</summary>
    public static string Describe(StepPrediction step, int top, bool launches = false)
    {
        var s = new StringBuilder();
        s.AppendLine(CultureInfo.InvariantCulture, $"## {step.Model}, batch {step.Batch}, on {step.Gpu.Name} ({step.Gpu.Arch}: {step.Gpu.Multiprocessors} multiprocessors, {F(step.Gpu.Fp32Tflops)} TFLOP/s FP32, {F(step.Gpu.MemoryTbs, "0.00")} TB/s)");
        s.AppendLine();
        s.AppendLine(CultureInfo.InvariantCulture,
            $"Predicted step: {F(step.Microseconds / 1000, "0.000")} ms ({step.Launches.Count} launches {F(step.LaunchMicroseconds / 1000, "0.000")} ms, of which roofline {F(step.RooflineMicroseconds / 1000, "0.000")} ms; {step.Downloads} blocking downloads and {step.Allocations} allocations {F(step.HostMicroseconds / 1000, "0.000")} ms). Work: {F(step.Flops / 1e9, "0.00")} GFLOP, {F(step.Bytes / 1e6, "0")} MB least traffic.");
        s.AppendLine();
        s.AppendLine("| rank | kernel | launches | predicted µs | share | roofline µs | occupancy |");
        s.AppendLine("|---:|---|---:|---:|---:|---:|---:|");
        int rank = 0;
        foreach (var r in step.Ranking().Take(top))
        {
            rank++;
            s.AppendLine(CultureInfo.InvariantCulture,
                $"| {rank} | {r.Kernel} | {r.Launches} | {F(r.Microseconds)} | {F(100 * r.Microseconds / step.Microseconds)} % | {F(r.RooflineMicroseconds)} | {F(100 * r.Occupancy, "0")} % |");
        }
        s.AppendLine();
        if (launches)
        {
            s.AppendLine("| # | kernel | threads | group | groups | regs | shared B | occupancy (limit) | waves | MB | GFLOP | roofline µs | efficiency | predicted µs |");
            s.AppendLine("|---:|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|");
            int n = 0;
            foreach (var l in step.Launches)
            {
                n++;
                s.AppendLine(CultureInfo.InvariantCulture,
                    $"| {n} | {l.Launch.Kernel}{(l.ResourcesKnown ? "" : " (no ptxas row)")} | {l.Launch.Threads} | {l.GroupThreads} | {l.Groups} | {l.Registers} | {l.SharedBytes} | {F(100 * l.Occupancy, "0")} % ({l.Limiter}) | {l.Waves} | {F(l.Launch.Bytes / 1e6, "0.00")} | {F(l.Flops / 1e9, "0.000")}{(l.FlopsStated ? "" : "*")} | {F(l.RooflineMicroseconds, "0.00")} | {F(l.Efficiency, "0.000")} | {F(l.Microseconds, "0.00")} |");
            }
            s.AppendLine();
            s.AppendLine("(* FLOPs not stated by the layer: one per element touched.)");
            s.AppendLine();
        }
        return s.ToString();
    }

    /// <summary>One JSON object per step and GPU, a line each (scripts/gpu-check's summary reads them).</summary>
    public static string ToJson(IEnumerable<StepPrediction> steps) => string.Concat(steps.Select(step => JsonSerializer.Serialize(new
    {
        model = step.Model,
        batch = step.Batch,
        gpu = step.Gpu.Name,
        step_us = Math.Round(step.Microseconds, 1),
        launches_us = Math.Round(step.LaunchMicroseconds, 1),
        roofline_us = Math.Round(step.RooflineMicroseconds, 1),
        launches = step.Launches.Count,
        downloads = step.Downloads,
        allocations = step.Allocations,
        ranking = step.Ranking().Select(r => new { kernel = r.Kernel, launches = r.Launches, us = Math.Round(r.Microseconds, 1) }),
    }) + "\n"));
}
