using System.Globalization;
using AttentionWise.Tool.Reproduction;
using ScottPlot;

namespace AttentionWise.Tool.Visualization;

/// <summary>
/// The sweep's trade-off plot (`aw sweep`, reports/sweep.png): test accuracy against parameters on a log axis, each
/// point labelled with its model and time per step, marker area growing with the logarithm of the time per step.
/// A model whose loss went non-finite is a cross at chance level; models timed but not trained are listed under the plot.
/// </summary>
internal static class SweepPlot
{
    private const float SmallMarker = 9;
    private const float LargeMarker = 30;
    private const int PanelWidth = 900;
    private const int PanelHeight = 560;
    private const double LabelHeight = 16;

    private static readonly Color Attention = new ScottPlot.Palettes.Category10().GetColor(0);
    private static readonly Color Convolutional = new ScottPlot.Palettes.Category10().GetColor(3);

    /// <summary>Draws <paramref name="rows"/> to <paramref name="path"/> (PNG) and returns the figure's size.</summary>
    public static (int Width, int Height) Save(IReadOnlyList<SweepRow> rows, string path, string source)
    {
        var figure = Build(rows, source);
        figure.Save(path, FigureFormat.Png);
        return (figure.Width, figure.Height);
    }

    /// <summary>Whether a row has no accuracy because the model was timed only (not because its training diverged).</summary>
    public static bool TimedOnly(SweepRow row) => double.IsNaN(row.TestAccuracy) && !Collapsed(row);

    private static bool Collapsed(SweepRow row) => row.Status.StartsWith("diverged", StringComparison.Ordinal);

    private static bool IsConvolutional(string model) =>
        model.StartsWith("control", StringComparison.Ordinal) || model.StartsWith("dia", StringComparison.Ordinal);

    /// <summary>"930 ms/step", "4.3 s/step", "367 s/step".</summary>
    public static string StepTime(double ms) =>
        !double.IsFinite(ms) ? "untimed"
        : ms < 1000 ? FormattableString.Invariant($"{ms:0} ms/step")
        : ms < 100_000 ? FormattableString.Invariant($"{ms / 1000:0.0} s/step")
        : FormattableString.Invariant($"{ms / 1000:0} s/step");

    /// <summary>"33k", "1.06M".</summary>
    private static string Count(double v) =>
        v >= 1e6 ? (v / 1e6).ToString("0.##", CultureInfo.InvariantCulture) + "M"
        : v >= 1e3 ? (v / 1e3).ToString("0.#", CultureInfo.InvariantCulture) + "k"
        : v.ToString("0", CultureInfo.InvariantCulture);

    public static Figure Build(IReadOnlyList<SweepRow> rows, string source)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var plotted = rows.Where(r => !TimedOnly(r) && r.Parameters > 0).ToList();
        var timedOnly = rows.Where(TimedOnly).ToList();
        var notes = new List<string>();
        if (timedOnly.Count > 0)
        {
            notes.Add("Timed, not trained (no accuracy): " + string.Join("; ", timedOnly.Select(r =>
                FormattableString.Invariant($"{r.Model} ({r.Parameters:N0} parameters, {StepTime(r.MsPerStep)})"))) + ".");
        }
        notes.Add($"From {source}.");

        var plot = Charts.NewPlot();
        var epochs = plotted.Select(r => r.Epochs).Distinct().ToList();
        string yLabel = epochs.Count == 1
            ? FormattableString.Invariant($"Test accuracy after {epochs[0]} epoch{(epochs[0] == 1 ? "" : "s")} (%)")
            : "Test accuracy (%)";
        Charts.Style(plot, "", "Parameters (log scale)", yLabel);

        var times = plotted.Where(r => r.MsPerStep > 0 && double.IsFinite(r.MsPerStep)).Select(r => Math.Log10(r.MsPerStep)).ToList();
        double lo = times.Count > 0 ? times.Min() : 0, hi = times.Count > 0 ? times.Max() : 0;
        float Size(SweepRow r)
        {
            if (!(r.MsPerStep > 0) || !double.IsFinite(r.MsPerStep))
                return SmallMarker;
            double t = hi > lo ? (Math.Log10(r.MsPerStep) - lo) / (hi - lo) : 0.5;
            // Area (not diameter) grows linearly with log time.
            return (float)Math.Sqrt(SmallMarker * SmallMarker + t * (LargeMarker * LargeMarker - SmallMarker * SmallMarker));
        }
        double Y(SweepRow r) => Collapsed(r) ? 10.0 : r.TestAccuracy;

