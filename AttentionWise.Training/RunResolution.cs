using System.Globalization;
using AttentionWise.Training.Checkpoints;
using AttentionWise.Training.Data;
using AttentionWise.Training.Models;

namespace AttentionWise.Training;

/// <summary>
/// Turns a <see cref="TrainRequest"/> into the settings of a run: defaults for a fresh run, the checkpoint's own
/// settings for a resumed one (options given again must agree with them, except the number of epochs, the data
/// directory and the micro-batch), and every check of names and values that needs no file. Problems are
/// <see cref="InvalidRequestException"/>s and <see cref="ResumeConflictException"/>s.
/// </summary>
internal static class RunResolution
{
    /// <summary>The runs directory and the run name (when given) name folders.</summary>
    public static void CheckFolderNames(TrainRequest r)
    {
        var problems = new List<SettingProblem>();
        if (string.IsNullOrWhiteSpace(r.RunsDirectory))
            problems.Add(new(RunSetting.RunsDirectory, "must not be empty."));
        if (r.Run is not null && RunNames.Problem(r.Run) is string why)
            problems.Add(new(RunSetting.Run, why));
        if (problems.Count > 0)
            throw new InvalidRequestException(problems);
    }

    /// <summary>The model and settings of a fresh run.</summary>
    public static (ModelEntry Model, RunSettings Settings) Fresh(TrainRequest r)
    {
        var entry = Find(r.Model ?? ModelRegistry.Default);
        // A --data folder with a train/ subfolder is an image folder unless --dataset says otherwise.
        string dataset = Canonical(r.Dataset ?? (ImageFolder.Looks(r.DataDirectory) ? Datasets.ImageFolderName : entry.DefaultDataset));
        var settings = new RunSettings
        {
            Dataset = dataset,
            DataDirectory = r.DataDirectory,
            Epochs = r.Epochs ?? RunSettings.DefaultEpochs,
            BatchSize = r.BatchSize ?? Datasets.DefaultBatchSize(dataset),
            LearningRate = r.LearningRate ?? RunSettings.DefaultLearningRate,
            AttentionLearningRate = r.AttentionLearningRate,
            Seed = r.Seed ?? RunSettings.DefaultSeed,
            TrainLimit = r.TrainLimit,
            TestLimit = r.TestLimit,
            MicroBatch = r.MicroBatch,
            Channels = r.Channels,
            Resize = r.Resize is null ? null : ImageSize.Parse(r.Resize)?.ToString() ?? r.Resize,
            ValSplit = r.ValSplit,
        };
        var problems = settings.Problems().ToList();
        if (r.Overrides.Any && entry.Attention is null)
            problems.Add(new(RunSetting.Attention, $"apply to attention models only; {entry.Name} has none."));
        else if (entry.Attention is { } preset && r.Overrides.Apply(preset) is { } a && (a.Heads < 1 || a.Layers < 1))
            problems.Add(new(RunSetting.Attention, FormattableString.Invariant($"give {a.Heads} heads and {a.Layers} layers; an attention model needs at least one of each.")));
        if (problems.Count > 0)
            throw new InvalidRequestException(problems);
        CheckParts(entry.Name, settings);
        return (entry, settings);
    }

