using System.CommandLine;
using System.Globalization;
using AttentionWise.Tool.Reproduction;
using AttentionWise.Training;
using Spectre.Console;

namespace AttentionWise.Tool.Cli;

/// <summary>`aw reproduce`.</summary>
internal static class ReproduceCommand
{
    public static Command Build(CliIO io)
    {
        var models = new Option<string>("--models")
        {
            Description = $"Comma list of rows to train (a-h also work). Default: all. Rows: {string.Join(", ", Table1.Keys)}.",
            HelpName = "ROWS",
        };
        models.Validators.Add(r =>
        {
            try
            {
                Table1.Select(r.GetValueOrDefault<string>());
            }
            catch (ArgumentException e)
            {
                r.AddError(e.Message);
            }
        });
        var epochs = CliOptions.Positive("--epochs", $"Epochs per row (the paper: {Table1.PaperEpochs}). A row trained for fewer epochs before continues from its checkpoint. Default: {Table1.PaperEpochs}.");
        var trainLimit = CliOptions.Positive("--train-limit", "Train on the first N training images only (a reduced run, labelled REDUCED in the report).");
        var testLimit = CliOptions.Positive("--test-limit", "Evaluate on the first N test images only (labelled REDUCED).");
        var batch = CliOptions.Positive("--batch-size", "Mini-batch size. Default: the paper's, 4096 on Fashion-MNIST and 1024 on CIFAR-10 (another is labelled MODIFIED).");
        var lr = CliOptions.PositiveFloat("--lr", "Adam learning rate of every row (segregated rows keep 0.1 for the attention weights). Default: the paper's 0.001 (another is labelled MODIFIED).");
        var seed = new Option<ulong>("--seed") { Description = $"Seed of the initial weights and the shuffles. Default: {RunSettings.DefaultSeed}.", HelpName = "N" };
        var device = CliOptions.Device();
        var data = new Option<string>("--data")
        {
            Description = "Directory with the Fashion-MNIST files. Default: /usr/share/datasets/fashion-mnist/ (Debian package dataset-fashion-mnist). " +
                          "When it also holds CIFAR-10's .bin files (or a cifar-10-batches-bin folder), the CIFAR-10 rows use them.",
            HelpName = "DIR",
        };
        var cifar = new Option<string>("--cifar-data")
        {
            Description = "Directory with CIFAR-10's binary version (data_batch_1.bin … test_batch.bin, or the folder cifar-10-batches-bin). " +
                          "Without it, and without CIFAR-10 in --data, the three CIFAR-10 rows are skipped and the report says why.",
            HelpName = "DIR",
        };
        var output = new Option<string>("--out") { Description = "Directory for table1.md and table1.csv.", DefaultValueFactory = _ => "reports", HelpName = "DIR" };
        var runsDir = new Option<string>("--runs-dir") { Description = "Directory of the run folders (one per row: table1-<row>[budget suffix]).", DefaultValueFactory = _ => "runs", HelpName = "DIR" };
        var force = new Option<bool>("--force") { Description = "Train the chosen rows again from scratch, even when their runs are complete." };
        var reportOnly = new Option<bool>("--report-only") { Description = "Train nothing: rewrite the report from the runs that exist (the report step of a run as tasks)." };
        var (task, tasks, devices, stopSignal) = (CliOptions.Task(), CliOptions.Tasks(), CliOptions.Devices(), CliOptions.StopSignal());

        var command = new Command("reproduce",
            "Reproduce the paper's Table 1: trains control, A-H, the single-head model and B without skip connection (segregated, attention lr 0.1) on Fashion-MNIST, " +
            "and the three CIFAR-10 runs when CIFAR-10 is given, each as a normal run folder (as 'aw train'), then writes <out>/table1.md and <out>/table1.csv: " +
            "our parameters, loss (sum, as the paper), accuracy, last gradient average and training time beside the paper's. " +
            "Running it again continues where it stopped: complete rows are kept (--force retrains), interrupted ones resume from their checkpoint. " +
            "A row whose loss becomes NaN is reported as collapsed and the next row trains; the exit code is 0 unless something else failed. " +
            "On a cluster: --task I/N (or SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT, or JOB_COMPLETION_INDEX with --tasks N) trains only rows I, I+N, … and writes no report; " +
            "--report-only then writes it (see 'aw slurm'). --devices 0,1 runs the tasks side by side, one process per device, then reports. " +
            "SIGTERM or SIGUSR1 stop the row in training with a checkpoint (exit code 75).")
        {
            models, epochs, trainLimit, testLimit, batch, lr, seed, device, data, cifar, output, runsDir, force, reportOnly,
            task, tasks, devices, stopSignal,
        };

        command.SetAction(parse => io.Guard(() =>
        {
            string? list = CliOptions.Given(parse, models);
            var budget = new Budget(
                CliOptions.Given(parse, epochs) ?? Table1.PaperEpochs,
                CliOptions.Given(parse, trainLimit),
                CliOptions.Given(parse, testLimit),
                CliOptions.Given(parse, batch),
                CliOptions.Given(parse, lr),
                CliOptions.Given(parse, seed));
            string outDir = parse.GetValue(output) ?? "reports";
            string runs = parse.GetValue(runsDir) ?? "runs";
            var console = Consoles.Create(io.Out, io.Interactive);
            void Line(string s)
            {
                console.MarkupLine(Markup.Escape(s));
                io.Out.Flush();
            }

            if (new[] { parse.GetValue(reportOnly), CliOptions.Given(parse, devices) is not null, CliOptions.Given(parse, task) is not null }.Count(b => b) > 1)
                throw new UsageException("--report-only, --devices and --task exclude each other.");
            if (CliOptions.Given(parse, devices) is string deviceList)
            {
                using var forward = new StopSignals(CliOptions.Given(parse, stopSignal));
                int code = Fanout.Run(io, Fanout.Devices(deviceList), Fanout.ChildArguments(parse.Tokens.Select(t => t.Value)), forward.Token);
                if (code != ExitCodes.Ok)
                    return code;
            }
            if (parse.GetValue(reportOnly) || CliOptions.Given(parse, devices) is not null)
            {
                var info = ComputeDevice.Choose(ComputeDevice.List(), parse.GetValue(device));
                var (mdOnly, csvOnly) = Reproducer.WriteReport(runs, outDir, budget, info.Name,
                    CliOptions.Given(parse, data), CliOptions.Given(parse, cifar));
                Summary(console, Table1Report.Collect(runs, budget), null);
                Line($"report: {mdOnly}, {csvOnly}");
                return ExitCodes.Ok;
            }

            using var stop = new StopSignals(CliOptions.Given(parse, stopSignal));
            var request = new ReproduceRequest
            {
                Shard = CliOptions.Shard(parse, task, tasks),
                Stop = stop.Token,
                Rows = Table1.Select(list),
                RowsNamed = list is not null,
                Budget = budget,
                Device = parse.GetValue(device),
                FashionData = CliOptions.Given(parse, data),
                CifarData = CliOptions.Given(parse, cifar),
                OutDirectory = outDir,
                RunsDirectory = runs,
                Force = parse.GetValue(force),
            };
            Line($"reproduce: {request.Rows.Count} row(s): {string.Join(", ", request.Rows.Select(r => r.Key))}; {budget.Describe()}; runs in {runs}, report in {outDir}");
            var outcome = Reproducer.Run(request, train =>
            {
                var display = new TrainingDisplay(io);
                var o = display.Run(train);
                display.Summary(o);
                return o;
            }, Line);

            Summary(console, outcome.Results, outcome.Actions);
            if (outcome.MarkdownPath is not null)
                Line($"report: {outcome.MarkdownPath}, {outcome.CsvPath}");
            else if (request.Shard is not null)
                Line($"{request.Shard}: done; 'aw reproduce --report-only' with the same options writes the report once every task has ended");
            if (outcome.Problems.Count > 0)
            {
                foreach (var p in outcome.Problems)
                    io.Error.WriteLine($"aw: error: {p}");
                return ExitCodes.Error;
            }
            return outcome.Stopped ? ExitCodes.Stopped : ExitCodes.Ok;
        }));
        return command;
    }

