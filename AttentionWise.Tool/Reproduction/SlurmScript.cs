using System.Globalization;
using System.Text;

namespace AttentionWise.Tool.Reproduction;

/// <summary>What `aw slurm` writes scripts for.</summary>
internal sealed record SlurmPlan
{
    /// <summary>"sweep" or "reproduce".</summary>
    public required string Command { get; init; }

    /// <summary>The command's options, as given after `--` (without --task, --tasks, --devices).</summary>
    public required IReadOnlyList<string> Arguments { get; init; }

    /// <summary>The command that runs aw on a node, as bash words (the apphost, or dotnet and aw.dll, quoted).</summary>
    public required string Aw { get; init; }

    /// <summary>Array tasks (each trains configurations I, I+N, …).</summary>
    public required int Tasks { get; init; }

    /// <summary>Configurations in all (for the comments).</summary>
    public required int Configurations { get; init; }

    /// <summary>Folder of the scripts and the job logs.</summary>
    public required string Directory { get; init; }

    /// <summary>Working directory of the jobs (relative paths in <see cref="Arguments"/> are taken from it).</summary>
    public required string WorkingDirectory { get; init; }

    public string? Partition { get; init; }
    public int? GpusPerTask { get; init; }
    public int? CpusPerTask { get; init; }

    /// <summary>Time limit of one array task (Slurm's format: minutes, MM:SS, HH:MM:SS, D-HH).</summary>
    public string? Time { get; init; }

    /// <summary>At most this many array tasks at once (the array's %K).</summary>
    public int? MaxParallel { get; init; }

    /// <summary>Seconds before the time limit at which Slurm sends SIGTERM to the training.</summary>
    public int SignalSeconds { get; init; } = 300;

    /// <summary>The exit code of a training stopped by a signal with a checkpoint written.</summary>
    public int StoppedExitCode { get; init; } = 75;
}

/// <summary>
/// The scripts of `aw slurm`: an sbatch job array (one task per share of the configurations; a task stopped by
/// Slurm's signal before its time limit, or by a preemption, writes a checkpoint, exits with code 75 and requeues
/// itself), a report job, and submit.sh, which submits both, the report job with --dependency=afterok on the array.
/// Plain bash with #SBATCH lines, meant to be read and edited.
/// </summary>
internal static class SlurmScript
{
    public static string ArrayFile(SlurmPlan plan) => Path.Combine(plan.Directory, $"aw-{plan.Command}.sbatch");

    public static string ReportFile(SlurmPlan plan) => Path.Combine(plan.Directory, $"aw-{plan.Command}-report.sbatch");

    public static string SubmitFile(SlurmPlan plan) => Path.Combine(plan.Directory, "submit.sh");

    /// <summary>The report step's option: --report for sweep, --report-only for reproduce.</summary>
    public static string ReportOption(string command) => command == "sweep" ? "--report" : "--report-only";

    public static string Array(SlurmPlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        var s = new StringBuilder();
        s.Append("#!/usr/bin/env bash\n");
        s.Append(Inv($"# aw {plan.Command} as a Slurm job array: {plan.Tasks} task(s) for {plan.Configurations} configuration(s); task I trains configurations\n"));
        s.Append(Inv($"# I, I+{plan.Tasks}, I+{2 * plan.Tasks}, … into the shared runs folder. Written by 'aw slurm {plan.Command}'; edit it as you need.\n"));
        s.Append("# Submit it with the report job: bash ").Append(Quote(SubmitFile(plan))).Append('\n');
        s.Append("#\n");
        s.Append(Inv($"# Before the time limit Slurm sends SIGTERM to the training (--signal, {plan.SignalSeconds} s ahead); a preemption sends it too. The\n"));
        s.Append(Inv($"# training then stops at the next step, writes a checkpoint at that step and exits with code {plan.StoppedExitCode}; this script requeues the\n"));
        s.Append("# task, and the task's next start keeps the configurations already done and resumes the interrupted one from its checkpoint.\n");
        s.Append(Inv($"#SBATCH --job-name=aw-{plan.Command}\n"));
        s.Append(Inv($"#SBATCH --array=0-{plan.Tasks - 1}{(plan.MaxParallel is int k ? Inv($"%{k}") : "")}\n"));
        s.Append("#SBATCH --ntasks=1\n");
        AppendResources(s, plan);
        s.Append("#SBATCH --output=").Append(Path.Combine(plan.Directory, $"aw-{plan.Command}-%A_%a.out")).Append('\n');
        s.Append("#SBATCH --open-mode=append\n");
        s.Append("#SBATCH --chdir=").Append(plan.WorkingDirectory).Append('\n');
        s.Append(Inv($"#SBATCH --signal=TERM@{plan.SignalSeconds}\n"));
        s.Append("#SBATCH --requeue\n");
        s.Append('\n');
        s.Append("set -uo pipefail\n");
        AppendCommand(s, plan);
        s.Append("# The batch shell waits for the training: a signal sent to it as well (a preemption) does not end it first.\n");
        s.Append("trap 'echo \"aw: the job script got a stop signal; the training stops with a checkpoint\"' TERM USR1\n");
        s.Append("echo \"aw: array task ${SLURM_ARRAY_TASK_ID} of ${SLURM_ARRAY_TASK_COUNT} (job ${SLURM_ARRAY_JOB_ID}, restart ${SLURM_RESTART_COUNT:-0}) on $(hostname)\"\n");
        s.Append("# aw reads its task from SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT.\n");
        s.Append("status=0\n");
        s.Append("srun --ntasks=1 \"${aw[@]}\" \"${args[@]}\" || status=$?\n");
        s.Append(Inv($"if [[ $status -eq {plan.StoppedExitCode} ]]; then\n"));
        s.Append("  echo \"aw: stopped with a checkpoint; requeueing ${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}\"\n");
        s.Append("  scontrol requeue \"${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}\" && exit 0\n");
        s.Append("fi\n");
        s.Append("exit \"$status\"\n");
        return s.ToString();
    }

