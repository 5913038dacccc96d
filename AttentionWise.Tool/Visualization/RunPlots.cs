using System.Globalization;
using AttentionWise.Training;
using CsvHelper;
using ScottPlot;

namespace AttentionWise.Tool.Visualization;

/// <summary>A file of a run folder is missing, empty, cut short or not what `aw train` writes. An I/O error for the
/// command line: exit code 1 and the message.</summary>
internal sealed class RunDataException(string message) : IOException(message);

/// <summary>What `aw plot` was asked for.</summary>
/// <param name="Runs">Run folders written by `aw train`.</param>
/// <param name="OutDirectory">Where the figures go (null: figures/ in the run folder when there is one run, else plots/).</param>
/// <param name="Format">PNG or SVG.</param>
internal sealed record PlotRequest(IReadOnlyList<string> Runs, string? OutDirectory = null, FigureFormat Format = FigureFormat.Png);

/// <summary>
/// Training curves of one or several runs on shared axes (paper Fig. 9–10), drawn with ScottPlot: steps.png (the loss
/// and the first layer's gradient average after each step) and epochs.png (the paper's loss sum, the test accuracy and
/// the last gradient average of each epoch). A quantity whose positive values span a decade or more gets a log axis.
/// </summary>
internal static class RunPlots
{
    public const string StepsFigure = "steps";
    public const string EpochsFigure = "epochs";

    private const int PanelWidth = 470;
    private const int PanelHeight = 330;

    /// <summary>One run's rows, read and checked.</summary>
    public sealed record RunCurves(string Name, IReadOnlyList<EpochRow> Epochs, IReadOnlyList<StepRow> Steps);

