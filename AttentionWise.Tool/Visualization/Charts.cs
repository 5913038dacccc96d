using System.Globalization;
using ScottPlot;
using SkiaSharp;

namespace AttentionWise.Tool.Visualization;

/// <summary>How a heat map colours its values.</summary>
internal enum ColourMap
{
    /// <summary>Signed values: a diverging map (blue, white, red) centred on zero, symmetric around it.</summary>
    Diverging,

    /// <summary>Non-negative values and images: Viridis, a perceptually uniform map from dark blue to yellow, from the
    /// panel's minimum to its maximum.</summary>
    Viridis,
}

/// <summary>The building blocks of the figures: fonts, heat-map panels with colour bars, image and note panels, axes.</summary>
internal static class Charts
{
    /// <summary>Pixels right of a heat map for its colour bar and the bar's labels.</summary>
    internal const int BarSpace = 66;

    private const int Pad = 5;
    private const float PanelTitleSize = 12.5f;
    private const float PanelTitleLine = 16;

    /// <summary>The colour of the gaps between the tiles of a mosaic: a mid grey, apart from both colour maps' ends and
    /// from the diverging map's white centre.</summary>
    public static readonly Color GapColour = new(165, 165, 165);

    private static readonly Lock FontLock = new();
    private static bool _fontsChosen;

    /// <summary>Makes ScottPlot draw in DejaVu Sans (Debian's fonts-dejavu-core) where it is installed; elsewhere it
    /// keeps ScottPlot's own choice of a sans-serif font.</summary>
    public static void UseFonts()
    {
        lock (FontLock)
        {
            if (_fontsChosen)
                return;
            var installed = SKFontManager.Default.GetFontFamilies().ToHashSet(StringComparer.OrdinalIgnoreCase);
            foreach (var name in new[] { "DejaVu Sans", "Liberation Sans", "Noto Sans", "Arial", "Helvetica" })
            {
                if (installed.Contains(name))
                {
                    Fonts.Default = name;
                    break;
                }
            }
            _fontsChosen = true;
        }
    }

    /// <summary>A SkiaSharp font in ScottPlot's default family.</summary>
    internal static SKFont Font(float size, bool bold)
    {
        UseFonts();
        return new SKFont(Fonts.GetTypeface(Fonts.Default, bold, italic: false), size);
    }

    internal static IColormap Map(ColourMap map) => map switch
    {
        ColourMap.Diverging => new ScottPlot.Colormaps.Balance(),
        _ => new ScottPlot.Colormaps.Viridis(),
    };

    /// <summary>The range the colours span: the finite values' minimum and maximum (for the diverging map ±the
    /// largest magnitude, so that zero is its centre); a range of width zero is widened.</summary>
    public static (double Lo, double Hi) ColourRange(IEnumerable<float> values, ColourMap map)
    {
        ArgumentNullException.ThrowIfNull(values);
        double lo = double.PositiveInfinity, hi = double.NegativeInfinity;
        foreach (float v in values)
        {
            if (!float.IsFinite(v))
                continue;
            lo = Math.Min(lo, v);
            hi = Math.Max(hi, v);
        }
        if (lo > hi)
            return map == ColourMap.Diverging ? (-1, 1) : (0, 1);
        if (map == ColourMap.Diverging)
        {
            double m = Math.Max(Math.Abs(lo), Math.Abs(hi));
            return m > 0 ? (-m, m) : (-1, 1);
        }
        if (hi > lo)
            return (lo, hi);
        double half = lo == 0 ? 0.5 : Math.Abs(lo) * 0.5;
        return (lo - half, hi + half);
    }

