using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using AttentionWise.Training.Checkpoints;
using AttentionWise.Training.Models;
using AttentionWise.Training.Training;

namespace AttentionWise.Training.Reproduction;

/// <summary>Where a training run stands, judged from the files `aw train` writes.</summary>
public enum RunProgress
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
public sealed class RunFolder
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
            if (CheckpointEpoch == 0)
                return RunProgress.Started;
            return CheckpointEpoch >= Settings!.Epochs ? RunProgress.Complete : RunProgress.Partial;
        }
    }

    /// <summary>The last completed epoch's row, if any.</summary>
    public EpochRow? Last => Epochs.Count > 0 ? Epochs[^1] : null;

    /// <summary>Wall time of the epochs trained (training plus evaluation), summed over epochs.csv.</summary>
    public double TrainSeconds => Epochs.Sum(e => e.EpochSeconds);

    /// <summary>Reads a run folder; unreadable or damaged files count as missing rather than failing.</summary>
    public static RunFolder Read(string directory)
    {
        var run = new RunFolder(directory);
        if (!System.IO.Directory.Exists(directory))
            return run;
        string config = Path.Combine(directory, Trainer.ConfigFile);
        string epochs = Path.Combine(directory, Trainer.EpochsFile);
        string steps = Path.Combine(directory, Trainer.StepsFile);
        string checkpoint = Path.Combine(directory, Checkpoint.FileName);
        run.Exists = File.Exists(config) || File.Exists(epochs) || File.Exists(checkpoint);
        if (!run.Exists)
            return run;
        run.LastWrite = new[] { config, epochs, steps, checkpoint }.Where(File.Exists).Max(File.GetLastWriteTimeUtc);
        try
        {
            var node = JsonNode.Parse(File.ReadAllText(config))!.AsObject();
            run.Model = ModelConfig.FromJson(node["model_options"]!.ToJsonString());
            run.Settings = RunSettings.FromJson(node["training"]!.ToJsonString());
            run.Parameters = node["parameters"]?.GetValue<long>();
            run.TrainImages = node["dataset"]?["train_images"]?.GetValue<int>();
            run.TestImages = node["dataset"]?["test_images"]?.GetValue<int>();
            run.DeviceName = node["device"]?["name"]?.GetValue<string>();
        }
        catch (Exception e) when (e is IOException or JsonException or InvalidOperationException or NullReferenceException or FormatException)
        {
            run.Model = null;
            run.Settings = null;
        }
        try
        {
            if (File.Exists(epochs))
                run.Epochs = CsvLog<EpochRow>.ReadAll(epochs);
        }
        catch (Exception e) when (e is IOException or FormatException or InvalidOperationException or CsvHelper.CsvFormatException)
        {
            run.Epochs = [];
        }
        ReadSteps(run, steps);
        if (File.Exists(checkpoint))
        {
            try
            {
                run.CheckpointEpoch = Checkpoint.Load(checkpoint).Info.Epoch;
            }
            catch (CheckpointException)
            {
                run.CheckpointEpoch = 0;
            }
        }
        return run;
    }

    /// <summary>Scans steps.csv (epoch,step,loss,grad_mean) for the first non-finite loss and the steps per epoch.</summary>
    private static void ReadSteps(RunFolder run, string path)
    {
        if (!File.Exists(path))
            return;
        int maxStep = 0;
        foreach (var line in File.ReadLines(path).Skip(1))
        {
            var f = line.Split(',');
            if (f.Length < 3
                || !int.TryParse(f[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out int epoch)
                || !int.TryParse(f[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out int step))
                continue;
            maxStep = Math.Max(maxStep, step);
            bool parsed = float.TryParse(f[2], NumberStyles.Float, CultureInfo.InvariantCulture, out float loss);
            if (run.Divergence is null && (!parsed || !float.IsFinite(loss)))
                run.Divergence = (epoch, step, parsed ? loss : float.NaN);
        }
        run.StepsPerEpoch = maxStep > 0 ? maxStep : null;
    }

    /// <summary>Removes the files of a run that never completed an epoch, so that a fresh run can start there.</summary>
    public void ClearUnfinished()
    {
        foreach (var f in new[] { Trainer.ConfigFile, Trainer.EpochsFile, Trainer.StepsFile, Trainer.SummaryFile })
        {
            string p = Path.Combine(Directory, f);
            if (File.Exists(p))
                File.Delete(p);
        }
    }
}
