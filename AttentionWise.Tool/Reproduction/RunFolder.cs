using AttentionWise.Training;
using AttentionWise.Training.Checkpoints;
using AttentionWise.Training.Models;

namespace AttentionWise.Tool.Reproduction;

/// <summary>Where a training run stands, judged from the files `aw train` writes.</summary>
internal enum RunProgress
{
    /// <summary>No run folder, or a folder without a run in it.</summary>
    Missing,

    /// <summary>A run started but neither completed an epoch nor stopped at a non-finite loss (killed in epoch 1):
    /// there is nothing to resume from.</summary>
    Started,

    /// <summary>Some epochs are done and checkpointed; more were asked for.</summary>
    Partial,

    /// <summary>Every epoch the run was asked for is done.</summary>
    Complete,

    /// <summary>The training loss became NaN or infinite; the run stopped there (a result, not an error).</summary>
    Diverged,
}

/// <summary>
/// What a run folder written by `aw train` holds: its configuration (config.json), its per-epoch rows (epochs.csv),
/// where the loss first became non-finite (steps.csv) and how many epochs its checkpoint holds. Used by
/// `aw reproduce` to continue where it stopped and to write its report from whatever runs exist.
/// </summary>
internal sealed class RunFolder
{
    private RunFolder(string directory) => Directory = directory;

    public string Directory { get; }

    /// <summary>The folder's name (the run name).</summary>
    public string Name => Path.GetFileName(Path.TrimEndingDirectorySeparator(Directory));

    public bool HasConfig => Model is not null && Settings is not null;

    public ModelConfig? Model { get; private set; }
    public RunSettings? Settings { get; private set; }
    public long? Parameters { get; private set; }
    public int? TrainImages { get; private set; }
    public int? TestImages { get; private set; }
    public string? DeviceName { get; private set; }

    /// <summary>The rows of epochs.csv (empty when there are none).</summary>
    public IReadOnlyList<EpochRow> Epochs { get; private set; } = [];

    /// <summary>Epochs held by checkpoint.safetensors (0 without one).</summary>
    public int CheckpointEpoch { get; private set; }

    /// <summary>Steps of the next epoch a checkpoint written inside it holds (a training stopped by a signal); 0 otherwise.</summary>
    public int CheckpointStep { get; private set; }

    /// <summary>The first step whose loss was not finite, if any.</summary>
    public (int Epoch, int Step, float Loss)? Divergence { get; private set; }

    /// <summary>Steps per epoch seen in steps.csv (the largest step number), or null.</summary>
    public int? StepsPerEpoch { get; private set; }

    public DateTime LastWrite { get; private set; }

    /// <summary>Whether any file of a run is there.</summary>
    public bool Exists { get; private set; }

    public RunProgress Progress
    {
        get
        {
            if (!Exists || !HasConfig)
                return RunProgress.Missing;
            if (Divergence is not null)
                return RunProgress.Diverged;
            if (CheckpointEpoch == 0 && CheckpointStep == 0)
                return RunProgress.Started;
            return CheckpointEpoch >= Settings!.Epochs ? RunProgress.Complete : RunProgress.Partial;
        }
    }

    /// <summary>The last completed epoch's row, if any.</summary>
    public EpochRow? Last => Epochs.Count > 0 ? Epochs[^1] : null;

    /// <summary>Wall time of the epochs trained (training plus evaluation), summed over epochs.csv.</summary>
    public double TrainSeconds => Epochs.Sum(e => e.EpochSeconds);

    /// <summary>config.json as written by the run, when it is there and valid.</summary>
    public RunConfiguration? Config { get; private set; }

    /// <summary>summary.json, when the run has ended and it is valid.</summary>
    public RunSummary? Summary { get; private set; }

    /// <summary>Why a file of the folder could not be read (damaged, or of another version), one entry per file.</summary>
    public IReadOnlyList<string> Problems => _problems;

    private readonly List<string> _problems = [];

    /// <summary>Reads a run folder through the record types the run writes; unreadable or damaged files count as missing
    /// rather than failing (<see cref="Problems"/> says why).</summary>
    public static RunFolder Read(string directory)
    {
        var run = new RunFolder(directory);
        if (!System.IO.Directory.Exists(directory))
            return run;
        string config = Path.Combine(directory, RunFiles.ConfigFile);
        string epochs = Path.Combine(directory, RunFiles.EpochsFile);
        string steps = Path.Combine(directory, RunFiles.StepsFile);
        string summary = Path.Combine(directory, RunFiles.SummaryFile);
        string checkpoint = Path.Combine(directory, Checkpoint.FileName);
        run.Exists = File.Exists(config) || File.Exists(epochs) || File.Exists(checkpoint);
        if (!run.Exists)
            return run;
        run.LastWrite = new[] { config, epochs, steps, checkpoint }.Where(File.Exists).Max(File.GetLastWriteTimeUtc);
        if (File.Exists(config))
        {
            run.Config = run.Try(() => RunFiles.ReadConfig(config));
            run.Model = run.Config?.ModelOptions;
            run.Settings = run.Config?.Training;
            run.Parameters = run.Config?.Parameters;
            run.TrainImages = run.Config?.Dataset.TrainImages;
            run.TestImages = run.Config?.Dataset.TestImages;
            run.DeviceName = run.Config?.Device.Name;
        }
        if (File.Exists(summary))
            run.Summary = run.Try(() => RunFiles.ReadSummary(summary));
        if (File.Exists(epochs))
            run.Epochs = run.Try(() => RunFiles.ReadRows<EpochRow>(epochs)) ?? [];
        if (File.Exists(steps) && run.Try(() => RunFiles.ReadRows<StepRow>(steps)) is { } stepRows)
        {
            var first = stepRows.FirstOrDefault(r => !float.IsFinite(r.Loss));
            if (first is not null)
                run.Divergence = (first.Epoch, first.Step, first.Loss);
            run.StepsPerEpoch = stepRows.Count > 0 ? stepRows.Max(r => r.Step) : null;
        }
        if (File.Exists(checkpoint))
        {
            try
            {
                var info = Checkpoint.ReadInfo(checkpoint);
                run.CheckpointEpoch = info.Epoch;
                run.CheckpointStep = info.Step;
            }
            catch (CheckpointException e)
            {
                run._problems.Add(e.Message);
                run.CheckpointEpoch = 0;
            }
        }
        return run;
    }

    private T? Try<T>(Func<T> read)
        where T : class
    {
        try
        {
            return read();
        }
        catch (RunFolderException e)
        {
            _problems.Add(e.Message);
            return null;
        }
    }

    /// <summary>Removes the files of a run that never completed an epoch, so that a fresh run can start there
    /// (under the folder's lock: a run that is still going is not touched).</summary>
    /// <exception cref="RunInUseException">Another process trains there.</exception>
    public void ClearUnfinished() =>
        RunFiles.Delete(Directory, RunFiles.ConfigFile, RunFiles.EpochsFile, RunFiles.StepsFile, RunFiles.SummaryFile);
}
