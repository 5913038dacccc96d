using AttentionWise.Training.Checkpoints;
using AttentionWise.Training.Models;

namespace AttentionWise.Training;

/// <summary>How a run ended.</summary>
public enum RunStatus
{
    /// <summary>Every requested epoch was trained.</summary>
    Completed,

    /// <summary>The training loss became NaN or infinite; the run stopped there.</summary>
    Diverged,

    /// <summary>--resume found the run already at the requested number of epochs.</summary>
    AlreadyComplete,

    /// <summary>A stop was asked for (a signal); a checkpoint at the step where it stopped was written, and --resume continues from it.</summary>
    Stopped,
}

/// <summary>What the progress display learns when a run starts.</summary>
public sealed record RunStart(
    string RunDirectory,
    ModelConfig Model,
    long ParameterCount,
    DeviceInfo Device,
    RunSettings Settings,
    int TrainImages,
    int TestImages,
    int StepsPerEpoch,
    int FirstEpoch,
    int FirstStep = 0);

/// <summary>The end of a run.</summary>
public sealed record TrainingOutcome(
    RunStatus Status,
    string RunDirectory,
    ModelConfig Model,
    long ParameterCount,
    string DeviceName,
    IReadOnlyList<EpochRow> Epochs,
    long PeakDeviceBytes,
    double WallSeconds,
    int? DivergedEpoch = null,
    int? DivergedStep = null,
    float? DivergedLoss = null,
    (int Epoch, int Step)? StoppedAt = null)
{
    /// <summary>What the end of a stopped run means for its files (null unless stopped).</summary>
    public string? StopMessage => StoppedAt is not (int epoch, int step)
        ? null
        : FormattableString.Invariant(
            $"stopped by a signal after epoch {epoch} step {step}; {Checkpoint.FileName} holds that step: resume with 'aw train --resume --run {Path.GetFileName(RunDirectory)}' (exit code 75)");

    /// <summary>What the end of a diverged run means for its files (null unless diverged).</summary>
    public string? DivergenceMessage => Status != RunStatus.Diverged
        ? null
        : FormattableString.Invariant(
            $"The training loss became non-finite ({DivergedLoss}) at epoch {DivergedEpoch}, step {DivergedStep}; the run stopped there. ")
          + (DivergedEpoch > 1
              ? FormattableString.Invariant($"epochs.csv and steps.csv hold every row up to that step, and {Checkpoint.FileName} is the checkpoint after epoch {DivergedEpoch - 1}.")
              : "epochs.csv and steps.csv hold every row up to that step; no epoch completed, so there is no checkpoint.");
}
