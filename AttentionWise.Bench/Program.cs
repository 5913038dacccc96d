using BenchmarkDotNet.Running;

namespace AttentionWise.Bench;

/// <summary>Runs the benchmarks: `dotnet run -c Release --project AttentionWise.Bench -- --filter '*'`.</summary>
public static class Program
{
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
