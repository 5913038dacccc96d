using ScottPlot;
using SkiaSharp;

namespace AttentionWise.Tool.Visualization;

/// <summary>The file formats figures are written in.</summary>
internal enum FigureFormat
{
    Png,
    Svg,
}

/// <summary>One panel of a figure: a ScottPlot plot drawn in a box of <see cref="Width"/>×<see cref="Height"/> pixels.</summary>
internal sealed class Panel
{
    public Panel(Plot plot, int width, int height)
    {
        ArgumentNullException.ThrowIfNull(plot);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        Plot = plot;
        Width = width;
        Height = height;
    }

    public Plot Plot { get; }
    public int Width { get; }
    public int Height { get; }

    /// <summary>For an image panel: where its data area lies inside the panel, in pixels (each value a square).</summary>
    public (int X, int Y, int Width, int Height)? DataArea { get; init; }
}

/// <summary>An entry of a figure's legend: a short line with a dot (or the dot alone) in the series' colour, then its name.</summary>
internal sealed record LegendEntry(string Label, Color Colour, bool Line = true);

/// <summary>
/// A multi-panel figure: a title, lines of explanation and an optional legend above a grid of ScottPlot panels, and
/// notes under it. Each grid column is as wide as its widest panel, each row as high as its highest. The text outside
/// the panels is drawn with SkiaSharp in ScottPlot's font; the panels by ScottPlot itself.
/// </summary>
internal sealed class Figure
{
    private const int Margin = 14;
    private const int Gap = 10;
    private const float TitleSize = 18;
    private const float TextSize = 13;
    private const int MinWidth = 520;

    private readonly IReadOnlyList<Panel?> _panels;
    private readonly int _columns;
    private readonly int[] _colX;
    private readonly int[] _rowY;
    private readonly int[] _rowH;
    private readonly List<(string Text, float Size, bool Bold, SKColor Colour, float Y)> _header = [];
    private readonly List<(string Text, float Y)> _footer = [];
    private readonly IReadOnlyList<LegendEntry> _legend;
    private float _legendY;

    /// <summary>Lays out <paramref name="panels"/> row by row, <paramref name="columns"/> per row; a null entry leaves
    /// its slot empty.</summary>
    public Figure(string title, IReadOnlyList<string> subtitles, IReadOnlyList<Panel?> panels, int columns,
        IReadOnlyList<LegendEntry>? legend = null, IReadOnlyList<string>? notes = null)
    {
        ArgumentNullException.ThrowIfNull(title);
        ArgumentNullException.ThrowIfNull(subtitles);
        ArgumentNullException.ThrowIfNull(panels);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(columns);
        if (!panels.Any(p => p is not null))
            throw new ArgumentException("A figure needs at least one panel.", nameof(panels));
        _panels = panels;
        _columns = Math.Min(columns, panels.Count);
        _legend = legend ?? [];
        Charts.UseFonts();

        int rows = (panels.Count + _columns - 1) / _columns;
        var colW = new int[_columns];
        var rowH = _rowH = new int[rows];
        for (int i = 0; i < panels.Count; i++)
        {
            if (panels[i] is not { } p)
                continue;
            colW[i % _columns] = Math.Max(colW[i % _columns], p.Width);
            rowH[i / _columns] = Math.Max(rowH[i / _columns], p.Height);
        }
        int gridW = colW.Sum() + Gap * (_columns - 1);
        Width = Math.Max(gridW + 2 * Margin, MinWidth);
        int textW = Width - 2 * Margin;

        float y = Margin;
        foreach (var line in Wrap(title, TitleSize, bold: true, textW))
        {
            y += TitleSize * 1.25f;
            _header.Add((line, TitleSize, true, new SKColor(20, 20, 20), y));
        }
        y += 4;
        foreach (var s in subtitles)
        {
            foreach (var line in Wrap(s, TextSize, bold: false, textW))
            {
                y += TextSize * 1.35f;
                _header.Add((line, TextSize, false, new SKColor(70, 70, 70), y));
            }
        }
        if (_legend.Count > 0)
        {
            y += 6;
            _legendY = y + TextSize * 1.35f;
            y = _legendY + LegendRows(textW) * TextSize * 1.6f - TextSize * 1.6f;
        }
        y += 10;

        // The grid, centred when the header is wider than it.
        int x0 = Margin + Math.Max(0, (textW - gridW) / 2);
        _colX = new int[_columns];
        _rowY = new int[rows];
        for (int c = 0; c < _columns; c++)
            _colX[c] = c == 0 ? x0 : _colX[c - 1] + colW[c - 1] + Gap;
        for (int r = 0; r < rows; r++)
            _rowY[r] = r == 0 ? (int)Math.Ceiling(y) : _rowY[r - 1] + rowH[r - 1] + Gap;
        float bottom = _rowY[^1] + rowH[^1];

        foreach (var note in notes ?? [])
        {
            foreach (var line in Wrap(note, TextSize, bold: false, textW))
            {
                bottom += TextSize * 1.35f;
                _footer.Add((line, bottom));
            }
        }
        Height = (int)Math.Ceiling(bottom) + Margin;
    }

    public int Width { get; }
    public int Height { get; }

