using System.Globalization;
using System.Text.Json.Serialization;
using AttentionWise.Training.Data;
using AttentionWise.Training.Models;

namespace AttentionWise.Training;

/// <summary>config.json: what a run is (model, settings, data, device, versions) and when it started and resumed.
/// Written by the training loop, read by <c>aw reproduce</c> and on --resume; the one type both sides use.</summary>
public sealed record RunConfiguration
{
    /// <summary>The run's folder name.</summary>
    public required string Run { get; init; }

    /// <summary>The model's registry name.</summary>
    public required string Model { get; init; }

    public required ModelConfig ModelOptions { get; init; }
    public required long Parameters { get; init; }
    public required RunSettings Training { get; init; }
    public required ulong Seed { get; init; }
    public required DatasetFacts Dataset { get; init; }
    public required DeviceFacts Device { get; init; }

    /// <summary>Which ILGPU the tool was built against.</summary>
    public required string Ilgpu { get; init; }

    public required string Dotnet { get; init; }
    public required string AttentionwiseVersion { get; init; }

    /// <summary>When the run first started (ISO 8601).</summary>
    public required string StartTime { get; init; }

    /// <summary>Every --resume, in order.</summary>
    public IReadOnlyList<ResumeRecord> Resumes { get; init; } = [];

    /// <summary>config.json of a run starting now, or resuming now from epoch <paramref name="resumedFrom"/>: a resumed
    /// run keeps its first start time and its earlier resumes (from <paramref name="previous"/>, when there is one).</summary>
    public static RunConfiguration For(string runDirectory, ModelConfig model, RunSettings settings, ComputeDevice device, long parameters,
        Dataset train, Dataset test, DateTimeOffset startTime, RunConfiguration? previous, int? resumedFrom)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(test);
        string now = startTime.ToString("O", CultureInfo.InvariantCulture);
        var resumes = resumedFrom is null ? [] : previous?.Resumes.ToList() ?? [];
        if (resumedFrom is int epoch)
            resumes.Add(new ResumeRecord(now, epoch, device.Name));
        return new RunConfiguration
        {
            Run = Path.GetFileName(Path.GetFullPath(runDirectory)),
            Model = model.Name,
            ModelOptions = model,
            Parameters = parameters,
            Training = settings,
            Seed = settings.Seed,
            Dataset = new DatasetFacts(settings.Dataset, train.Count, test.Count, [train.Channels, train.Height, train.Width]),
            Device = new DeviceFacts(device.Name, device.Info.KindName, device.Info.Index, device.Info.MemoryBytes),
            Ilgpu = ComputeDevice.IlgpuFlavor,
            Dotnet = RunInfo.DotNet,
            AttentionwiseVersion = RunInfo.Version,
            StartTime = resumedFrom is not null ? previous?.StartTime ?? now : now,
            Resumes = resumes,
        };
    }
}

/// <summary>config.json's "dataset": the data the run trained on.</summary>
/// <param name="ImageShape">C, H, W.</param>
public sealed record DatasetFacts(string Name, int TrainImages, int TestImages, IReadOnlyList<int> ImageShape);

/// <summary>config.json's "device": where the run started (resumes may use another; see <see cref="ResumeRecord"/>).</summary>
/// <param name="Kind">cpu, cuda or opencl.</param>
public sealed record DeviceFacts(string Name, string Kind, int Index, long MemoryBytes);

/// <summary>One --resume of a run.</summary>
/// <param name="Time">When (ISO 8601).</param>
/// <param name="FromEpoch">The checkpoint's epoch it continued from.</param>
/// <param name="Device">The device it ran on.</param>
public sealed record ResumeRecord(string Time, int FromEpoch, string Device);

/// <summary>summary.json: how a run ended. Null figures are written as null (no epoch completed, or not finite).</summary>
public sealed record RunSummary
{
    /// <summary>completed or diverged (already-complete in files of earlier versions, which wrote one when --resume found
    /// nothing to do; now such a resume leaves every file as it is).</summary>
    public required string Status { get; init; }

    public required int EpochsCompleted { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public double? FinalLossSum { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public double? FinalTestAccuracy { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public double? FinalLastGradMean { get; init; }

    public required long PeakDeviceBytes { get; init; }
    public required double WallSeconds { get; init; }

    /// <summary>Where the loss first became non-finite (diverged runs only).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public DivergenceRecord? DivergedAt { get; init; }

    /// <summary>What the end of a diverged run means for its files.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public string? Message { get; init; }

    public const string Completed = "completed";
    public const string Diverged = "diverged";
    public const string AlreadyComplete = "already-complete";

    /// <summary>summary.json of a run that ended so.</summary>
    public static RunSummary Of(TrainingOutcome outcome)
    {
        ArgumentNullException.ThrowIfNull(outcome);
        var last = outcome.Epochs.Count > 0 ? outcome.Epochs[^1] : null;
        return new RunSummary
        {
            Status = outcome.Status switch
            {
                RunStatus.Diverged => Diverged,
                RunStatus.AlreadyComplete => AlreadyComplete,
                _ => Completed,
            },
            EpochsCompleted = last?.Epoch ?? 0,
            FinalLossSum = Finite(last?.LossSum),
            FinalTestAccuracy = Finite(last?.TestAccuracy),
            FinalLastGradMean = Finite(last?.LastGradMean),
            PeakDeviceBytes = outcome.PeakDeviceBytes,
            WallSeconds = Math.Round(outcome.WallSeconds, 3),
            DivergedAt = outcome.Status == RunStatus.Diverged
                ? new DivergenceRecord(outcome.DivergedEpoch ?? 0, outcome.DivergedStep ?? 0, outcome.DivergedLoss?.ToString(CultureInfo.InvariantCulture) ?? "NaN")
                : null,
            Message = outcome.DivergenceMessage,
        };
    }

    private static double? Finite(double? v) => v is double d && double.IsFinite(d) ? d : null;
}

/// <summary>summary.json's "diverged_at".</summary>
/// <param name="Loss">The non-finite loss as text ("NaN", "∞").</param>
public sealed record DivergenceRecord(int Epoch, int Step, string Loss);
