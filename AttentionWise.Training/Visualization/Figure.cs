namespace AttentionWise.Training.Visualization;

/// <summary>One panel of a figure: a titled heat map with its own colour bar (range = the panel's min/max,
/// symmetric around 0 for the diverging map), a colour image, or a titled note where there is nothing to show.</summary>
public sealed class Panel
{
    private Panel(string title, int rows, int cols)
    {
        Title = title;
        Rows = rows;
        Cols = cols;
    }

    /// <summary>The title; '\n' starts a second line.</summary>
    public string Title { get; }
    public int Rows { get; }
    public int Cols { get; }
    public ColormapKind Map { get; private init; }

    /// <summary>The heat map's values (row-major), or the red plane of a colour image.</summary>
    public float[]? Values { get; private init; }

    /// <summary>Green and blue planes of a colour image.</summary>
    public float[]? Green { get; private init; }
    public float[]? Blue { get; private init; }

    /// <summary>Text drawn in place of an image (e.g. "no batchnorm").</summary>
    public string? Note { get; private init; }

    public bool IsColour => Green is not null;

    /// <summary>Each value is drawn this many times the figure's cell size.</summary>
    public int Zoom { get; private set; } = 1;

    /// <summary>This panel drawn <paramref name="zoom"/> times larger.</summary>
    public Panel Zoomed(int zoom)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(zoom);
        Zoom = zoom;
        return this;
    }

    /// <summary>NaN values are gaps between tiles (drawn light grey) rather than errors (magenta).</summary>
    public bool GapsAreNaN { get; private init; }

    /// <summary>A heat map of <paramref name="values"/> (<paramref name="rows"/>×<paramref name="cols"/>).</summary>
    public static Panel Heat(string title, float[] values, int rows, int cols, ColormapKind map, bool gapsAreNaN = false) =>
        new(title, rows, cols) { Values = values, Map = map, GapsAreNaN = gapsAreNaN };

    /// <summary>A colour image from three planes, scaled together to their joint min/max.</summary>
    public static Panel Colour(string title, float[] red, float[] green, float[] blue, int rows, int cols) =>
        new(title, rows, cols) { Values = red, Green = green, Blue = blue };

    /// <summary>A grey box of the image's size with a note instead of values.</summary>
    public static Panel Empty(string title, string note, int rows, int cols) => new(title, rows, cols) { Note = note };

    /// <summary>The range the colours span: min/max of the finite values (symmetric for the diverging map).</summary>
    public (float Lo, float Hi) Range()
    {
        float lo = float.PositiveInfinity, hi = float.NegativeInfinity;
        foreach (var plane in new[] { Values, Green, Blue })
        {
            if (plane is null)
                continue;
            foreach (float v in plane)
            {
                if (!float.IsFinite(v))
                    continue;
                lo = Math.Min(lo, v);
                hi = Math.Max(hi, v);
            }
        }
        if (lo > hi)
            return (0, 0);
        if (Map == ColormapKind.Diverging && !IsColour)
        {
            float m = Math.Max(Math.Abs(lo), Math.Abs(hi));
            return (-m, m);
        }
        return (lo, hi);
    }
}

/// <summary>Lays panels out on a grid under a title, each with its title above and its colour bar to the right.</summary>
public static class Figure
{
    private const int Margin = 16;
    private const int Gap = 18;
    private const int BarGap = 4;
    private const int BarWidth = 10;
    private const int TitleScale = 2;
    private const int LabelScale = 1;

    /// <summary>Slots are at least this many title characters wide.</summary>
    private const int MinSlotChars = 16;

    private static readonly (byte R, byte G, byte B) TextColour = (20, 20, 20);
    private static readonly (byte R, byte G, byte B) Grey = (225, 225, 225);