        if (plotted.Count == 0)
        {
            var empty = plot.Add.Text("No trained model in the sweep yet", 0, 0);
            empty.Alignment = Alignment.MiddleCenter;
            empty.LabelStyle.FontSize = 14;
            plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.EmptyTickGenerator();
            plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.EmptyTickGenerator();
            plot.Axes.SetLimits(-1, 1, -1, 1);
        }
        else
        {
            double yMin = plotted.Min(Y), yMax = plotted.Max(Y), ySpan = Math.Max(yMax - yMin, 4);
            double yLo = yMin - 0.15 * ySpan, yHi = yMax + 0.12 * ySpan;
            // About how many pixels one accuracy point takes (the data area is most of the panel's height), to keep
            // labels of points close together from overlapping: each goes right of its point, else left, else lower.
            double pixelsPerPoint = (PanelHeight - 90) / (yHi - yLo);
            var placed = new List<(double X, bool Right, double Pixel)>();
            foreach (var r in plotted.OrderByDescending(Y))
            {
                double x = Math.Log10(r.Parameters), y = Y(r);
                var colour = IsConvolutional(r.Model) ? Convolutional : Attention;
                var marker = plot.Add.Marker(x, y, Collapsed(r) ? MarkerShape.Cross : MarkerShape.FilledCircle, Size(r), colour.WithAlpha(0.65));
                marker.MarkerLineColor = Colors.Black.WithAlpha(0.7);
                marker.MarkerLineWidth = Collapsed(r) ? 3 : 0.8f;
                bool Free(bool right, double pixel) =>
                    !placed.Any(p => p.Right == right && Math.Abs(p.X - x) < 0.08 && Math.Abs(p.Pixel - pixel) < LabelHeight);
                double own = -y * pixelsPerPoint;
                (bool Right, double Pixel) spot = Free(true, own) ? (true, own) : Free(false, own) ? (false, own) : (true, own);
                while (!Free(spot.Right, spot.Pixel))
                    spot.Pixel += LabelHeight;
                placed.Add((x, spot.Right, spot.Pixel));
                string note = Collapsed(r) ? " (collapsed)" : "";
                if (r.TrainLimit is { } limit)
                    note += FormattableString.Invariant($" ({limit:N0} train images)");
                var label = plot.Add.Text($"{r.Model}{note}, {StepTime(r.MsPerStep)}", x, y);
                label.Alignment = spot.Right ? Alignment.MiddleLeft : Alignment.MiddleRight;
                label.LabelStyle.FontSize = 11;
                label.LabelStyle.ForeColor = new Color(30, 30, 30);
                label.OffsetX = (spot.Right ? 1 : -1) * (Size(r) / 2 + 5);
                label.OffsetY = (float)(spot.Pixel - own);
            }
            double pMin = plotted.Min(r => Math.Log10(r.Parameters)), pMax = plotted.Max(r => Math.Log10(r.Parameters));
            double pSpan = Math.Max(pMax - pMin, 0.3);
            plot.Axes.SetLimits(pMin - 0.3 * pSpan, pMax + 0.45 * pSpan, yLo, yHi);
            plot.Axes.Bottom.TickGenerator = Charts.LogTicks(Math.Pow(10, pMin - 0.3 * pSpan), Math.Pow(10, pMax + 0.45 * pSpan), Count);
            plot.Grid.XAxisStyle.MinorLineStyle.Width = 0;
        }

        var legend = new List<LegendEntry>();
        if (plotted.Any(r => !IsConvolutional(r.Model)))
            legend.Add(new LegendEntry("attention models", Attention, Line: false));
        if (plotted.Any(r => IsConvolutional(r.Model)))
            legend.Add(new LegendEntry("convolutional baselines (control, dia-control)", Convolutional, Line: false));
        string sizes = times.Count == 0 ? "" : hi > lo
            ? $" Marker area grows with the logarithm of the time per training step, from {StepTime(Math.Pow(10, lo))} (smallest) to {StepTime(Math.Pow(10, hi))} (largest)."
            : $" Every point took {StepTime(Math.Pow(10, lo))}.";
        string collapsed = plotted.Any(Collapsed) ? " A cross marks a model whose loss became non-finite, drawn at chance level (10 %)." : "";
        var batches = rows.Select(r => r.BatchSize).Distinct().ToList();
        string batch = batches.Count == 1 ? FormattableString.Invariant($" at batch {batches[0]}") : "";
        return new Figure("Accuracy against parameters, with the time per training step (aw sweep)", [
            $"Each point is a model: its parameter count, its test accuracy and its time per training step{batch}.{sizes}{collapsed}",
        ], [new Panel(plot, PanelWidth, PanelHeight)], 1, legend, notes);
    }
}
