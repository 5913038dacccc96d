using BenchmarkDotNet.Running;

namespace AttentionWise.Bench;

/// <summary>Runs the benchmarks: `dotnet run -c Release --project AttentionWise.Bench -- --filter '*'`;
/// `-- profile heads` runs the quick per-kernel timing harness instead.</summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "profile")
            return Profile.Run(args);
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
