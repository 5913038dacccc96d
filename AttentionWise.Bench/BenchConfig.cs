using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Exporters;
using BenchmarkDotNet.Exporters.Csv;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

namespace AttentionWise.Bench;

/// <summary>The configuration every benchmark runs under (the classes add only their own columns).</summary>
public static class BenchConfig
{
    /// <summary>
    /// A pass takes from milliseconds to tens of seconds on a 2-core CPU, far above the timer's resolution: one
    /// invocation per iteration, 2 warm-up and 5 measured iterations give a stable mean without hours of running.
    /// </summary>
    public static Job Standard { get; } = Job.Default
        .WithLaunchCount(1).WithWarmupCount(2).WithIterationCount(5).WithInvocationCount(1).WithUnrollFactor(1)
        .WithId("Standard");

    /// <summary>
    /// BenchmarkDotNet's dry job (one cold invocation of each benchmark, no statistics) run in this process: CI runs
    /// every benchmark this way so that none of them can rot. Its timings mean nothing.
    /// </summary>
    public static Job Dry { get; } = Job.Dry.WithToolchain(InProcessEmitToolchain.Instance).WithId("Dry");

    /// <summary>BenchmarkDotNet's default configuration, whose exporters write CSV, GitHub markdown and HTML reports to
    /// BenchmarkDotNet.Artifacts/results/ (one set per benchmark class: each class has its own rate columns), with one job.</summary>
    public static IConfig Create(bool dry)
    {
        var config = ManualConfig.Create(DefaultConfig.Instance).AddJob(dry ? Dry : Standard);
        var exporters = config.GetExporters().ToList();
        // The CSV and markdown exporters are what the README's tables come from: make sure they stay on.
        if (!exporters.Contains(CsvExporter.Default))
            config.AddExporter(CsvExporter.Default);
        if (!exporters.Contains(MarkdownExporter.GitHub))
            config.AddExporter(MarkdownExporter.GitHub);
        return config;
    }
}
