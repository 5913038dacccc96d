using System.Text.Json.Serialization;
using AttentionWise.Training.Models;

namespace AttentionWise.Training.Training;

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
    /// <summary>completed, diverged or already-complete.</summary>
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
}

/// <summary>summary.json's "diverged_at".</summary>
/// <param name="Loss">The non-finite loss as text ("NaN", "∞").</param>
public sealed record DivergenceRecord(int Epoch, int Step, string Loss);