    /// <summary>The settings of a resumed run: the checkpoint's, with the epochs, data directory and micro-batch of the request.</summary>
    public static RunSettings Resumed(TrainRequest r, CheckpointInfo info, string runDirectory)
    {
        var s = info.Settings;
        var conflicts = new List<SettingConflict>();
        void Check<T>(RunSetting setting, T? given, T saved)
        {
            if (given is not null && !EqualityComparer<T>.Default.Equals(given, saved))
                conflicts.Add(new(setting, Text(given), Text(saved)));
        }
        if (r.Model is not null && !string.Equals(ModelRegistry.IsKnown(r.Model) ? ModelRegistry.Find(r.Model).Name : r.Model, info.Model.Name, StringComparison.Ordinal))
            conflicts.Add(new(RunSetting.Model, r.Model, info.Model.Name));
        if (r.Dataset is not null && (!Datasets.IsKnown(r.Dataset) || Datasets.Canonical(r.Dataset) != s.Dataset))
            conflicts.Add(new(RunSetting.Dataset, r.Dataset, s.Dataset));
        Check(RunSetting.BatchSize, r.BatchSize, s.BatchSize);
        Check(RunSetting.LearningRate, r.LearningRate, s.LearningRate);
        if (r.AttentionLearningRate is not null && r.AttentionLearningRate != s.AttentionLearningRate)
            conflicts.Add(new(RunSetting.AttentionLearningRate, Text(r.AttentionLearningRate), s.AttentionLearningRate is float sa ? Text(sa) : "none"));
        Check(RunSetting.Seed, r.Seed, s.Seed);
        if (r.Channels is not null && r.Channels != s.Channels)
            conflicts.Add(new(RunSetting.Channels, Text(r.Channels), s.Channels is int sc ? Text(sc) : "none"));
        if (r.Resize is not null && (ImageSize.Parse(r.Resize)?.ToString() ?? r.Resize) != s.Resize)
            conflicts.Add(new(RunSetting.Resize, r.Resize, s.Resize ?? "none"));
        if (r.ValSplit is not null && r.ValSplit != s.ValSplit)
            conflicts.Add(new(RunSetting.ValSplit, Text(r.ValSplit), s.ValSplit is double sv ? Text(sv) : "none"));
        if (r.TrainLimit is not null && r.TrainLimit != s.TrainLimit)
            conflicts.Add(new(RunSetting.TrainLimit, Text(r.TrainLimit), s.TrainLimit is int t ? Text(t) : "none"));
        if (r.TestLimit is not null && r.TestLimit != s.TestLimit)
            conflicts.Add(new(RunSetting.TestLimit, Text(r.TestLimit), s.TestLimit is int t2 ? Text(t2) : "none"));
        if (r.Overrides.Any && info.Model.Attention is { } a && r.Overrides.Apply(a) != a)
            conflicts.Add(new(RunSetting.Attention, r.Overrides.Apply(a).ToString(), a.ToString()));
        else if (r.Overrides.Any && info.Model.Attention is null)
            conflicts.Add(new(RunSetting.Attention, "given", "none: the run's model has no attention"));
        if (conflicts.Count > 0)
            throw new ResumeConflictException(runDirectory, conflicts);
        var merged = s with
        {
            Epochs = r.Epochs ?? s.Epochs,
            DataDirectory = r.DataDirectory ?? s.DataDirectory,
            MicroBatch = r.MicroBatch ?? s.MicroBatch,
        };
        var problems = merged.Problems();
        if (problems.Count > 0)
            throw new InvalidRequestException(problems);
        CheckParts(info.Model.Name, merged);
        return merged;
    }

    /// <summary>A fresh image-folder run records what the folder turned out to be: its class names and channels.</summary>
    public static RunSettings WithData(RunSettings settings, Dataset train) =>
        settings.Dataset == Datasets.ImageFolderName
            ? settings with { ClassNames = train.ClassNames.ToArray(), Channels = train.Channels }
            : settings;

    /// <summary>The model configuration of a fresh run, for the data's image shape.</summary>
    public static ModelConfig Configure(ModelEntry entry, Dataset train, AttentionOverrides overrides)
    {
        try
        {
            return ModelRegistry.Configure(entry.Name, train.Channels, train.Height, train.Width, train.Classes, overrides);
        }
        catch (ArgumentException e)
        {
            throw new InvalidRequestException(RunSetting.Attention, $"do not fit: {e.Message}");
        }
    }

    /// <summary>How many images one forward/backward pass holds (see <see cref="Trainer.PartSize(ITrainableModel, int, int?)"/>),
    /// from the model's name alone.</summary>
    public static int PartSize(string model, RunSettings settings)
    {
        CheckParts(model, settings);
        return ModelRegistry.BatchIndependent(model) ? Math.Min(settings.BatchSize, settings.MicroBatch ?? RunSettings.DefaultMicroBatch) : settings.BatchSize;
    }

    private static void CheckParts(string model, RunSettings settings)
    {
        if (!ModelRegistry.BatchIndependent(model) && settings.MicroBatch is int m && m < settings.BatchSize)
        {
            throw new InvalidRequestException(RunSetting.MicroBatch, FormattableString.Invariant(
                $"{m} cannot split a batch of {model}: its batchnorm statistics need the whole batch of {settings.BatchSize} at once; lower the batch size instead."));
        }
    }

    private static ModelEntry Find(string name)
    {
        try
        {
            return ModelRegistry.Find(name);
        }
        catch (ArgumentException)
        {
            throw new InvalidRequestException(RunSetting.Model, $"'{name}' is not one of {string.Join(", ", ModelRegistry.Names)}.");
        }
    }

    private static string Canonical(string dataset)
    {
        try
        {
            return Datasets.Canonical(dataset);
        }
        catch (ArgumentException)
        {
            throw new InvalidRequestException(RunSetting.Dataset, $"'{dataset}' is not one of {string.Join(", ", Datasets.AllNames)}.");
        }
    }

    private static string Text<T>(T value) => value switch
    {
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        null => "none",
        _ => value.ToString() ?? "",
    };
}
