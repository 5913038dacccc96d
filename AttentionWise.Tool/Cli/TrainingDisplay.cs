using System.Diagnostics;
using System.Globalization;
using AttentionWise.Training;
using AttentionWise.Training.Data;
using Spectre.Console;

namespace AttentionWise.Tool.Cli;

/// <summary>
/// Shows a run: a live Spectre.Console progress display on a terminal (epoch, step, loss, accuracy,
/// images/s), plain lines otherwise (CI logs, tests, pipes), and a summary table at the end.
/// </summary>
internal sealed class TrainingDisplay : ITrainingObserver
{
    private static readonly TimeSpan PlainStepInterval = TimeSpan.FromSeconds(10);

    private readonly CliIO _io;
    private readonly IAnsiConsole _console;
    private readonly Stopwatch _sinceLine = Stopwatch.StartNew();
    private RunStart? _start;
    private ProgressTask? _task;
    private double _lastAccuracy = double.NaN;

    private readonly bool _reportLoading;

    /// <param name="io">Where the display goes.</param>
    /// <param name="reportLoading">Print an image folder's load report (aw train).</param>
    public TrainingDisplay(CliIO io, bool reportLoading = false)
    {
        _io = io;
        _console = Consoles.Create(io.Out, io.Interactive);
        _reportLoading = reportLoading;
    }

    public void DataLoaded(ImageLoadReport report)
    {
        if (_reportLoading)
            _io.Out.WriteLine(report.ToString());
    }

