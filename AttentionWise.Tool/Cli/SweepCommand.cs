using System.CommandLine;
using System.Globalization;
using AttentionWise.Tool.Reproduction;
using AttentionWise.Tool.Visualization;
using AttentionWise.Training;
using AttentionWise.Training.Models;
using Spectre.Console;

namespace AttentionWise.Tool.Cli;

/// <summary>`aw sweep`.</summary>
internal static class SweepCommand
{
    public static Command Build(CliIO io)
    {
        var models = new Option<string>("--models")
        {
            Description = $"Comma list of models. Default: every model ({string.Join(", ", ModelRegistry.Names)}); CIFAR-10 models only with CIFAR-10 data.",
            HelpName = "MODELS",
        };
        models.Validators.Add(r =>
        {
            string? v = r.GetValueOrDefault<string>();
            foreach (var m in (v ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                if (!ModelRegistry.IsKnown(m))
                    r.AddError($"Unknown model '{m}' for --models. Valid models: {string.Join(", ", ModelRegistry.Names)}.");
            }
        });
        var steps = CliOptions.Positive("--steps", "Timed training steps per model (after the warm-up). Default: 5.");
        var warmup = CliOptions.NonNegative("--warmup", "Untimed warm-up steps per model. Default: 2.");
        var epochs = CliOptions.NonNegative("--epochs", "Epochs of training for the test accuracy (0: timing only). Default: 1.");
        var trainLimit = CliOptions.Positive("--train-limit", "Train on the first N training images only (shorter accuracy runs).");
        var testLimit = CliOptions.Positive("--test-limit", "Evaluate on the first N test images only.");
        var batch = CliOptions.Positive("--batch-size", "Batch size of the timing and the training. Default: the paper's, 4096 on Fashion-MNIST and 1024 on CIFAR-10.");
        var seed = new Option<ulong>("--seed") { Description = $"Seed of the initial weights and the shuffles. Default: {RunSettings.DefaultSeed}.", HelpName = "N" };
        var device = CliOptions.Device();
        var data = CliOptions.Data();
        var cifar = new Option<string>("--cifar-data") { Description = "Directory with CIFAR-10's binary version (for attention-cifar).", HelpName = "DIR" };
        var output = new Option<string>("--out") { Description = "Directory for sweep.csv and sweep.png.", DefaultValueFactory = _ => "reports", HelpName = "DIR" };
        var runsDir = new Option<string>("--runs-dir") { Description = "Directory for the accuracy runs (sweep-<model>, replaced each time).", DefaultValueFactory = _ => "runs", HelpName = "DIR" };
        var fresh = new Option<bool>("--fresh") { Description = "Start sweep.csv afresh (default: rows of models not measured this time are kept)." };
        var noPlot = new Option<bool>("--no-plot") { Description = "Write the CSV only." };
        var plotOnly = new Option<bool>("--plot-only") { Description = "Measure nothing: draw <out>/sweep.png from the <out>/sweep.csv there is." };
        var (task, tasks, devices, stopSignal) = (CliOptions.Task(), CliOptions.Tasks(), CliOptions.Devices(), CliOptions.StopSignal());
        var report = new Option<bool>("--report")
        {
            Description = "Measure nothing: the report step of a sweep run as tasks (--task, a job array): write <out>/sweep.csv from the rows the tasks left in " +
                          "<runs-dir>/sweep-<model>/ (give the same options as the tasks), print the table and draw sweep.png. Exit code 1 when a model has no row.",
        };

        var command = new Command("sweep",
            "Parameter / speed / accuracy trade-off of the models: per model its parameters, milliseconds per training step at its batch size " +
            "(warm-up steps, then timed steps with device synchronisation), images/s, peak device memory, and the test accuracy after --epochs of training " +
            "(the same loop as 'aw train'). Writes <out>/sweep.csv (columns model, parameters, batch_size, ms_per_step, images_per_second, peak_memory_mb, " +
            "epochs, train_limit, test_accuracy, loss_sum, test_loss, device, status, date; loss_sum and test_loss are the last epoch's) and draws <out>/sweep.png (accuracy against parameters on a log axis, marker area by time per step). " +
            "A model whose loss goes non-finite is a row (status diverged), not an error. " +
            "On a cluster: --task I/N (or SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT, or JOB_COMPLETION_INDEX with --tasks N) trains only models I, I+N, … into " +
            "the runs folder, keeping models already measured and resuming interrupted ones; --report then writes the CSV and plot (see 'aw slurm'). " +
            "--devices 0,1 runs the tasks side by side, one process per device, then reports. SIGTERM or SIGUSR1 stop the training in progress with a checkpoint (exit code 75).")
        {
            models, steps, warmup, epochs, trainLimit, testLimit, batch, seed, device, data, cifar, output, runsDir, fresh, noPlot, plotOnly,
            task, tasks, devices, report, stopSignal,
        };

        command.SetAction(parse => io.Guard(() =>
        {
            if (parse.GetValue(plotOnly))
            {
                if (parse.GetValue(noPlot))
                    throw new UsageException("--plot-only and --no-plot exclude each other.");
                string csvPath = Path.Combine(parse.GetValue(output) ?? "reports", Sweep.CsvFile);
                Plot(io, csvPath, Sweep.ReadCsv(csvPath));
                return ExitCodes.Ok;
            }
            string? list = CliOptions.Given(parse, models);
            var names = list is null
                ? ModelRegistry.Names
                : ModelRegistry.Names.Where(n => list.Split(',', StringSplitOptions.TrimEntries).Any(m => ModelRegistry.IsKnown(m) && ModelRegistry.Find(m).Name == n)).ToList();
            if (new[] { parse.GetValue(plotOnly), parse.GetValue(report), CliOptions.Given(parse, devices) is not null, CliOptions.Given(parse, task) is not null }.Count(b => b) > 1)
                throw new UsageException("--plot-only, --report, --devices and --task exclude each other.");
            using var stop = new StopSignals(CliOptions.Given(parse, stopSignal));
            var request = new SweepRequest
            {
                Models = names,
                ModelsNamed = list is not null,
                Steps = CliOptions.Given(parse, steps) ?? 5,
                WarmupSteps = CliOptions.Given(parse, warmup) ?? 2,
                Epochs = CliOptions.Given(parse, epochs) ?? 1,
                TrainLimit = CliOptions.Given(parse, trainLimit),
                TestLimit = CliOptions.Given(parse, testLimit),
                BatchSize = CliOptions.Given(parse, batch),
                Seed = CliOptions.Given(parse, seed) ?? RunSettings.DefaultSeed,
                Device = parse.GetValue(device),
                FashionData = CliOptions.Given(parse, data),
                CifarData = CliOptions.Given(parse, cifar),
                OutDirectory = parse.GetValue(output) ?? "reports",
                RunsDirectory = parse.GetValue(runsDir) ?? "runs",
                Fresh = parse.GetValue(fresh),
                Stop = stop.Token,
            };
            var console = Consoles.Create(io.Out, io.Interactive);
            void Line(string s)
            {
                console.MarkupLine(Markup.Escape(s));
                io.Out.Flush();
            }

            if (CliOptions.Given(parse, devices) is string deviceList)
            {
                int code = Fanout.Run(io, Fanout.Devices(deviceList), Fanout.ChildArguments(parse.Tokens.Select(t => t.Value)), stop.Token);
                if (code != ExitCodes.Ok)
                    return code;
                return Report(io, console, request, parse.GetValue(noPlot));
            }
            if (parse.GetValue(report))
                return Report(io, console, request, parse.GetValue(noPlot));

            request = request with { Shard = CliOptions.Shard(parse, task, tasks) };
            var outcome = Sweep.Run(request, train =>
            {
                var display = new TrainingDisplay(io);
                var o = display.Run(train);
                display.Summary(o);
                return o;
            }, Line);
            if (outcome.Stopped)
                return ExitCodes.Stopped;
            if (outcome.CsvPath is not string csv)
            {
                Table(console, outcome.Rows);
                Line($"{request.Shard}: done ({outcome.Rows.Count} measured, {outcome.Kept.Count} kept); rows in {request.RunsDirectory}/{Sweep.RunName("<model>")}/{Sweep.RowFile}: " +
                     "'aw sweep --report' with the same options writes sweep.csv and sweep.png");
                return ExitCodes.Ok;
            }
            var rows = outcome.Rows;

            Table(console, rows);
            Line($"wrote {csv}");

            if (!parse.GetValue(noPlot))
                Plot(io, csv, Sweep.ReadCsv(csv));
            return ExitCodes.Ok;
        }));
        return command;
    }

    /// <summary>`aw sweep --report` (and the end of --devices): sweep.csv from the run folders' rows, the table, the plot.</summary>
    private static int Report(CliIO io, IAnsiConsole console, SweepRequest request, bool noPlot)
    {
        var (csv, rows, missing) = Sweep.Report(request);
        Table(console, rows);
        console.MarkupLine(Markup.Escape($"wrote {csv} ({rows.Count} of {request.Models.Count} model(s) from {request.RunsDirectory})"));
        io.Out.Flush();
        if (!noPlot)
            Plot(io, csv, Sweep.ReadCsv(csv));
        foreach (var m in missing)
            io.Error.WriteLine($"aw: error: {m}");
        return missing.Count == 0 ? ExitCodes.Ok : ExitCodes.Error;
    }

    private static void Table(IAnsiConsole console, IReadOnlyList<SweepRow> rows)
    {
            var table = new Table().Border(TableBorder.Rounded).Title("sweep");
            foreach (var h in new[] { "model", "parameters", "batch", "ms/step", "images/s", "peak MiB", "epochs", "test acc. %", "status" })
                table.AddColumn(new TableColumn(h));
            foreach (var r in rows)
            {
                table.AddRow(r.Model, r.Parameters.ToString("N0", CultureInfo.InvariantCulture), r.BatchSize.ToString(CultureInfo.InvariantCulture),
                    r.MsPerStep.ToString("0.0", CultureInfo.InvariantCulture), r.ImagesPerSecond.ToString("N0", CultureInfo.InvariantCulture),
                    r.PeakMemoryMb.ToString("N1", CultureInfo.InvariantCulture), r.Epochs.ToString(CultureInfo.InvariantCulture),
                    double.IsNaN(r.TestAccuracy) ? "—" : r.TestAccuracy.ToString("0.00", CultureInfo.InvariantCulture), Markup.Escape(r.Status));
            }
            console.Write(table);
    }

    /// <summary>Draws sweep.png beside the sweep.csv it comes from.</summary>
    private static void Plot(CliIO io, string csv, IReadOnlyList<SweepRow> rows)
    {
        string png = Path.Combine(Path.GetDirectoryName(csv) ?? ".", Sweep.PlotFile);
        var (w, h) = SweepPlot.Save(rows, png, csv);
        io.Out.WriteLine($"wrote {png} ({w}×{h})");
        io.Out.Flush();
    }
}