    private static void Summary(IAnsiConsole console, IReadOnlyList<Table1Result> results, IReadOnlyDictionary<string, RowAction>? actions)
    {
        var table = new Table().Border(TableBorder.Rounded).Title("Table 1: ours / paper");
        foreach (var (header, right) in new[]
                 {
                     ("row", false), ("this time", false), ("status", false), ("parameters", true), ("loss sum", true), ("accuracy %", true),
                     ("last grad avg", true), ("time", true), ("budget", false),
                 })
        {
            var c = new TableColumn(header);
            if (right)
                c.RightAligned();
            table.AddColumn(c);
        }
        foreach (var r in results)
        {
            var l = r.Last;
            var p = r.Row.Paper;
            string action = actions is not null && actions.TryGetValue(r.Row.Key, out var a)
                ? a switch
                {
                    RowAction.Trained => "trained",
                    RowAction.Resumed => "resumed",
                    RowAction.AlreadyDone => "kept",
                    RowAction.Skipped => "skipped",
                    RowAction.Stopped => "stopped",
                    _ => "FAILED",
                }
                : "";
            string status = r.Status + (r.Collapsed ? " (collapsed)" : "");
            table.AddRow(
                Markup.Escape(r.Row.Key),
                action,
                Markup.Escape(status),
                $"{N(r.Run?.Parameters)} / {N(p.Parameters)}",
                $"{F(l?.LossSum, "0.0000")} / {p.LossSum.ToString("0.0###", CultureInfo.InvariantCulture)}",
                Markup.Escape($"{F(l?.TestAccuracy, "0.00")} / {p.AccuracyText}"),
                $"{G(l?.LastGradMean)} / {G(p.LastGradientAverage)}",
                r.HasRun ? Table1Report.Duration(r.Run!.TrainSeconds) : "—",
                Markup.Escape(r.CompactBudgetText));
        }
        console.Write(table);
        foreach (var r in results.Where(r => r.Collapsed || (r.HasRun && r.Note.Length > 0)))
            console.MarkupLine(Markup.Escape($"{r.Row.Key}: {r.Note}"));
    }

    private static string N(long? v) => v?.ToString("N0", CultureInfo.InvariantCulture) ?? "—";

    private static string F(double? v, string format) => v is double d ? (double.IsFinite(d) ? d.ToString(format, CultureInfo.InvariantCulture) : "NaN") : "—";

    private static string G(double? v) => v is double d ? (d == 0 ? "0" : d.ToString("G3", CultureInfo.InvariantCulture)) : "—";
}
