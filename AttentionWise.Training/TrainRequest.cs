using AttentionWise.Training.Models;

namespace AttentionWise.Training;

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

    /// <summary>Image folders: 1 or 3 channels (null: detected).</summary>
    public int? Channels { get; init; }

    /// <summary>Image folders: "HxW" every image is resized to.</summary>
    public string? Resize { get; init; }

    /// <summary>Image folders without a test folder: the fraction of each class held out for testing.</summary>
    public double? ValSplit { get; init; }
    public AttentionOverrides Overrides { get; init; } = new();

    /// <summary>Cancelled to stop the training at the next step boundary with a checkpoint there (see <see cref="RunStatus.Stopped"/>).</summary>
    public CancellationToken Stop { get; init; }
}

/// <summary>Run names: one folder inside the runs directory.</summary>
public static class RunNames
{
    /// <summary>What is wrong with <paramref name="name"/> as a run name, or null when it names one folder of the runs
    /// directory (not empty, not "." or "..", no directory separator or character a file name cannot hold).</summary>
    public static string? Problem(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name.Trim().Length == 0)
            return "must not be empty: it names the run's folder inside the runs directory.";
        if (name is "." or ".." || name.IndexOfAny(['/', '\\']) >= 0 || Path.IsPathRooted(name))
            return $"'{name}' is a path; a run name is one folder name inside the runs directory (no '/', '.' or '..').";
        if (name.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0 || name.Any(char.IsControl))
            return $"'{name}' holds a character a folder name cannot hold.";
        if (name != name.Trim())
            return $"'{name}' starts or ends with white space.";
        return null;
    }
}