    public static IReadOnlyList<string> Run(PlotRequest request, Action<string> line)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(line);
        if (request.Runs.Count == 0)
            throw new ArgumentException("Give one or more run folders written by 'aw train' (runs/<run>).", nameof(request));
        // Every run is read before anything is written, so that a bad folder leaves no half-made set of figures.
        var runs = request.Runs.Select(Read).ToList();
        string outDir = request.OutDirectory ?? (request.Runs.Count == 1 ? Path.Combine(request.Runs[0], "figures") : "plots");
        string ext = request.Format == FigureFormat.Png ? ".png" : ".svg";
        var written = new List<string>();
        foreach (var (name, figure) in new[] { (StepsFigure, StepsFigureOf(runs)), (EpochsFigure, EpochsFigureOf(runs)) })
        {
            string path = Path.Combine(outDir, name + ext);
            figure.Save(path, request.Format);
            written.Add(path);
            line($"wrote {path} ({figure.Width}×{figure.Height})");
        }
        return written;
    }

    /// <summary>Reads a run folder's epochs.csv and steps.csv, with an error that names the file when one is missing,
    /// empty, cut off in the middle of a row, or has other columns than `aw train` writes.</summary>
    public static RunCurves Read(string runDirectory)
    {
        ArgumentNullException.ThrowIfNull(runDirectory);
        if (!Directory.Exists(runDirectory))
            throw new RunDataException($"{runDirectory} is not a directory (give run folders written by 'aw train', runs/<run>).");
        string name = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(runDirectory)));
        var epochs = ReadRows<EpochRow>(Path.Combine(runDirectory, RunFiles.EpochsFile), runDirectory, "epoch");
        var steps = ReadRows<StepRow>(Path.Combine(runDirectory, RunFiles.StepsFile), runDirectory, "step");
        return new RunCurves(name, epochs, steps);
    }

    private static List<T> ReadRows<T>(string path, string runDirectory, string what)
        where T : class
    {
        if (!File.Exists(path))
            throw new RunDataException($"{path} does not exist (is {runDirectory} a run folder written by 'aw train'?).");
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new RunDataException($"{path} cannot be read: {e.Message}");
        }
        if (text.Length == 0)
            throw new RunDataException($"{path} is empty (the run wrote no header: it may have stopped as it started).");
        int lines = text.Count(ch => ch == '\n') + (text.EndsWith('\n') ? 0 : 1);
        // `aw train` ends every row with a newline as it writes it: a last line without one was cut short.
        if (!text.EndsWith('\n'))
            throw new RunDataException($"{path} is truncated: line {lines} stops in the middle of a row.");

        var expected = Columns<T>();
        using (var csv = CsvReader.FromText(text, null))
        {
            csv.ReadHeader();
            var header = csv.Headers;
            if (!header.SequenceEqual(expected))
                throw new RunDataException($"{path}: the header is '{string.Join(",", header)}', expected '{string.Join(",", expected)}'.");
            int row = 1;
            while (csv.Read())
            {
                row++;
                if (csv.FieldCount != expected.Count)
                    throw new RunDataException($"{path}: line {row} has {csv.FieldCount} fields, expected {expected.Count} (the file is damaged).");
            }
        }
        List<T> rows;
        try
        {
            rows = CsvLog<T>.ReadAll(path);
        }
        catch (Exception e) when (e is FormatException or InvalidOperationException or CsvFormatException or OverflowException)
        {
            throw new RunDataException($"{path} is damaged: {e.Message}");
        }
        if (rows.Count == 0)
            throw new RunDataException($"{path} has no rows yet (the run has not finished its first {what}).");
        return rows;
    }

    /// <summary>The header `aw train` writes for <typeparamref name="T"/>.</summary>
    private static IReadOnlyList<string> Columns<T>()
        where T : class
    {
        using var writer = new StringWriter(CultureInfo.InvariantCulture);
        using (var csv = CsvWriter.Create(writer, new CsvWriterOptions { NewLine = "\n" }, leaveOpen: true))
            csv.WriteHeader<T>();
        return writer.ToString().TrimEnd('\n').Split(',');
    }

    private static Color ColourOf(int run) => new ScottPlot.Palettes.Category10().GetColor(run);

    private static IReadOnlyList<LegendEntry> Legend(IReadOnlyList<RunCurves> runs) =>
        runs.Select((r, i) => new LegendEntry(r.Name, ColourOf(i))).ToList();

    private static Figure StepsFigureOf(IReadOnlyList<RunCurves> runs)
    {
        var series = runs.Select(r => r.Steps.Select((s, i) => (X: (double)(i + 1), Y: (double)s.Loss)).ToList()).ToList();
        var grads = runs.Select(r => r.Steps.Select((s, i) => (X: (double)(i + 1), Y: (double)s.GradMean)).ToList()).ToList();
        var loss = Lines("Training loss per step", "Step", "Loss (batch mean NLL)", series, markers: false, integerX: false);
        var grad = Lines("First layer's gradient average per step", "Step", "Mean gradient", grads, markers: false, integerX: false, zeroLine: true);
        return new Figure(Title("per step", runs), [
            "Loss: the batch's mean negative log-likelihood. Gradient average: the mean of the first layer weight's gradient after the step.",
        ], [loss, grad], 2, Legend(runs));
    }

    private static Figure EpochsFigureOf(IReadOnlyList<RunCurves> runs)
    {
        List<(double X, double Y)> Of(RunCurves r, Func<EpochRow, double> y) => r.Epochs.Select(e => ((double)e.Epoch, y(e))).ToList();
        var loss = Lines("Loss sum per epoch", "Epoch", "Loss sum", runs.Select(r => Of(r, e => e.LossSum)).ToList(), markers: true, integerX: true);
        var accuracy = Lines("Test accuracy", "Epoch", "Accuracy (%)", runs.Select(r => Of(r, e => e.TestAccuracy)).ToList(), markers: true, integerX: true);
        var grad = Lines("Last gradient average", "Epoch", "Mean gradient", runs.Select(r => Of(r, e => e.LastGradMean)).ToList(),
            markers: true, integerX: true, zeroLine: true);
        return new Figure(Title("per epoch", runs), [
            "Loss sum: the sum over the epoch's batches of each batch's mean NLL (the paper's loss). " +
            "Last gradient average: the mean of the first layer weight's gradient at the epoch's last step (paper Fig. 9-10).",
        ], [loss, accuracy, grad], 3, Legend(runs));
    }

    private static string Title(string what, IReadOnlyList<RunCurves> runs) =>
        runs.Count == 1 ? $"Training curves {what}: {runs[0].Name}" : $"Training curves {what} of {runs.Count} runs";

    /// <summary>One panel with a line per run (non-finite points left out), on a log axis where the positive values
    /// span a decade or more.</summary>
    internal static Panel Lines(string title, string xLabel, string yLabel, IReadOnlyList<List<(double X, double Y)>> series,
        bool markers, bool integerX, bool zeroLine = false)
    {
        var plot = Charts.NewPlot();
        var finite = series.Select(s => s.Where(p => double.IsFinite(p.Y)).ToList()).ToList();
        var all = finite.SelectMany(s => s.Select(p => p.Y)).ToList();
        bool log = Charts.SpansDecades(all);
        Charts.Style(plot, title, xLabel, log ? yLabel + " (log scale)" : yLabel);
        for (int i = 0; i < finite.Count; i++)
        {
            if (finite[i].Count == 0)
                continue;
            var xs = finite[i].Select(p => p.X).ToArray();
            var ys = finite[i].Select(p => log ? Math.Log10(p.Y) : p.Y).ToArray();
            var line = plot.Add.Scatter(xs, ys, ColourOf(i));
            line.LineWidth = markers ? 2 : 1.3f;
            line.MarkerSize = markers && xs.Length <= 60 ? 6 : 0;
        }
        if (log)
            plot.Axes.Left.TickGenerator = Charts.LogTicks(all.Min(), all.Max(), Charts.Format);
        else
            plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { LabelFormatter = Charts.Format };
        if (integerX)
            plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { IntegerTicksOnly = true };
        if (zeroLine && all.Count > 0 && all.Min() < 0 && all.Max() > 0)
        {
            var zero = plot.Add.HorizontalLine(0, 1, new Color(120, 120, 120), LinePattern.Dashed);
            zero.ExcludeFromLegend = true;
        }
        return new Panel(plot, PanelWidth, PanelHeight);
    }
}