    /// <summary>Where panel <paramref name="index"/> is drawn, in figure pixels (left, top, width, height): at the left
    /// of its column and the bottom of its row, so that panels whose titles differ in height still line up.</summary>
    public (int X, int Y, int Width, int Height) PanelBox(int index)
    {
        var p = _panels[index] ?? throw new ArgumentException($"Slot {index} of the figure is empty.", nameof(index));
        int row = index / _columns;
        return (_colX[index % _columns], _rowY[row] + _rowH[row] - p.Height, p.Width, p.Height);
    }

    /// <summary>Writes the figure as PNG or SVG (to a temporary file first, then renamed, so that a figure is either
    /// whole or absent); creates the directory.</summary>
    public void Save(string path, FigureFormat format)
    {
        ArgumentNullException.ThrowIfNull(path);
        string? dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null)
            Directory.CreateDirectory(dir);
        string temp = path + ".tmp";
        try
        {
            if (format == FigureFormat.Png)
                File.WriteAllBytes(temp, ToPng());
            else
                File.WriteAllBytes(temp, ToSvg());
            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp))
                File.Delete(temp);
        }
    }

    public byte[] ToPng()
    {
        using var surface = SKSurface.Create(new SKImageInfo(Width, Height, SKColorType.Rgba8888, SKAlphaType.Premul))
            ?? throw new InvalidOperationException($"SkiaSharp could not make a {Width}×{Height} surface.");
        Draw(surface.Canvas);
        using var image = surface.Snapshot();
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }

    public byte[] ToSvg()
    {
        using var stream = new MemoryStream();
        using (var managed = new SKManagedWStream(stream))
        using (var canvas = SKSvgCanvas.Create(SKRect.Create(Width, Height), managed))
            Draw(canvas);
        return stream.ToArray();
    }

    private void Draw(SKCanvas canvas)
    {
        canvas.Clear(SKColors.White);
        using var paint = new SKPaint { IsAntialias = true };
        foreach (var (text, size, bold, colour, y) in _header)
        {
            using var font = Charts.Font(size, bold);
            paint.Color = colour;
            canvas.DrawText(text, Margin, y, SKTextAlign.Left, font, paint);
        }
        DrawLegend(canvas, paint);
        for (int i = 0; i < _panels.Count; i++)
        {
            if (_panels[i] is not { } p)
                continue;
            var (x, y, w, h) = PanelBox(i);
            // ScottPlot clears the whole canvas before it draws: the clip keeps that to the panel's box.
            canvas.Save();
            canvas.ClipRect(SKRect.Create(x, y, w, h));
            p.Plot.Render(canvas, new PixelRect(new Pixel(x, y), new PixelSize(w, h)));
            canvas.Restore();
        }
        using var noteFont = Charts.Font(TextSize, bold: false);
        paint.Color = new SKColor(70, 70, 70);
        foreach (var (text, y) in _footer)
            canvas.DrawText(text, Margin, y, SKTextAlign.Left, noteFont, paint);
    }

    private const float LegendSwatch = 26;

    private int LegendRows(int textW)
    {
        if (_legend.Count == 0)
            return 0;
        using var font = Charts.Font(TextSize, bold: false);
        int rows = 1;
        float x = 0;
        foreach (var e in _legend)
        {
            float w = LegendSwatch + 6 + font.MeasureText(e.Label) + 22;
            if (x > 0 && x + w > textW)
            {
                rows++;
                x = 0;
            }
            x += w;
        }
        return rows;
    }

    private void DrawLegend(SKCanvas canvas, SKPaint paint)
    {
        if (_legend.Count == 0)
            return;
        using var font = Charts.Font(TextSize, bold: false);
        float x = 0, y = _legendY;
        float textW = Width - 2 * Margin;
        foreach (var e in _legend)
        {
            float w = LegendSwatch + 6 + font.MeasureText(e.Label) + 22;
            if (x > 0 && x + w > textW)
            {
                x = 0;
                y += TextSize * 1.6f;
            }
            var colour = new SKColor(e.Colour.R, e.Colour.G, e.Colour.B, e.Colour.A);
            using var line = new SKPaint { IsAntialias = true, Color = colour, StrokeWidth = 2.5f, Style = SKPaintStyle.Stroke };
            float mid = y - TextSize * 0.35f;
            if (e.Line)
                canvas.DrawLine(Margin + x, mid, Margin + x + LegendSwatch, mid, line);
            line.Style = SKPaintStyle.Fill;
            canvas.DrawCircle(Margin + x + LegendSwatch / 2, mid, e.Line ? 3.5f : 6f, line);
            paint.Color = new SKColor(30, 30, 30);
            canvas.DrawText(e.Label, Margin + x + LegendSwatch + 6, y, SKTextAlign.Left, font, paint);
            x += w;
        }
    }

    /// <summary>Breaks <paramref name="text"/> into lines no wider than <paramref name="width"/> pixels, at spaces.</summary>
    private static List<string> Wrap(string text, float size, bool bold, int width)
    {
        using var font = Charts.Font(size, bold);
        var lines = new List<string>();
        foreach (var paragraph in text.Split('\n'))
        {
            string current = "";
            foreach (var word in paragraph.Split(' '))
            {
                string next = current.Length == 0 ? word : current + " " + word;
                if (current.Length > 0 && font.MeasureText(next) > width)
                {
                    lines.Add(current);
                    next = word;
                }
                current = next;
            }
            lines.Add(current);
        }
        return lines;
    }
}
