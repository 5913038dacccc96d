using System.Text.Json;
using AttentionWise.Training.Data;
using AttentionWise.Training.Models;

namespace AttentionWise.Training;

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

    /// <summary>Image folders: 1 (grayscale) or 3 (RGB) channels; null: detected (1 when every image is grayscale).</summary>
    public int? Channels { get; init; }

    /// <summary>Image folders: every image resized to "HxW"; null: the images all have one size.</summary>
    public string? Resize { get; init; }

    /// <summary>Image folders without a test folder: the fraction of each class held out as the test set.</summary>
    public double? ValSplit { get; init; }

    /// <summary>Image folders: the class names (the folder names), in class-index order.</summary>
    public IReadOnlyList<string>? ClassNames { get; init; }

    /// <summary>The most epochs a run may ask for.</summary>
    public const int MaxEpochs = 1_000_000;

    public string ToJson() => JsonSerializer.Serialize(this, ModelConfig.Json);

    /// <summary>Equal when every value is (the class names compared by content, not by list instance).</summary>
    public bool Equals(RunSettings? other) => other is not null && ToJson() == other.ToJson();

    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(ToJson());

    /// <summary>What is out of range (empty when every value is valid).</summary>
    public IReadOnlyList<SettingProblem> Problems()
    {
        var p = new List<SettingProblem>();
        if (!Datasets.IsKnown(Dataset) || Datasets.Canonical(Dataset) != Dataset)
            p.Add(new(RunSetting.Dataset, $"'{Dataset}' is not one of {string.Join(", ", Datasets.AllNames)}."));
        if (Epochs < 0 || Epochs > MaxEpochs)
            p.Add(new(RunSetting.Epochs, Inv($"must be from 0 to {MaxEpochs}, not {Epochs}.")));
        if (BatchSize < 1)
            p.Add(new(RunSetting.BatchSize, Inv($"must be at least 1, not {BatchSize}.")));
        if (!(LearningRate > 0) || !float.IsFinite(LearningRate))
            p.Add(new(RunSetting.LearningRate, Inv($"must be a positive number, not {LearningRate}.")));
        if (AttentionLearningRate is float a && (!(a > 0) || !float.IsFinite(a)))
            p.Add(new(RunSetting.AttentionLearningRate, Inv($"must be a positive number, not {a}.")));
        if (TrainLimit is < 1)
            p.Add(new(RunSetting.TrainLimit, Inv($"must be at least 1, not {TrainLimit}.")));
        if (TestLimit is < 1)
            p.Add(new(RunSetting.TestLimit, Inv($"must be at least 1, not {TestLimit}.")));
        if (MicroBatch is < 1)
            p.Add(new(RunSetting.MicroBatch, Inv($"must be at least 1, not {MicroBatch}.")));
        bool folder = Datasets.IsKnown(Dataset) && Datasets.Canonical(Dataset) == Datasets.ImageFolderName;
        if (folder && DataDirectory is null)
            p.Add(new(RunSetting.DataDirectory, "is needed with --dataset image-folder: a folder with train/<class>/*.png|*.jpg."));
        if (Channels is not null && Channels is not (1 or 3))
            p.Add(new(RunSetting.Channels, Inv($"must be 1 or 3, not {Channels}.")));
        if (Resize is not null && ImageSize.Parse(Resize) is null)
            p.Add(new(RunSetting.Resize, $"must be HxW with sides from 1 to {ImageFolder.MaxSide} (e.g. 32x32), not '{Resize}'."));
        if (ValSplit is double v && !(v > 0 && v < 1))
            p.Add(new(RunSetting.ValSplit, Inv($"must be a fraction between 0 and 1 (exclusive), not {v}.")));
        if (ClassNames is { } names && (names.Count < 2 || names.Distinct(StringComparer.Ordinal).Count() != names.Count || names.Any(string.IsNullOrEmpty)))
            p.Add(new(RunSetting.Dataset, $"class names [{string.Join(", ", names)}] must be at least two different, non-empty names."));
        if (!folder && (Channels ?? Resize ?? ValSplit ?? (object?)ClassNames) is not null)
            p.Add(new(RunSetting.Dataset, "is not image-folder, so --channels, --resize and --val-split do not apply."));
        return p;
    }

    private static string Inv(FormattableString s) => FormattableString.Invariant(s);

    public static RunSettings FromJson(string json) =>
        JsonSerializer.Deserialize<RunSettings>(json, ModelConfig.Json) ?? throw new JsonException("Run settings are empty.");
}

