using BenchmarkDotNet.Running;

namespace AttentionWise.Bench;

/// <summary>Runs the benchmarks: `dotnet run -c Release --project AttentionWise.Bench -- --filter '*'`, or the quick
/// Stopwatch harness: `… -- quick [conv2 conv5 …]`.</summary>
public static class Program
{
    public static void Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "quick")
        {
            QuickTiming.Run(args[1..]);
            return;
        }
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
    }
}
