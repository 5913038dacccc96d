using BenchmarkDotNet.Running;

namespace AttentionWise.Bench;

/// <summary>Runs the benchmarks: `dotnet run -c Release --project AttentionWise.Bench -- --filter '*'`, or the quick
/// Stopwatch harnesses: `… -- quick [conv2 conv5 …]` and `… -- profile heads|layer|dia …` (per-launch timings of the
/// attention and DIA layers).</summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "quick")
        {
            QuickTiming.Run(args[1..]);
            return 0;
        }
        if (args.Length > 0 && args[0] == "profile")
            return Profile.Run(args);
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
