using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using AttentionWise.Training;
using AttentionWise.Training.Data;
using AttentionWise.Training.Models;

namespace AttentionWise.Tool.Reproduction;

/// <summary>
/// How much training `aw reproduce` was asked for, and the run folder names that follow from it:
/// table1-&lt;key&gt; for the paper's set-up, with a suffix for every departure that changes the experiment
/// (-n&lt;train limit&gt;, -t&lt;test limit&gt;, -bs&lt;batch&gt;, -lr&lt;rate&gt;, -s&lt;seed&gt;). The number of epochs is not
/// part of the name: asking for more epochs continues the same run.
/// </summary>
internal sealed record Budget(int Epochs, int? TrainLimit = null, int? TestLimit = null, int? BatchSize = null, float? LearningRate = null, ulong? Seed = null)
{
    public const string Prefix = "table1-";

    /// <summary>The paper's set-up: 10 epochs on all the data.</summary>
    public static Budget Paper { get; } = new(Table1.PaperEpochs);

    public int BatchSizeFor(Table1Row row) => BatchSize ?? Datasets.DefaultBatchSize(row.Dataset);

    public float LearningRateOrDefault => LearningRate ?? RunSettings.DefaultLearningRate;

    public ulong SeedOrDefault => Seed ?? RunSettings.DefaultSeed;

    /// <summary>The run folder name of a row under this budget.</summary>
    public string RunName(Table1Row row)
    {
        var name = new StringBuilder(Prefix).Append(row.Key);
        if (TrainLimit is int n)
            name.Append(CultureInfo.InvariantCulture, $"-n{n}");
        if (TestLimit is int t)
            name.Append(CultureInfo.InvariantCulture, $"-t{t}");
        if (BatchSize is int b && b != Datasets.DefaultBatchSize(row.Dataset))
            name.Append(CultureInfo.InvariantCulture, $"-bs{b}");
        if (LearningRate is float lr && lr != RunSettings.DefaultLearningRate)
            name.Append("-lr").Append(lr.ToString("G", CultureInfo.InvariantCulture));
        if (Seed is ulong s && s != RunSettings.DefaultSeed)
            name.Append(CultureInfo.InvariantCulture, $"-s{s}");
        return name.ToString();
    }

    /// <summary>Whether a folder name is a run of <paramref name="row"/> under some budget.</summary>
    public static bool IsRunOf(Table1Row row, string folderName) =>
        Regex.IsMatch(folderName, "^" + Regex.Escape(Prefix + row.Key) + @"(-n\d+)?(-t\d+)?(-bs\d+)?(-lr[0-9.Ee+\-]+?)?(-s\d+)?$");

    /// <summary>The request that trains a row from scratch under this budget.</summary>
    public TrainRequest FreshRequest(Table1Row row, string runsDirectory, string? device, string? dataDirectory) => new()
    {
        Model = row.Model,
        Dataset = row.Dataset,
        Epochs = Epochs,
        BatchSize = BatchSizeFor(row),
        LearningRate = LearningRateOrDefault,
        AttentionLearningRate = row.AttentionLearningRate,
        Seed = SeedOrDefault,
        Device = device,
        DataDirectory = dataDirectory,
        Run = RunName(row),
        RunsDirectory = runsDirectory,
        TrainLimit = TrainLimit,
        TestLimit = TestLimit,
        Overrides = row.Overrides,
    };

    /// <summary>What differs between a run folder's experiment and the row under this budget (empty: it is the
    /// same experiment, whatever the number of epochs).</summary>
    public IReadOnlyList<string> Differences(Table1Row row, RunFolder run)
    {
        var d = new List<string>();
        if (run.Model is not { } m || run.Settings is not { } s)
            return ["the run folder has no readable config.json"];
        var entry = ModelRegistry.Find(row.Model);
        var attention = entry.Attention is null ? null : row.Overrides.Apply(entry.Attention);
        if (m.Name != row.Model)
            d.Add($"model {m.Name} (expected {row.Model})");
        else if (m.Attention != attention)
            d.Add($"attention options {m.Attention} (expected {attention})");
        if (s.Dataset != row.Dataset)
            d.Add($"dataset {s.Dataset} (expected {row.Dataset})");
        if (s.BatchSize != BatchSizeFor(row))
            d.Add(FormattableString.Invariant($"batch size {s.BatchSize} (expected {BatchSizeFor(row)})"));
        if (s.LearningRate != LearningRateOrDefault)
            d.Add(FormattableString.Invariant($"lr {s.LearningRate} (expected {LearningRateOrDefault})"));
        if (s.AttentionLearningRate != row.AttentionLearningRate)
            d.Add(FormattableString.Invariant($"attention lr {s.AttentionLearningRate?.ToString(CultureInfo.InvariantCulture) ?? "none"} (expected {row.AttentionLearningRate?.ToString(CultureInfo.InvariantCulture) ?? "none"})"));
        if (s.Seed != SeedOrDefault)
            d.Add(FormattableString.Invariant($"seed {s.Seed} (expected {SeedOrDefault})"));
        if (s.TrainLimit != TrainLimit)
            d.Add(FormattableString.Invariant($"train limit {s.TrainLimit?.ToString(CultureInfo.InvariantCulture) ?? "none"} (expected {TrainLimit?.ToString(CultureInfo.InvariantCulture) ?? "none"})"));
        if (s.TestLimit != TestLimit)
            d.Add(FormattableString.Invariant($"test limit {s.TestLimit?.ToString(CultureInfo.InvariantCulture) ?? "none"} (expected {TestLimit?.ToString(CultureInfo.InvariantCulture) ?? "none"})"));
        return d;
    }

    /// <summary>e.g. "10 epochs, all training images, all test images, batch 4096/1024 (paper), Adam lr 0.001, seed 1".</summary>
    public string Describe()
    {
        var p = new List<string>
        {
            Epochs == 1 ? "1 epoch" : FormattableString.Invariant($"{Epochs} epochs"),
            TrainLimit is int n ? FormattableString.Invariant($"the first {n:N0} training images") : "all training images",
            TestLimit is int t ? FormattableString.Invariant($"the first {t:N0} test images") : "all test images",
            BatchSize is int b ? FormattableString.Invariant($"batch {b}") : "batch 4096 (Fashion-MNIST) / 1024 (CIFAR-10) as the paper",
            FormattableString.Invariant($"Adam lr {LearningRateOrDefault.ToString("G", CultureInfo.InvariantCulture)}"),
            FormattableString.Invariant($"seed {SeedOrDefault}"),
        };
        return string.Join(", ", p);
    }
}
