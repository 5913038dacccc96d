using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using AttentionWise.Layers;
using AttentionWise.Tool.Visualization;
using AttentionWise.Training;
using AttentionWise.Training.Data;
using AttentionWise.Training.Models;

namespace AttentionWise.Tool.Reproduction;

/// <summary>What `aw sweep` was asked for.</summary>
internal sealed record SweepRequest
{
    /// <summary>Registry model names, in order.</summary>
    public required IReadOnlyList<string> Models { get; init; }

    /// <summary>Whether --models named them (then a CIFAR-10 model without data is an error, not a skip).</summary>
    public bool ModelsNamed { get; init; }

    /// <summary>Timed training steps per model.</summary>
    public int Steps { get; init; } = 5;

    /// <summary>Untimed steps before them (kernel compilation, caches, first allocations).</summary>
    public int WarmupSteps { get; init; } = 2;

    /// <summary>Training epochs for the test accuracy (0: no training, timing only).</summary>
    public int Epochs { get; init; } = 1;

    public int? TrainLimit { get; init; }
    public int? TestLimit { get; init; }

    /// <summary>Batch size of the timing and the training (null: the paper's for the model's dataset).</summary>
    public int? BatchSize { get; init; }

    public ulong Seed { get; init; } = RunSettings.DefaultSeed;
    public string? Device { get; init; }
    public string? FashionData { get; init; }
    public string? CifarData { get; init; }
    public string OutDirectory { get; init; } = "reports";
    public string RunsDirectory { get; init; } = "runs";

    /// <summary>Drop the rows of models not measured this time (default: keep them, replacing only the models measured).</summary>
    public bool Fresh { get; init; }

    /// <summary>This task's share of <see cref="Models"/> (null: all of them, and sweep.csv is written at once). A task
    /// leaves its rows in the run folders; <see cref="Sweep.Report"/> gathers them.</summary>
    public Shard? Shard { get; init; }

    /// <summary>Cancelled by a stop signal: the training in progress stops with a checkpoint and the sweep ends.</summary>
    public CancellationToken Stop { get; init; }

    /// <summary>What a configuration's row depends on besides its model: a row recorded with other settings is not this sweep's.</summary>
    public string SettingsKey => string.Create(CultureInfo.InvariantCulture,
        $"batch {BatchSize?.ToString(CultureInfo.InvariantCulture) ?? "default"}, epochs {Epochs}, train limit {TrainLimit?.ToString(CultureInfo.InvariantCulture) ?? "none"}, ") +
        string.Create(CultureInfo.InvariantCulture,
            $"test limit {TestLimit?.ToString(CultureInfo.InvariantCulture) ?? "none"}, seed {Seed}, steps {Steps}, warm-up {WarmupSteps}");
}

/// <summary>The end of `aw sweep` (or of one task of it).</summary>
/// <param name="CsvPath">sweep.csv, or null for a task of a sharded sweep (its rows are in the run folders).</param>
/// <param name="Rows">The rows measured this time.</param>
/// <param name="Skipped">Models skipped, with the reason.</param>
/// <param name="Stopped">A stop signal ended the sweep; the training it interrupted has a checkpoint and resumes next time.</param>
/// <param name="Kept">Models of this task already measured with these settings (not measured again).</param>
internal sealed record SweepOutcome(string? CsvPath, IReadOnlyList<SweepRow> Rows, IReadOnlyList<string> Skipped, bool Stopped, IReadOnlyList<string> Kept);

/// <summary>One row of sweep.csv.</summary>
/// <param name="LossSum">The last epoch's training loss sum (epochs.csv's loss_sum; NaN when not trained).</param>
/// <param name="TestLoss">The last epoch's test loss (epochs.csv's test_loss; NaN when not trained).</param>
internal sealed record SweepRow(
    string Model, long Parameters, int BatchSize, double MsPerStep, double ImagesPerSecond, double PeakMemoryMb,
    int Epochs, int? TrainLimit, double TestAccuracy, string Device, string Status, string Date,
    double LossSum = double.NaN, double TestLoss = double.NaN)
{
    public static readonly IReadOnlyList<string> Columns =
    [
        "model", "parameters", "batch_size", "ms_per_step", "images_per_second", "peak_memory_mb", "epochs", "train_limit", "test_accuracy", "loss_sum",
        "test_loss", "device", "status", "date",
    ];

    /// <summary>The columns of sweep.csv before loss_sum and test_loss were added; such files are still read (the losses NaN).</summary>
    public static readonly IReadOnlyList<string> ColumnsWithoutLosses = Columns.Where(c => c is not ("loss_sum" or "test_loss")).ToList();

    public string ToCsv() => string.Join(",", new[]
    {
        Model, Inv(Parameters), Inv(BatchSize), D(MsPerStep, "0.###"), D(ImagesPerSecond, "0.#"), D(PeakMemoryMb, "0.#"), Inv(Epochs),
        TrainLimit?.ToString(CultureInfo.InvariantCulture) ?? "", D(TestAccuracy, "0.##"), D(LossSum, "R"), D(TestLoss, "R"), Device, Status, Date,
    }.Select(Table1Report.CsvField));

    private static string Inv(long v) => v.ToString(CultureInfo.InvariantCulture);

    private static string D(double v, string format) => double.IsNaN(v) ? "NaN" : v.ToString(format, CultureInfo.InvariantCulture);
}
