namespace AttentionWise.Tool.Cli;

/// <summary>Process exit codes of the `aw` tool.</summary>
internal static class ExitCodes
{
    public const int Ok = 0;

    /// <summary>A missing, damaged or inconsistent file (data, checkpoint, run folder), a run folder in use by another
    /// process, a model too large for the device, or any other runtime error.</summary>
    public const int Error = 1;

    /// <summary>Bad command line: unknown option, model, dataset or device, a bad value, options that disagree with the
    /// run being resumed, a run name that is not one folder name, or a fresh run into a folder that holds one.</summary>
    public const int Usage = 2;

    /// <summary>The training loss became NaN or infinite.</summary>
    public const int Diverged = 3;

    /// <summary>A stop signal (SIGTERM, SIGUSR1 or the one named with --stop-signal) stopped the training at a step
    /// boundary and a checkpoint at that step was written: run the same command again (or 'aw train --resume') to continue.
    /// 75 is EX_TEMPFAIL of sysexits.h, "try again later"; a Slurm job script requeues itself on it.</summary>
    public const int Stopped = 75;
}