    /// <summary>A titled heat map of <paramref name="values"/> (<paramref name="rows"/>×<paramref name="cols"/>,
    /// row-major, row 0 at the top), each value a square of <paramref name="cell"/> pixels, with its colour bar.
    /// Non-finite values are drawn magenta, or in <see cref="GapColour"/> where <paramref name="gapsAreNaN"/> (NaN marks the gaps
    /// between the tiles of a mosaic).</summary>
    public static Panel Heat(string title, float[] values, int rows, int cols, ColourMap map, int cell, bool gapsAreNaN = false)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (values.Length != rows * cols)
            throw new ArgumentException($"A {rows}×{cols} heat map needs {rows * cols} values, got {values.Length}.", nameof(values));
        var data = new double[rows, cols];
        for (int i = 0; i < rows; i++)
        {
            for (int j = 0; j < cols; j++)
            {
                float v = values[i * cols + j];
                data[i, j] = float.IsFinite(v) ? v : double.NaN;
            }
        }
        var (lo, hi) = ColourRange(values, map);
        var plot = ImagePlot(title, rows, cols);
        var heatmap = plot.Add.Heatmap(data);
        heatmap.Colormap = Map(map);
        heatmap.ManualRange = new ScottPlot.Range(lo, hi);
        heatmap.NaNCellColor = gapsAreNaN ? GapColour : Colors.Magenta;
        heatmap.Smooth = false;
        var bar = plot.Add.ColorBar(heatmap);
        bar.Width = 10;
        bar.Axis.TickLabelStyle.FontSize = 10;
        bar.Axis.MajorTickStyle.Length = 3;
        return Place(plot, title, rows, cols, cell, BarSpace);
    }

    /// <summary>A colour image from three planes scaled together to their joint minimum and maximum.</summary>
    public static Panel Colour(string title, float[] red, float[] green, float[] blue, int rows, int cols, int cell)
    {
        ArgumentNullException.ThrowIfNull(red);
        ArgumentNullException.ThrowIfNull(green);
        ArgumentNullException.ThrowIfNull(blue);
        var (lo, hi) = ColourRange(red.Concat(green).Concat(blue), ColourMap.Viridis);
        var pixels = new byte[rows, cols, 3];
        float[][] planes = [red, green, blue];
        for (int i = 0; i < rows; i++)
        {
            for (int j = 0; j < cols; j++)
            {
                for (int c = 0; c < 3; c++)
                {
                    float v = planes[c][i * cols + j];
                    pixels[i, j, c] = float.IsFinite(v) ? (byte)Math.Clamp(Math.Round(255 * (v - lo) / (hi - lo)), 0, 255) : (byte)(c == 1 ? 0 : 255);
                }
            }
        }
        var plot = ImagePlot(title, rows, cols);
        var image = plot.Add.ImageRect(new ScottPlot.Image(pixels), new CoordinateRect(-0.5, cols - 0.5, -0.5, rows - 0.5));
        image.AntiAlias = false;
        return Place(plot, title, rows, cols, cell, Pad);
    }

    /// <summary>A grey box of the image's size with a note instead of values (e.g. a stage the model does not have).</summary>
    public static Panel Note(string title, string note, int rows, int cols, int cell)
    {
        var plot = ImagePlot(title, rows, cols);
        plot.DataBackground.Color = new Color(235, 235, 235);
        var text = plot.Add.Text(note, (cols - 1) / 2.0, (rows - 1) / 2.0);
        text.Alignment = Alignment.MiddleCenter;
        text.LabelStyle.FontSize = 11;
        text.LabelStyle.ForeColor = new Color(90, 90, 90);
        return Place(plot, title, rows, cols, cell, BarSpace);
    }

    /// <summary>A plot that shows an image: no axes, ticks or grid; its limits are the image's cells.</summary>
    private static Plot ImagePlot(string title, int rows, int cols)
    {
        var plot = NewPlot();
        plot.Axes.Title.Label.Text = title;
        plot.Axes.Title.Label.FontSize = PanelTitleSize;
        plot.Axes.Title.Label.Bold = false;
        plot.Axes.Title.Label.ForeColor = new Color(25, 25, 25);
        foreach (var axis in new IAxis[] { plot.Axes.Left, plot.Axes.Right, plot.Axes.Bottom, plot.Axes.Top })
            axis.IsVisible = false;
        plot.HideGrid();
        plot.DataBorder = new LineStyle { Width = 1, Color = new Color(150, 150, 150) };
        plot.Axes.SetLimits(-0.5, cols - 0.5, -0.5, rows - 0.5);
        return plot;
    }

    /// <summary>Fixes the data area to cols·cell × rows·cell pixels under the title, with <paramref name="right"/> pixels
    /// beside it; a title wider than that widens the panel on both sides.</summary>
    private static Panel Place(Plot plot, string title, int rows, int cols, int cell, int right)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(cell);
        int lines = title.Split('\n').Length;
        float titleW;
        using (var font = Font(PanelTitleSize, bold: false))
            titleW = title.Split('\n').Max(l => font.MeasureText(l));
        int dataW = cols * cell, dataH = rows * cell;
        int top = (int)Math.Ceiling(lines * PanelTitleLine) + 8;
        int left = Pad;
        // The title is centred over the data area: it needs half its width on either side of the centre.
        int spare = (int)Math.Ceiling(titleW) + 8 - dataW;
        if (spare > 0)
        {
            left = Math.Max(left, spare / 2 + 2);
            right = Math.Max(right, spare / 2 + 2);
        }
        plot.Layout.Fixed(new PixelPadding(left, right, Pad, top));
        return new Panel(plot, left + dataW + right, top + dataH + Pad) { DataArea = (left, top, dataW, dataH) };
    }

    /// <summary>A number for a label: 3 significant digits, plain between 0.001 and 10⁵, else scientific.</summary>
    public static string Format(double v)
    {
        if (v == 0 || !double.IsFinite(v))
            return v.ToString(CultureInfo.InvariantCulture);
        double a = Math.Abs(v);
        string format = a >= 1e5 || a < 1e-3 ? "0.##E+0" : a >= 100 ? "0" : a >= 10 ? "0.#" : a >= 0.1 ? "0.##" : "G3";
        return v.ToString(format, CultureInfo.InvariantCulture);
    }

    /// <summary>Whether positive values span at least a decade (then a log axis shows them better).</summary>
    public static bool SpansDecades(IEnumerable<double> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        double lo = double.PositiveInfinity, hi = double.NegativeInfinity;
        foreach (double v in values)
        {
            if (!double.IsFinite(v))
                continue;
            if (v <= 0)
                return false;
            lo = Math.Min(lo, v);
            hi = Math.Max(hi, v);
        }
        return hi >= lo && hi / lo >= 10;
    }

    /// <summary>Ticks for an axis that shows log₁₀ of the data between <paramref name="lo"/> and <paramref name="hi"/>
    /// (data units): every 1–9 × 10ᵏ labelled over less than a decade and a half, 1, 2 and 5 over up to three, powers
    /// of ten beyond; the others are minor ticks.</summary>
    public static ScottPlot.TickGenerators.NumericManual LogTicks(double lo, double hi, Func<double, string> label) =>
        new([.. LogTickList(lo, hi, label)]);

    internal static List<Tick> LogTickList(double lo, double hi, Func<double, string> label)
    {
        ArgumentNullException.ThrowIfNull(label);
        var ticks = new List<Tick>();
        double decades = Math.Log10(hi / lo);
        int[] labelled = decades < 1.5 ? [1, 2, 3, 4, 5, 6, 7, 8, 9] : decades <= 3 ? [1, 2, 5] : [1];
        for (int k = (int)Math.Floor(Math.Log10(lo)) - 1; k <= (int)Math.Ceiling(Math.Log10(hi)) + 1; k++)
        {
            for (int m = 1; m <= 9; m++)
            {
                double v = m * Math.Pow(10, k);
                ticks.Add(labelled.Contains(m) ? Tick.Major(Math.Log10(v), label(v)) : Tick.Minor(Math.Log10(v)));
            }
        }
        return ticks;
    }

    /// <summary>A new ScottPlot plot in the figures' font (a plot takes the default font when it is made).</summary>
    internal static Plot NewPlot()
    {
        UseFonts();
        return new Plot();
    }

    /// <summary>The look shared by the line and scatter plots: title, axis labels and font sizes.</summary>
    internal static void Style(Plot plot, string title, string xLabel, string yLabel)
    {
        plot.Axes.Title.Label.Text = title;
        plot.Axes.Title.Label.FontSize = 14;
        plot.Axes.Bottom.Label.Text = xLabel;
        plot.Axes.Left.Label.Text = yLabel;
        plot.Axes.Bottom.Label.FontSize = 12.5f;
        plot.Axes.Left.Label.FontSize = 12.5f;
        plot.Axes.Bottom.Label.Bold = false;
        plot.Axes.Left.Label.Bold = false;
        plot.Axes.Bottom.TickLabelStyle.FontSize = 11;
        plot.Axes.Left.TickLabelStyle.FontSize = 11;
        plot.Grid.MajorLineColor = new Color(0, 0, 0, 28);
    }
}
