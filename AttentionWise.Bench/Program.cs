using BenchmarkDotNet.Running;

namespace AttentionWise.Bench;

/// <summary>Runs the benchmarks: `dotnet run -c Release --project AttentionWise.Bench -- --filter '*'` (add `--dry` for one
/// cold invocation of each, as CI does; other arguments are BenchmarkDotNet's), or the quick Stopwatch harnesses: `… -- steps --models control --batch 256` (whole training steps as JSON), `… -- layers [--layers control.conv2,…]` (the per-layer benchmarks' layers, as JSON),
/// `… -- roofline [N] [K] [layers] [steps]` (an attention model's step beside this machine's bandwidth and FMA rate),
/// `… -- quick [conv2 conv5 …]` and `… -- profile heads|layer|dia …` (per-launch timings of the attention and DIA layers),
/// `… -- model [--models attention-b,control --gpus t4,h200]` (the static performance model's predicted step on a GPU), `… -- device-peaks` (the FP32 and memory peaks of the device AW_DEVICE names, from its properties) and `… -- gpu-summary DIR`
/// (scripts/gpu-check's summary table of the stage results in DIR).</summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "quick")
            return Harness("quick", () =>
            {
                QuickTiming.Run(args[1..]);
                return 0;
            });
        if (args.Length > 0 && args[0] == "profile")
            return Harness("profile", () => Profile.Run(args));
        if (args.Length > 0 && args[0] == "steps")
            return Harness("steps", () => StepTiming.Run(args[1..]));
        if (args.Length > 0 && args[0] == "roofline")
            return Harness("roofline", () => Roofline.Run(args[1..]));
        if (args.Length > 0 && args[0] == "layers")
            return Harness("layers", () => LayerTiming.Run(args[1..]));
        if (args.Length > 0 && args[0] == "device-peaks")
            return Harness("device-peaks", () => GpuPeaks.Run(args[1..]));
        if (args.Length > 0 && args[0] == "model")
            return Harness("model", () => ModelCommand.Run(args[1..]));
        if (args.Length > 0 && args[0] == "gpu-summary")
            return Harness("gpu-summary", () => GpuCheckSummary.Run(args[1..]));
        bool dry = args.Contains("--dry");
        var summaries = BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly)
            .Run(args.Where(a => a != "--dry").ToArray(), BenchConfig.Create(dry));
        // A benchmark that threw or could not be built is a failure (CI relies on it).
        bool failed = summaries.Any(s => s.HasCriticalValidationErrors || s.Reports.Any(r => !r.Success));
        if (failed)
            Console.Error.WriteLine("bench: at least one benchmark failed (see above).");
        return failed ? 1 : 0;
    }

    /// <summary>Runs a Stopwatch harness; an error (no such device, a failed launch) is its message and exit code 1, not
    /// an unhandled exception. The last line names the harness and the error's first line (scripts/gpu-check shows it);
    /// AW_BENCH_STACK=1 prints the stack trace before it.</summary>
    private static int Harness(string name, Func<int> run)
    {
        try
        {
            return run();
        }
        catch (Exception e)
        {
            if (Environment.GetEnvironmentVariable("AW_BENCH_STACK") == "1")
                Console.Error.WriteLine(e);
            else if (e.Message.Contains('\n'))
                Console.Error.WriteLine(e.Message);
            Console.Error.WriteLine($"{name}: error: {e.GetType().Name}: {e.Message.Split('\n')[0].Trim()}");
            return 1;
        }
    }
}
