using System.Globalization;

namespace AttentionWise.Training;

/// <summary>The settings of a training request, by what they mean (a front end maps each to its own option name).</summary>
public enum RunSetting
{
    Model,
    Dataset,
    Epochs,
    BatchSize,
    LearningRate,
    AttentionLearningRate,
    Seed,
    DataDirectory,
    Run,
    RunsDirectory,
    TrainLimit,
    TestLimit,
    MicroBatch,
    Channels,
    Resize,
    ValSplit,

    /// <summary>The attention options together: heads, layers, post-conv batchnorm, skip, head bias.</summary>
    Attention,
}

/// <summary>What is wrong with one setting. <see cref="Text"/> follows the setting's name: "must be at least 1, not 0.".</summary>
public sealed record SettingProblem(RunSetting Setting, string Text)
{
    public override string ToString() => $"{RunSettingNames.Of(Setting)} {Text}";
}

/// <summary>A setting given for --resume that differs from the run's own.</summary>
/// <param name="Given">The value asked for now.</param>
/// <param name="Saved">The run's value.</param>
public sealed record SettingConflict(RunSetting Setting, string Given, string Saved)
{
    public override string ToString() => $"{RunSettingNames.Of(Setting)} {Given} (the run has {Saved})";
}

/// <summary>Plain names of the settings, for messages of the training layer.</summary>
public static class RunSettingNames
{
    public static string Of(RunSetting setting) => setting switch
    {
        RunSetting.Model => "model",
        RunSetting.Dataset => "dataset",
        RunSetting.Epochs => "epochs",
        RunSetting.BatchSize => "batch size",
        RunSetting.LearningRate => "learning rate",
        RunSetting.AttentionLearningRate => "attention learning rate",
        RunSetting.Seed => "seed",
        RunSetting.DataDirectory => "data directory",
        RunSetting.Run => "run name",
        RunSetting.RunsDirectory => "runs directory",
        RunSetting.TrainLimit => "training image limit",
        RunSetting.TestLimit => "test image limit",
        RunSetting.MicroBatch => "micro-batch",
        RunSetting.Channels => "channels",
        RunSetting.Resize => "resize",
        RunSetting.ValSplit => "validation split",
        _ => "the attention options (heads, layers, post-conv batchnorm, skip, head bias)",
    };
}

/// <summary>The training layer's own errors. Each names the run, file or setting concerned; a front end decides
/// how to show it and which exit code it means.</summary>
public abstract class TrainingException : Exception
{
    protected TrainingException(string message) : base(message) { }
    protected TrainingException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>A request that cannot be carried out as given: a value out of range, an unknown name, a run name that is
/// not one folder name, options that do not apply to the model.</summary>
public sealed class InvalidRequestException : TrainingException
{
    public InvalidRequestException(IReadOnlyList<SettingProblem> problems)
        : base(string.Join(" ", problems.Select(p => Sentence(p.ToString()))))
    {
        Problems = problems;
    }

    public InvalidRequestException(RunSetting setting, string text) : this([new SettingProblem(setting, text)]) { }

    public IReadOnlyList<SettingProblem> Problems { get; }

    internal static string Sentence(string s) => s.Length > 0 && char.IsLower(s[0]) ? char.ToUpperInvariant(s[0]) + s[1..] : s;
}

/// <summary>A resumed run was asked for with settings that disagree with the run's own (only the number of
/// epochs, the data directory, the micro-batch and the device may change).</summary>
public sealed class ResumeConflictException : TrainingException
{
    public ResumeConflictException(string runDirectory, IReadOnlyList<SettingConflict> conflicts)
        : base($"{runDirectory}: a resumed run keeps its own settings; these disagree with them: {string.Join("; ", conflicts)}.")
    {
        RunDirectory = runDirectory;
        Conflicts = conflicts;
    }

    public string RunDirectory { get; }
    public IReadOnlyList<SettingConflict> Conflicts { get; }
}

/// <summary>A fresh run was asked for in a folder that already holds one.</summary>
public sealed class RunExistsException : TrainingException
{
    public RunExistsException(string runDirectory)
        : base($"The run directory {runDirectory} already holds a run: resume it, or choose another run name.")
    {
        RunDirectory = runDirectory;
    }

    public string RunDirectory { get; }
}

/// <summary>Another process holds the run folder's lock: it is training (or clearing) that run now.</summary>
public sealed class RunInUseException : TrainingException
{
    public RunInUseException(string runDirectory, int? processId)
        : base($"{runDirectory} is in use: {Describe(processId)} holds its lock ({Path.Combine(runDirectory, RunLock.LockFile)}) and is training that run. " +
               "Nothing was changed; wait for that process to end, or choose another run name.")
    {
        RunDirectory = runDirectory;
        ProcessId = processId;
    }

    public string RunDirectory { get; }

    /// <summary>The process that holds the lock, when it could be read.</summary>
    public int? ProcessId { get; }

    /// <summary>"process 1234", "process 1234 (this process)" or "another process".</summary>
    public string Holder => Describe(ProcessId);

    public string LockPath => Path.Combine(RunDirectory, RunLock.LockFile);

    private static string Describe(int? pid) => pid switch
    {
        null => "another process",
        int p when p == Environment.ProcessId => string.Create(CultureInfo.InvariantCulture, $"process {p} (this process)"),
        int p => string.Create(CultureInfo.InvariantCulture, $"process {p}"),
    };
}

/// <summary>A run folder's files are damaged, or disagree with each other or with the checkpoint, so the run cannot go
/// on without losing something; nothing was changed.</summary>
public sealed class RunFolderException : TrainingException
{
    public RunFolderException(string message) : base(message) { }
    public RunFolderException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>The model, its batch or the data set needs more memory than the device has, or a tensor larger than one
/// device tensor can hold; found before anything was allocated.</summary>
public sealed class ModelTooLargeException : TrainingException
{
    public ModelTooLargeException(string message, long requiredBytes) : base(message)
    {
        RequiredBytes = requiredBytes;
    }

    /// <summary>A lower bound of the device memory it would need.</summary>
    public long RequiredBytes { get; }
}
