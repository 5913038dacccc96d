using System.Text.Json;
using AttentionWise.Training.Models;

namespace AttentionWise.Training.Training;

/// <summary>What `aw train` was asked for; null means "not given" (defaults, or the checkpoint's values on --resume).</summary>
public sealed record TrainRequest
{
    public string? Model { get; init; }
    public string? Dataset { get; init; }
    public int? Epochs { get; init; }
    public int? BatchSize { get; init; }
    public float? LearningRate { get; init; }
    public float? AttentionLearningRate { get; init; }
    public ulong? Seed { get; init; }
    public string? Device { get; init; }
    public string? DataDirectory { get; init; }
    public string? Run { get; init; }
    public string RunsDirectory { get; init; } = "runs";
    public int? TrainLimit { get; init; }
    public int? TestLimit { get; init; }
    public int? MicroBatch { get; init; }
    public bool Resume { get; init; }
    public AttentionOverrides Overrides { get; init; } = new();
}

/// <summary>The resolved settings of a run, saved in config.json and in every checkpoint.</summary>
public sealed record RunSettings
{
    public const int DefaultEpochs = 10;
    public const float DefaultLearningRate = 1e-3f;
    public const ulong DefaultSeed = 1;

    /// <summary>The part of a batch that models without batch statistics (control, dia-control) train at once
    /// when --micro-batch is not given: keeps the control model at batch 4096 within a few GiB.</summary>
    public const int DefaultMicroBatch = 512;

    public required string Dataset { get; init; }
    public string? DataDirectory { get; init; }
    public required int Epochs { get; init; }
    public required int BatchSize { get; init; }
    public required float LearningRate { get; init; }

    /// <summary>Learning rate of the "attention" parameter group (segregated optimisation); null: same as the rest.</summary>
    public float? AttentionLearningRate { get; init; }

    public required ulong Seed { get; init; }

    /// <summary>Only the first N training images (quick runs); null: all.</summary>
    public int? TrainLimit { get; init; }

    /// <summary>Only the first N test images (quick runs); null: all.</summary>
    public int? TestLimit { get; init; }

    /// <summary>Largest number of images one forward/backward pass holds: a batch is trained in parts of this size
    /// whose gradients add up to the whole batch's (models without batch statistics only). Null: the whole batch
    /// at once (models with batchnorm) or <see cref="DefaultMicroBatch"/>.</summary>
    public int? MicroBatch { get; init; }

    public string ToJson() => JsonSerializer.Serialize(this, ModelConfig.Json);

    public static RunSettings FromJson(string json) =>
        JsonSerializer.Deserialize<RunSettings>(json, ModelConfig.Json) ?? throw new JsonException("Run settings are empty.");
}

/// <summary>The request cannot be carried out as given (exit code 2, like a command-line error).</summary>
public sealed class UsageException : Exception
{
    public UsageException(string message) : base(message) { }
}
