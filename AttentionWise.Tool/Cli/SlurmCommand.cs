using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using AttentionWise.Tool.Reproduction;
using AttentionWise.Training.Models;

namespace AttentionWise.Tool.Cli;

/// <summary>`aw slurm sweep|reproduce`.</summary>
internal static class SlurmCommand
{
    public static Command Build(CliIO io)
    {
        var command = new Command("slurm",
            "Write a Slurm job array for 'aw sweep' or 'aw reproduce' (one array task per share of the configurations, each trained into the shared runs folder), " +
            "a report job that runs once every task succeeded (--dependency=afterok) and submit.sh that submits both; --submit submits them with sbatch. " +
            "Give the command's own options after --, e.g. 'aw slurm sweep --partition gpu --gpus-per-task 1 --time 2:00:00 -- --models attention-a,attention-b --epochs 3'. " +
            "The array sets --signal=TERM@<lead> and --requeue: near its time limit, or when preempted, a task's training stops at a step with a checkpoint " +
            "(exit code 75), the task requeues itself and resumes there.");
        foreach (var name in new[] { "sweep", "reproduce" })
            command.Subcommands.Add(Sub(io, name));
        return command;
    }

    private static Command Sub(CliIO io, string name)
    {
        var partition = new Option<string>("--partition") { Description = "Slurm partition of the jobs. Default: the cluster's.", HelpName = "P" };
        var gpus = CliOptions.Positive("--gpus-per-task", "GPUs per array task (--gpus-per-task). Default: none (pass --device cuda after -- to train on them).", "G");
        var cpus = CliOptions.Positive("--cpus-per-task", "CPU cores per array task. Default: the cluster's.", "C");
        var time = new Option<string>("--time") { Description = "Time limit of one array task, in Slurm's format (e.g. 30, 2:00:00, 1-00). Default: the partition's.", HelpName = "T" };
        var maxParallel = CliOptions.Positive("--max-parallel", "At most K array tasks at once (--array=0-N%K). Default: no limit.", "K");
        var tasks = CliOptions.Positive("--tasks", "Array tasks. Default: one per configuration (model or Table 1 row).");
        var signal = CliOptions.Positive("--signal-lead", "Seconds before the time limit at which Slurm sends SIGTERM to the training (--signal=TERM@S). Default: 300.", "S");
        var dir = new Option<string>("--dir") { Description = "Folder for the scripts and the job logs.", DefaultValueFactory = _ => Path.Combine("runs", "slurm"), HelpName = "DIR" };
        var aw = new Option<string>("--aw")
        {
            Description = "How the nodes start aw (a shell command line). Default: this very program, by its absolute path (it must be on a file system the nodes share).",
            HelpName = "COMMAND",
        };
        var submit = new Option<bool>("--submit") { Description = "Submit the array and the report job with sbatch (else only write the scripts)." };
        var rest = new Argument<string[]>("OPTIONS") { Description = $"Options of 'aw {name}', after --.", Arity = ArgumentArity.ZeroOrMore };

        var command = new Command(name,
            $"Write (and with --submit, submit) a Slurm job array of 'aw {name}' and its report job ('aw {name} {SlurmScript.ReportOption(name)}').")
        {
            partition, gpus, cpus, time, maxParallel, tasks, signal, dir, aw, submit, rest,
        };
        command.SetAction(parse => io.Guard(() =>
        {
            var arguments = parse.GetValue(rest) ?? [];
            foreach (var owned in new[] { "--task", "--tasks", "--devices", "--report", "--report-only", "--plot-only" })
            {
                if (arguments.Any(a => a == owned || a.StartsWith(owned + "=", StringComparison.Ordinal)))
                    throw new UsageException($"{owned} belongs to the job scripts, not to the options after --.");
            }
            int configurations = Configurations(io, name, arguments);
            int n = CliOptions.Given(parse, tasks) ?? configurations;
            var plan = new SlurmPlan
            {
                Command = name,
                Arguments = arguments,
                // A command line of the user's own goes in as it is; this program's path is quoted.
                Aw = CliOptions.Given(parse, aw) ?? string.Join(" ", Fanout.Self().Select(SlurmScript.Quote)),
                Tasks = n,
                Configurations = configurations,
                Directory = Path.GetFullPath(parse.GetValue(dir) ?? Path.Combine("runs", "slurm")),
                WorkingDirectory = Environment.CurrentDirectory,
                Partition = CliOptions.Given(parse, partition),
                GpusPerTask = CliOptions.Given(parse, gpus),
                CpusPerTask = CliOptions.Given(parse, cpus),
                Time = CliOptions.Given(parse, time),
                MaxParallel = CliOptions.Given(parse, maxParallel),
                SignalSeconds = CliOptions.Given(parse, signal) ?? 300,
                StoppedExitCode = ExitCodes.Stopped,
            };
            var (array, report, submitScript) = SlurmScript.Write(plan);
            io.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"wrote {array} ({n} array task(s) for {configurations} configuration(s))"));
            io.Out.WriteLine($"wrote {report} (the report job)");
            io.Out.WriteLine($"wrote {submitScript}: 'bash {submitScript}' submits both");
            if (!parse.GetValue(submit))
                return ExitCodes.Ok;
            return Submit(io, submitScript);
        }));
        return command;
    }

    /// <summary>How many configurations the command's options select; they are parsed as the command would parse them.</summary>
    private static int Configurations(CliIO io, string name, string[] arguments)
    {
        var parse = Program.BuildRoot(io).Parse([name, .. arguments]);
        if (parse.Errors.Count > 0)
            throw new UsageException($"the options after -- are not valid for 'aw {name}': {parse.Errors[0].Message}");
        string? list = parse.GetValue<string>("--models");
        if (name == "reproduce")
            return Table1.Select(list).Count;
        return list is null
            ? ModelRegistry.Names.Count
            : ModelRegistry.Names.Count(n => list.Split(',', StringSplitOptions.TrimEntries).Any(m => ModelRegistry.IsKnown(m) && ModelRegistry.Find(m).Name == n));
    }

    private static int Submit(CliIO io, string script)
    {
        var info = new ProcessStartInfo("bash") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(script);
        Process p;
        try
        {
            p = Process.Start(info) ?? throw new InvalidOperationException("bash did not start.");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"cannot run bash to submit the jobs: {e.Message}", e);
        }
        using (p)
        {
            var stdout = p.StandardOutput.ReadToEndAsync();
            string stderr = p.StandardError.ReadToEnd();
            p.WaitForExit();
            io.Out.Write(stdout.Result);
            if (p.ExitCode != 0)
                return io.Fail(ExitCodes.Error, $"sbatch failed (is Slurm installed and reachable?): {stderr.Trim().Replace('\n', ' ')}");
        }
        return ExitCodes.Ok;
    }
}