    /// <summary>Draws <paramref name="panels"/> row by row, <paramref name="columns"/> per row (null entries leave a
    /// slot empty), every image cell <paramref name="cell"/> pixels wide.</summary>
    public static Canvas Grid(string title, IReadOnlyList<string> subtitles, IReadOnlyList<Panel?> panels, int columns, int cell)
    {
        ArgumentNullException.ThrowIfNull(panels);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(columns);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(cell);
        var real = panels.OfType<Panel>().ToList();
        if (real.Count == 0)
            throw new ArgumentException("A figure needs at least one panel.", nameof(panels));
        int rows = (panels.Count + columns - 1) / columns;
        int barLabel = BitmapFont.Advance * LabelScale * 8;
        int lineH = (BitmapFont.GlyphHeight + 3) * TitleScale;
        // Each column is as wide as its widest panel, each row as high as its highest.
        var colW = new int[columns];
        var rowH = new int[rows];
        var rowLines = new int[rows];
        for (int i = 0; i < panels.Count; i++)
        {
            if (panels[i] is not { } p)
                continue;
            int c = i % columns, r = i / columns;
            colW[c] = Math.Max(colW[c], Math.Max(p.Cols * cell * p.Zoom + BarGap + BarWidth + 3 + barLabel, MinSlotChars * BitmapFont.Advance * TitleScale));
            rowLines[r] = Math.Max(rowLines[r], p.Title.Split('\n').Length);
            rowH[r] = Math.Max(rowH[r], p.Rows * cell * p.Zoom);
        }
        var colX = new int[columns];
        var rowY = new int[rows];
        int headH = (BitmapFont.GlyphHeight + 4) * TitleScale + subtitles.Count * (BitmapFont.GlyphHeight + 4) * LabelScale * 2 + 10;
        for (int c = 1; c < columns; c++)
            colX[c] = colX[c - 1] + colW[c - 1] + Gap;
        rowY[0] = Margin + headH;
        for (int r = 1; r < rows; r++)
            rowY[r] = rowY[r - 1] + rowLines[r - 1] * lineH + 4 + rowH[r - 1] + Gap;

        int width = Math.Max(2 * Margin + colX[^1] + colW[^1],
            2 * Margin + Math.Max(BitmapFont.Measure(title) * TitleScale, subtitles.Count == 0 ? 0 : subtitles.Max(BitmapFont.Measure) * LabelScale * 2));
        int height = rowY[^1] + rowLines[^1] * lineH + 4 + rowH[^1] + Margin;
        var canvas = new Canvas(width, height);

        canvas.Text(Margin, Margin, title, TitleScale, TextColour);
        int y0 = Margin + (BitmapFont.GlyphHeight + 4) * TitleScale;
        foreach (var s in subtitles)
        {
            canvas.Text(Margin, y0, s, LabelScale * 2, (70, 70, 70));
            y0 += (BitmapFont.GlyphHeight + 4) * LabelScale * 2;
        }

        for (int i = 0; i < panels.Count; i++)
        {
            if (panels[i] is not { } p)
                continue;
            int x = Margin + colX[i % columns];
            int y = rowY[i / columns];
            int slotW = colW[i % columns];
            int titleLines = rowLines[i / columns];
            int cellSize = cell * p.Zoom;
            var lines = p.Title.Split('\n');
            for (int l = 0; l < lines.Length; l++)
            {
                int scale = BitmapFont.Measure(lines[l]) * TitleScale <= slotW ? TitleScale : 1;
                canvas.Text(x, y + l * lineH + (scale == 1 ? 3 : 0), Fit(lines[l], slotW / scale), scale, TextColour);
            }
            int iy = y + titleLines * lineH + 4;
            int w = p.Cols * cellSize, h = p.Rows * cellSize;
            if (p.Note is not null)
            {
                canvas.Fill(x, iy, w, h, Grey);
                var words = p.Note.Split(' ');
                int ty = iy + 6;
                string current = "";
                foreach (var word in words)
                {
                    string next = current.Length == 0 ? word : current + " " + word;
                    if (BitmapFont.Measure(next) > w - 8 && current.Length > 0)
                    {
                        canvas.Text(x + 4, ty, current, 1, (90, 90, 90));
                        ty += BitmapFont.GlyphHeight + 3;
                        next = word;
                    }
                    current = next;
                }
                canvas.Text(x + 4, ty, current, 1, (90, 90, 90));
                canvas.Frame(x - 1, iy - 1, w + 2, h + 2, (160, 160, 160));
                continue;
            }
            var (lo, hi) = p.Range();
            if (p.IsColour)
                canvas.RgbImage(x, iy, p.Values!, p.Green!, p.Blue!, p.Rows, p.Cols, cellSize, lo, hi);
            else
                canvas.Heatmap(x, iy, p.Values!, p.Rows, p.Cols, cellSize, p.Map, lo, hi);
            if (p.GapsAreNaN)
            {
                for (int k = 0; k < p.Rows * p.Cols; k++)
                {
                    if (float.IsNaN(p.Values![k]))
                        canvas.Fill(x + k % p.Cols * cellSize, iy + k / p.Cols * cellSize, cellSize, cellSize, Grey);
                }
            }
            canvas.Frame(x - 1, iy - 1, w + 2, h + 2, (160, 160, 160));
            if (!p.IsColour)
                canvas.ColorBar(x + w + BarGap, iy, BarWidth, h, p.Map, lo, hi, LabelScale);
            else
                canvas.Text(x + w + BarGap, iy, "RGB", LabelScale, (90, 90, 90));
        }
        return canvas;
    }

    /// <summary>Cuts text that does not fit into <paramref name="pixels"/> (at scale 1) and marks the cut.</summary>
    private static string Fit(string text, int pixels)
    {
        if (BitmapFont.Measure(text) <= pixels)
            return text;
        int chars = Math.Max(1, (pixels + 1) / BitmapFont.Advance - 2);
        return text[..Math.Min(chars, text.Length)] + "..";
    }
}