    public static string Report(SlurmPlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        var s = new StringBuilder();
        s.Append("#!/usr/bin/env bash\n");
        s.Append(Inv($"# The report step of aw {plan.Command}: builds the CSV, the table and the plot from the run folders the array's tasks wrote.\n"));
        s.Append("# submit.sh submits it with --dependency=afterok:<the array's job id>, so it starts once every task succeeded.\n");
        s.Append(Inv($"#SBATCH --job-name=aw-{plan.Command}-report\n"));
        s.Append("#SBATCH --ntasks=1\n");
        if (plan.Partition is not null)
            s.Append("#SBATCH --partition=").Append(plan.Partition).Append('\n');
        s.Append("#SBATCH --output=").Append(Path.Combine(plan.Directory, $"aw-{plan.Command}-report-%j.out")).Append('\n');
        s.Append("#SBATCH --chdir=").Append(plan.WorkingDirectory).Append('\n');
        s.Append('\n');
        s.Append("set -euo pipefail\n");
        s.Append("# (without --device: the report trains nothing)\n");
        AppendCommand(s, plan with { Arguments = WithoutDevice(plan.Arguments) });
        s.Append("exec \"${aw[@]}\" \"${args[@]}\" ").Append(ReportOption(plan.Command)).Append('\n');
        return s.ToString();
    }

    public static string Submit(SlurmPlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        var s = new StringBuilder();
        s.Append("#!/usr/bin/env bash\n");
        s.Append("# Submits the job array, then the report job, which waits for every array task to succeed (afterok).\n");
        s.Append("set -euo pipefail\n");
        s.Append("array=$(sbatch --parsable ").Append(Quote(ArrayFile(plan))).Append(")\n");
        s.Append("array=${array%%;*}\n");
        s.Append("report=$(sbatch --parsable --dependency=afterok:\"$array\" ").Append(Quote(ReportFile(plan))).Append(")\n");
        s.Append("report=${report%%;*}\n");
        s.Append("echo \"array job $array, report job $report; logs in ").Append(plan.Directory.Replace("\"", "\\\"", StringComparison.Ordinal)).Append("\"\n");
        return s.ToString();
    }

    /// <summary>Writes the three scripts (executable where the system has modes) and returns their paths.</summary>
    public static (string Array, string Report, string Submit) Write(SlurmPlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        System.IO.Directory.CreateDirectory(plan.Directory);
        var files = (ArrayFile(plan), ReportFile(plan), SubmitFile(plan));
        foreach (var (path, text) in new[] { (files.Item1, Array(plan)), (files.Item2, Report(plan)), (files.Item3, Submit(plan)) })
        {
            File.WriteAllText(path, text, new UTF8Encoding(false));
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead
                                           | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
            }
        }
        return files;
    }

    private static void AppendResources(StringBuilder s, SlurmPlan plan)
    {
        if (plan.Partition is not null)
            s.Append("#SBATCH --partition=").Append(plan.Partition).Append('\n');
        if (plan.GpusPerTask is int g)
            s.Append(Inv($"#SBATCH --gpus-per-task={g}\n"));
        if (plan.CpusPerTask is int c)
            s.Append(Inv($"#SBATCH --cpus-per-task={c}\n"));
        if (plan.Time is not null)
            s.Append("#SBATCH --time=").Append(plan.Time).Append('\n');
    }

    private static void AppendCommand(StringBuilder s, SlurmPlan plan)
    {
        s.Append("# How the nodes start aw (the shared file system must hold it), and the command's options.\n");
        s.Append("aw=(").Append(plan.Aw).Append(")\n");
        s.Append("args=(").Append(string.Join(" ", new[] { plan.Command }.Concat(plan.Arguments).Select(Quote))).Append(")\n");
    }

    private static List<string> WithoutDevice(IReadOnlyList<string> arguments)
    {
        var kept = new List<string>();
        for (int i = 0; i < arguments.Count; i++)
        {
            if (arguments[i] == "--device")
                i++;
            else if (!arguments[i].StartsWith("--device=", StringComparison.Ordinal))
                kept.Add(arguments[i]);
        }
        return kept;
    }

    /// <summary>A word for bash: as it is when it holds only safe characters, else in single quotes.</summary>
    public static string Quote(string word)
    {
        ArgumentNullException.ThrowIfNull(word);
        if (word.Length > 0 && word.All(c => char.IsAsciiLetterOrDigit(c) || "_-./=:,+@%".Contains(c, StringComparison.Ordinal)))
            return word;
        return "'" + word.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
    }

    private static string Inv(FormattableString s) => FormattableString.Invariant(s);
}