    public TrainingOutcome Run(TrainRequest request)
    {
        if (!_io.Interactive)
            return Trainer.Run(request, this);
        TrainingOutcome? outcome = null;
        _console.Progress()
            .AutoClear(false)
            .HideCompleted(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(),
                new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                _context = ctx;
                outcome = Trainer.Run(request, this);
                if (_task is not null && outcome.Status is not (RunStatus.Diverged or RunStatus.Stopped))
                    _task.Value = _task.MaxValue;
            });
        return outcome!;
    }

    private ProgressContext? _context;

    public void Started(RunStart s)
    {
        _start = s;
        var settings = s.Settings;
        Line($"run {s.RunDirectory}: {s.Model}, {s.ParameterCount:N0} parameters");
        Line($"data {settings.Dataset}: {s.TrainImages:N0} training images, {s.TestImages:N0} test images; batch {settings.BatchSize}, " +
             $"{s.StepsPerEpoch} steps per epoch; Adam lr {F(settings.LearningRate)}" +
             (settings.AttentionLearningRate is float a ? $" (attention weights {F(a)})" : "") + $"; seed {settings.Seed}");
        Line($"device [{s.Device.Index}] {s.Device.KindName} {s.Device.Name} ({ComputeDevice.IlgpuFlavor})");
        if (s.Device.Kind == DeviceKind.Cpu)
            Line($"{AttentionWise.Host.Blas.Description}; vector passes: {AttentionWise.Host.Simd.Describe(AttentionWise.Host.Simd.Parse(Environment.GetEnvironmentVariable("AW_SIMD")) ?? AttentionWise.Host.Simd.Best)}");
        if (s.FirstStep > 0)
            Line($"resuming after epoch {s.FirstEpoch - 1} and {s.FirstStep} step(s) of epoch {s.FirstEpoch}");
        else if (s.FirstEpoch > 1)
            Line($"resuming after epoch {s.FirstEpoch - 1}");
        if (s.FirstEpoch > settings.Epochs)
            return;
        if (_context is not null)
        {
            int total = (settings.Epochs - s.FirstEpoch + 1) * s.StepsPerEpoch - s.FirstStep;
            _task = _context.AddTask(Markup.Escape($"epoch {s.FirstEpoch}/{settings.Epochs}"), maxValue: total);
        }
    }

    public void Step(int epoch, int step, int stepsPerEpoch, float loss, double imagesPerSecond)
    {
        string text = string.Create(CultureInfo.InvariantCulture,
            $"epoch {epoch}/{_start!.Settings.Epochs} step {step}/{stepsPerEpoch} loss {loss:0.0000} {Accuracy()}{imagesPerSecond:N0} img/s");
        if (_task is not null)
        {
            _task.Description = Markup.Escape(text);
            _task.Increment(1);
            return;
        }
        if (_sinceLine.Elapsed >= PlainStepInterval)
            Line(text);
    }

    public void Evaluating(int epoch)
    {
        if (_task is not null)
            _task.Description = Markup.Escape($"epoch {epoch}/{_start!.Settings.Epochs}: evaluating on the test set");
    }

    public void EpochCompleted(EpochRow row)
    {
        _lastAccuracy = row.TestAccuracy;
        Line(string.Create(CultureInfo.InvariantCulture,
            $"epoch {row.Epoch}/{_start!.Settings.Epochs}: loss sum {row.LossSum:0.0000} (mean {row.LossMean:0.0000}), test accuracy {row.TestAccuracy:0.00}%, " +
            $"last grad mean {row.LastGradMean:G3}, {row.EpochSeconds:0.0} s, {row.ImagesPerSecond:N0} img/s"));
    }

    /// <summary>The table at the end of a run.</summary>
    public void Summary(TrainingOutcome o)
    {
        if (o.Epochs.Count > 0)
        {
            var table = new Table().Border(TableBorder.Rounded).Title(Markup.Escape($"{o.Model.Name} — {o.RunDirectory}"));
            foreach (var (header, right) in new[]
                     {
                         ("epoch", true), ("loss sum", true), ("loss mean", true), ("test acc. %", true), ("last grad mean", true), ("seconds", true), ("images/s", true),
                     })
            {
                var column = new TableColumn(header);
                if (right)
                    column.RightAligned();
                table.AddColumn(column);
            }
            foreach (var r in o.Epochs)
            {
                table.AddRow(
                    r.Epoch.ToString(CultureInfo.InvariantCulture),
                    r.LossSum.ToString("0.0000", CultureInfo.InvariantCulture),
                    r.LossMean.ToString("0.0000", CultureInfo.InvariantCulture),
                    r.TestAccuracy.ToString("0.00", CultureInfo.InvariantCulture),
                    r.LastGradMean.ToString("G3", CultureInfo.InvariantCulture),
                    r.EpochSeconds.ToString("0.0", CultureInfo.InvariantCulture),
                    r.ImagesPerSecond.ToString("N0", CultureInfo.InvariantCulture));
            }
            _console.Write(table);
        }
        string status = o.Status switch
        {
            RunStatus.Completed => $"completed {o.Epochs.Count} epoch(s)",
            RunStatus.AlreadyComplete => $"already complete: {o.Epochs.Count} epoch(s) trained, nothing to do (raise --epochs to train more)",
            RunStatus.Stopped => o.StopMessage!,
            _ => $"stopped: non-finite loss at epoch {o.DivergedEpoch}, step {o.DivergedStep}",
        };
        Line(string.Create(CultureInfo.InvariantCulture,
            $"{status}; {o.ParameterCount:N0} parameters; device {o.DeviceName}; peak device memory {o.PeakDeviceBytes / (1024.0 * 1024.0):N1} MiB; wall time {o.WallSeconds:0.0} s"));
        Line($"results: {Path.Combine(o.RunDirectory, RunFiles.EpochsFile)}, {RunFiles.StepsFile}, {RunFiles.ConfigFile}" +
             (o.Status == RunStatus.Stopped ? "" : $", {RunFiles.SummaryFile}") +
             (o.Epochs.Count > 0 || o.Status == RunStatus.Stopped ? $", {Training.Checkpoints.Checkpoint.FileName}" : ""));
    }

    private string Accuracy() =>
        double.IsNaN(_lastAccuracy) ? "" : string.Create(CultureInfo.InvariantCulture, $"(last test acc. {_lastAccuracy:0.00}%) ");

    private void Line(string text)
    {
        _console.MarkupLine(Markup.Escape(text));
        _io.Out.Flush();
        _sinceLine.Restart();
    }

    private static string F(float v) => v.ToString("G", CultureInfo.InvariantCulture);
}

/// <summary>Spectre.Console consoles over a given writer.</summary>
internal static class Consoles
{
    public static IAnsiConsole Create(TextWriter writer, bool interactive)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = interactive ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = interactive ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = interactive ? InteractionSupport.Yes : InteractionSupport.No,
            Out = new AnsiConsoleOutput(writer),
        });
        if (!interactive)
            console.Profile.Width = 160;
        return console;
    }
}
