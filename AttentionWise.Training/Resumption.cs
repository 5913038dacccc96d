using System.Globalization;
using AttentionWise.Training.Checkpoints;

namespace AttentionWise.Training;

/// <summary>
/// The checks before a run continues from its checkpoint, and the rewind of its logs to the checkpoint. A run folder
/// whose files disagree with the checkpoint (epochs.csv with other epochs, steps.csv with another number of steps
/// per epoch, config.json with another model or settings) is refused with a <see cref="RunFolderException"/> before
/// any file is touched: such a folder was written by something else, and continuing would lose or mix its rows.
/// </summary>
internal static class Resumption
{
    /// <summary>Checks config.json and epochs.csv against the checkpoint; returns the run's configuration (null when
    /// config.json is missing: it is written again from the checkpoint).</summary>
    public static RunConfiguration? CheckFolder(string runDirectory, CheckpointInfo info)
    {
        string checkpoint = Path.Combine(runDirectory, Checkpoint.FileName);
        string configPath = Path.Combine(runDirectory, RunFiles.ConfigFile);
        RunConfiguration? config = null;
        if (File.Exists(configPath))
        {
            try
            {
                config = RunFiles.ReadConfig(configPath);
            }
            catch (RunFolderException e)
            {
                throw new RunFolderException(
                    $"{e.Message} Nothing was changed; to resume from the checkpoint, repair or remove {configPath} (it is then written again from the checkpoint's settings).", e);
            }
            var differences = Differences(config, info);
            if (differences.Count > 0)
            {
                throw new RunFolderException(
                    $"{configPath} disagrees with {checkpoint}: {string.Join("; ", differences)}. The folder holds files of more than one run; nothing was changed.");
            }
        }

        string epochsPath = Path.Combine(runDirectory, RunFiles.EpochsFile);
        int e0 = info.Epoch;
        if (!File.Exists(epochsPath))
        {
            if (e0 > 0)
                throw new RunFolderException(Inv($"{epochsPath} is missing but {checkpoint} was written after epoch {e0}: the rows of epochs 1 to {e0} are lost; nothing was changed."));
            return config;
        }
        var rows = RunFiles.ReadRows<EpochRow>(epochsPath);
        for (int i = 0; i < rows.Count; i++)
        {
            if (rows[i].Epoch != i + 1)
                throw new RunFolderException(Inv($"{epochsPath}: line {i + 2} is epoch {rows[i].Epoch}, expected {i + 1} (the rows are epochs 1, 2, 3, … in order); nothing was changed."));
        }
        // The checkpoint follows its epoch's row: a run stopped between the two has one row more.
        if (rows.Count < e0 || rows.Count > e0 + 1)
        {
            throw new RunFolderException(Inv(
                $"{epochsPath} holds {rows.Count} epoch(s) but {checkpoint} was written after epoch {e0}: they disagree (another run wrote here, or a file was replaced); nothing was changed."));
        }
        return config;
    }

    /// <summary>Checks that steps.csv holds, for every epoch up to the checkpoint's, steps 1 to
    /// <paramref name="stepsPerEpoch"/> (the data and batch size of the resumed run), then at least the
    /// <paramref name="step"/> steps of the next epoch that a checkpoint inside it covers, and at most that epoch.</summary>
    public static void CheckSteps(string runDirectory, int epoch, int step, int stepsPerEpoch, string what)
    {
        string path = Path.Combine(runDirectory, RunFiles.StepsFile);
        if (!File.Exists(path))
        {
            if (epoch > 0 || step > 0)
                throw new RunFolderException(Inv($"{path} is missing but the checkpoint was written after epoch {epoch} step {step}; nothing was changed."));
            return;
        }
        var rows = RunFiles.ReadRows<StepRow>(path);
        for (int i = 0; i < rows.Count; i++)
        {
            int expectedEpoch = i / stepsPerEpoch + 1, expectedStep = i % stepsPerEpoch + 1;
            if (expectedEpoch > epoch + 1)
            {
                throw new RunFolderException(Inv(
                    $"{path}: line {i + 2} is epoch {rows[i].Epoch} step {rows[i].Step}, after the end of epoch {epoch + 1}, which the checkpoint (epoch {epoch}) has not reached; nothing was changed."));
            }
            if (rows[i].Epoch != expectedEpoch || rows[i].Step != expectedStep)
            {
                throw new RunFolderException(Inv(
                    $"{path}: line {i + 2} is epoch {rows[i].Epoch} step {rows[i].Step}, but {what} make {stepsPerEpoch} steps per epoch, so epoch {expectedEpoch} step {expectedStep} was expected: the data, the batch size or the file changed; nothing was changed."));
            }
        }
        if (rows.Count < (long)epoch * stepsPerEpoch + step)
            throw new RunFolderException(Inv($"{path} holds {rows.Count} steps but the checkpoint's {epoch} epoch(s) of {stepsPerEpoch} steps and {step} more took {(long)epoch * stepsPerEpoch + step}; nothing was changed."));
    }

    /// <summary>Drops the rows after the checkpoint's epoch (and, for a checkpoint inside the next epoch, after its
    /// <paramref name="step"/>) from both logs (they are trained again) and returns the epochs kept.</summary>
    public static List<EpochRow> Rewind(string runDirectory, int epoch, int step = 0)
    {
        string epochsPath = Path.Combine(runDirectory, RunFiles.EpochsFile);
        CsvLog<EpochRow>.TruncateAfterEpoch(epochsPath, epoch);
        CsvLog<StepRow>.TruncateAfterStep(Path.Combine(runDirectory, RunFiles.StepsFile), epoch, step);
        return File.Exists(epochsPath) ? RunFiles.ReadRows<EpochRow>(epochsPath) : [];
    }

    private static List<string> Differences(RunConfiguration config, CheckpointInfo info)
    {
        var d = new List<string>();
        if (config.Model != info.Model.Name || config.ModelOptions != info.Model)
            d.Add($"model {config.ModelOptions} against {info.Model}");
        // The number of epochs, the data directory and the micro-batch may change when a run resumes.
        static RunSettings Fixed(RunSettings s) => s with { Epochs = 0, DataDirectory = null, MicroBatch = null };
        if (Fixed(config.Training) != Fixed(info.Settings))
            d.Add($"training settings {Describe(config.Training)} against {Describe(info.Settings)}");
        if (config.Seed != info.Settings.Seed)
            d.Add(Inv($"seed {config.Seed} against {info.Settings.Seed}"));
        return d;
    }

    private static string Describe(RunSettings s) =>
        Inv($"({s.Dataset}, batch {s.BatchSize}, lr {s.LearningRate}, attention lr {Text(s.AttentionLearningRate)}, seed {s.Seed}, ") +
        Inv($"train limit {Text(s.TrainLimit)}, test limit {Text(s.TestLimit)})");

    private static string Text<T>(T? v) where T : struct, IFormattable => v is T x ? x.ToString(null, CultureInfo.InvariantCulture) : "none";

    private static string Inv(FormattableString s) => FormattableString.Invariant(s);
}
